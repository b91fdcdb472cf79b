"""Join addresses given as host names, resolved again at every lookup (memberlist's ``Join``).

A Kubernetes headless service, a name in ``/etc/hosts`` or a round-robin DNS name may stand for
several members and change over time: every lookup asks the system resolver
(``getaddrinfo``, so ``/etc/hosts`` and the search domains count) and returns every address of
every name, so the driver tries them all and a member that moved is found on the next attempt.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

from swimcore import Address, AddressError, ConfigError
from swimcore.transports.discovery._base import DiscoveryError


def split_host_port(text: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT`` or ``[IPv6]:PORT``.

    Raises :class:`~swimcore.AddressError` saying what is wrong.
    """
    host, sep, port_text = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise AddressError(f"expected HOST:PORT with a port within 1..65535, got {text!r}")
    return host, int(port_text)


class HostStore:
    """Resolves ``HOST:PORT`` entries at each :meth:`lookup`; publishing does nothing."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = tuple(split_host_port(entry) for entry in entries)
        if not self.entries:
            raise ConfigError("HostStore needs at least one HOST:PORT")

    def lookup(self) -> list[Address]:
        """Every address of every entry, in the resolver's order, duplicates dropped.

        Raises :class:`DiscoveryError` when no entry resolves (the driver counts and retries).
        """
        found: list[Address] = []
        failures: list[str] = []
        for host, port in self.entries:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            except (OSError, UnicodeError) as exc:
                failures.append(f"{host}: {exc}")
                continue
            for _family, _type, _proto, _name, sockaddr in infos:
                try:
                    address = Address.parse(_join(str(sockaddr[0]), int(sockaddr[1])))
                except AddressError:
                    continue
                if address not in found:
                    found.append(address)
        if not found and failures:
            raise DiscoveryError("cannot resolve " + "; ".join(failures))
        return found

    def publish(self, address: Address) -> None:
        """Nothing to write: the names are given."""

    def __repr__(self) -> str:
        return f"HostStore({[f'{host}:{port}' for host, port in self.entries]})"


def _join(ip: str, port: int) -> str:
    ip = ip.partition("%")[0]  # a scope id (fe80::1%eth0) is not part of an Address
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
