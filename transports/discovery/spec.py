"""Build a store from one line of text, as ``swimcore run --store`` takes it.

==============================================  =============================================
``static:10.0.0.1:7946,10.0.0.2:7946``          :class:`StaticStore`
``file:/var/run/swimcore/join``                 :class:`FileStore`
``dns:swim.default.svc.cluster.local:7946``     :class:`DnsStore`, A/AAAA records + the port
``srv:_swim._udp.swim.default.svc.cluster.local``  :class:`DnsStore`, SRV records
``http://kv:8080/v1/{prefix}/{group}``          :class:`HttpStore` (GET and PUT)
``hosts:swim-0.swim:7946,swim-1.swim:7946``     :class:`HostStore`, resolved at each lookup
==============================================  =============================================

A DNS spec may end with ``@ip:port`` to ask that name server (``dns:name:7946@127.0.0.1:5353``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from swimcore.errors import AddressError, ConfigError
from swimcore.transports.discovery.dns_store import DnsStore
from swimcore.transports.discovery.file import FileStore
from swimcore.transports.discovery.hosts import HostStore
from swimcore.transports.discovery.http_store import HttpStore
from swimcore.transports.discovery.loop import DiscoveryStore
from swimcore.transports.discovery.static import StaticStore


def store_from_spec(
    spec: str,
    *,
    group: str,
    prefix: str | None = None,
    put_url: str | None = None,
    put_method: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 2.0,
) -> DiscoveryStore:
    """The store ``spec`` names.

    ``prefix``, ``put_url``, ``put_method`` and ``headers`` are an http(s) store's (left out:
    :class:`HttpStore`'s defaults); ``timeout`` is also a DNS store's.  Raises
    :class:`~swimcore.ConfigError` listing the accepted forms when ``spec`` names no store, and
    naming the options another kind of store would ignore.
    """
    kind, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise ConfigError(_usage(spec))
    http_only = {"prefix": prefix, "put_url": put_url, "put_method": put_method, "headers": headers}
    if kind not in ("http", "https"):
        ignored = [name for name, value in http_only.items() if value is not None]
        if ignored:
            raise ConfigError(
                f"{', '.join(ignored)}: only an http(s) store uses "
                f"{'it' if len(ignored) == 1 else 'them'}, not a {kind}: store"
            )
    if kind == "static":
        return StaticStore([part for part in rest.split(",") if part.strip()])
    if kind == "file":
        return FileStore(rest)
    if kind == "hosts":
        return HostStore([part for part in rest.split(",") if part.strip()])
    if kind in ("dns", "srv"):
        target, _, nameserver = rest.partition("@")
        if kind == "srv":
            return DnsStore(target, srv=True, nameserver=nameserver or None, timeout=timeout)
        name, sep, port = target.rpartition(":")
        if not sep or not port.isdigit():
            raise AddressError(f"dns: needs NAME:PORT, got {target!r}")
        return DnsStore(name, int(port), nameserver=nameserver or None, timeout=timeout)
    if kind in ("http", "https"):
        given: dict[str, Any] = {k: v for k, v in http_only.items() if v is not None}
        return HttpStore(spec, group=group, timeout=timeout, **given)
    raise ConfigError(_usage(spec))


def _usage(spec: str) -> str:
    return (
        f"unknown store {spec!r}: use static:ADDR,ADDR  hosts:HOST:PORT,...  file:PATH  "
        "dns:NAME:PORT[@NS]  "
        "srv:NAME[@NS]  or an http(s):// URL template with {prefix} and {group}"
    )
