"""Join addresses from DNS: A/AAAA records of a name plus a port, or SRV records.

A Kubernetes headless service answers its name with the IPs of its ready pods (A/AAAA) and
``_port._proto.service`` with SRV records; either gives every node the others' addresses.
Queries go through dnspython (``pip install 'swimcore[discovery]'``), to the system's resolvers
or to ``nameserver``; without dnspython, plain A/AAAA lookups fall back to ``getaddrinfo``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from typing import Any

from swimcore import Address, ConfigError
from swimcore.transports.sockets import as_address

try:
    import dns.exception
    import dns.resolver

    HAVE_DNSPYTHON = True
except ImportError:  # pragma: no cover - dnspython is in the discovery and dev extras
    HAVE_DNSPYTHON = False
from swimcore.transports.discovery._base import DiscoveryError

_FAMILIES = {"any": ("A", "AAAA"), "ipv4": ("A",), "ipv6": ("AAAA",)}


class DnsStore:
    """Addresses from DNS (read-only: ``publish`` does nothing).

    ``DnsStore("swim.default.svc.cluster.local", 7946)`` resolves A and AAAA records and pairs
    each address with ``port``; ``DnsStore("_swim._udp.swim.default.svc.cluster.local",
    srv=True)`` takes targets and ports from SRV records.  ``nameserver`` (``"ip:port"``)
    queries that server instead of the system's; ``family`` is ``"any"``, ``"ipv4"`` or
    ``"ipv6"``.  Answers are sorted, so every node sees the same list.
    """

    def __init__(
        self,
        name: str,
        port: int | None = None,
        *,
        srv: bool = False,
        nameserver: Address | str | None = None,
        family: str = "any",
        timeout: float = 2.0,
    ) -> None:
        if not srv and (port is None or not 0 < port < 65536):
            raise ConfigError("an A/AAAA lookup needs the port the members listen on")
        if family not in _FAMILIES:
            raise ConfigError(f"family must be one of {sorted(_FAMILIES)}, got {family!r}")
        self.name = name
        self.port = port
        self.srv = srv
        self.nameserver = None if nameserver is None else as_address(nameserver)
        self.family = family
        self.timeout = timeout

    def lookup(self) -> list[Address]:
        if self.srv:
            return self._srv()
        assert self.port is not None
        return sorted(
            {Address(ip, self.port) for ip in self._ips(self.name)},
            key=Address.leader_key,
        )

    def publish(self, address: Address) -> None:
        """DNS is managed elsewhere (by Kubernetes, for example): nothing to write."""

    # ------------------------------------------------------------------------- queries

    def _resolver(self) -> Any:
        if not HAVE_DNSPYTHON:
            raise DiscoveryError(
                "SRV lookups and custom name servers need dnspython: "
                "pip install 'swimcore[discovery]'"
            )
        try:
            resolver = dns.resolver.Resolver(configure=self.nameserver is None)
        except dns.resolver.NoResolverConfiguration as exc:
            raise DiscoveryError(f"no DNS resolver configured: {exc}") from exc
        if self.nameserver is not None:
            resolver.nameservers = [str(self.nameserver.ip)]
            resolver.port = self.nameserver.port
        resolver.lifetime = self.timeout
        resolver.timeout = self.timeout
        return resolver

    def _query(self, resolver: Any, name: str, kind: str) -> Sequence[Any]:
        try:
            return list(resolver.resolve(name, kind, search=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as exc:
            raise DiscoveryError(f"DNS {kind} lookup of {name} failed: {exc}") from exc

    def _ips(self, name: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        try:
            resolver = self._resolver()
        except DiscoveryError:
            if self.nameserver is not None:
                raise
            return self._getaddrinfo(name)
        ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        for kind in _FAMILIES[self.family]:
            ips += [ipaddress.ip_address(r.address) for r in self._query(resolver, name, kind)]
        return ips

    def _getaddrinfo(self, name: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        family = {"any": 0, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}[self.family]
        try:
            infos = socket.getaddrinfo(name, self.port, family, socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                return []
            raise DiscoveryError(f"lookup of {name} failed: {exc}") from exc
        return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]

    def _srv(self) -> list[Address]:
        resolver = self._resolver()
        records = sorted(
            self._query(resolver, self.name, "SRV"),
            key=lambda r: (r.priority, -r.weight, str(r.target), r.port),
        )
        found: list[Address] = []
        for record in records:
            target = str(record.target).rstrip(".") or self.name
            for ip in self._ips(target):
                address = Address(ip, int(record.port))
                if address not in found:
                    found.append(address)
        return found

    def __repr__(self) -> str:
        kind = "SRV" if self.srv else f"A/AAAA port {self.port}"
        return f"DnsStore({self.name!r}, {kind})"
