"""Sockets for every driver: bind UDP and TCP on one port, send datagrams, name their senders.

:func:`open_sockets` binds one UDP and one listening TCP socket on the same port number (port 0
picks a free one, retried on conflict); :class:`BindPlan` says where, and what to advertise once
the port is known (:class:`~swimcore.transports.MemberOptions` has validated both).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from swimcore import (
    Address,
)
from swimcore import counter_names as cn
from swimcore._inputs import refuse_single_seed
from swimcore.transports.counters import Counters

#: Receive buffer: larger than any datagram, so oversized ones reach the node and are counted.
RECV_SIZE = 65536
#: Datagrams read in one go before the driver looks at its timers again.
RECV_BATCH = 256
_BIND_ATTEMPTS = 64
#: Entries in each of the two address memos below.
_ADDRESS_MEMO_SIZE = 4096
#: Peers' addresses both ways, shared by every member of the process: a process with hundreds
#: of members talks to the same few hundred peers, so one memo holds one entry per peer rather
#: than one per peer per member.  Each is emptied when full.
_SOURCES: dict[tuple[Any, ...], Address] = {}
_TARGETS: dict[Address, tuple[str, int]] = {}


@attrs.frozen(slots=True)
class BindPlan:
    """Where to bind and what to advertise, checked before any socket is opened."""

    bind: Address
    advertise: Address | None

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if self.bind.ip.version == 6 else socket.AF_INET

    def advertised(self, port: int) -> Address:
        """The address the node advertises once the actual ``port`` is known."""
        if self.advertise is None:
            return Address(self.bind.ip, port)
        if self.advertise.port == 0:
            return Address(self.advertise.ip, port)
        return self.advertise


def as_address(value: Address | str) -> Address:
    """An :class:`Address` from itself or from ``"ip:port"`` text."""
    return value if isinstance(value, Address) else Address.parse(value)


def as_addresses(values: Iterable[Address | str]) -> list[Address]:
    """Addresses from a list of :class:`Address` values or ``"ip:port"`` texts (one address
    alone is refused: a string would be read a character at a time)."""
    refuse_single_seed(values)
    return [as_address(value) for value in values]


def _udp_socket(plan: BindPlan, port: int) -> socket.socket:
    sock = socket.socket(plan.family, socket.SOCK_DGRAM)
    try:
        if plan.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        # Never SO_REUSEPORT: two nodes on one port would silently split its traffic.
        sock.bind((str(plan.bind.ip), port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _tcp_socket(plan: BindPlan, port: int) -> socket.socket:
    sock = socket.socket(plan.family, socket.SOCK_STREAM)
    try:
        if plan.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        # SO_REUSEADDR (not REUSEPORT) only lets a restarted node bind past TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((str(plan.bind.ip), port))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def open_sockets(plan: BindPlan) -> tuple[socket.socket, socket.socket]:
    """One UDP and one listening TCP socket on the same port number, both non-blocking.

    With port 0 the UDP socket picks a free port and TCP takes the same number; if TCP finds it
    taken, both are closed and another port is tried.
    """
    for _ in range(_BIND_ATTEMPTS):
        udp = _udp_socket(plan, plan.bind.port)
        port = int(udp.getsockname()[1])
        try:
            tcp = _tcp_socket(plan, port)
        except OSError as exc:
            udp.close()
            if plan.bind.port == 0 and exc.errno == errno.EADDRINUSE:
                continue
            raise
        return udp, tcp
    raise OSError(errno.EADDRINUSE, f"no port free for both UDP and TCP on {plan.bind.ip}")


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` free for both UDP and TCP right now.

    For harnesses that start members in other processes (the sample node, a memberlist peer),
    which must be told a port before they bind it; a member in this process binds port 0
    instead (:func:`open_sockets` picks the port).  Another process may take the port in
    between, so such a harness retries a start that fails to bind.
    """
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    for _ in range(_BIND_ATTEMPTS):
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(family, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise OSError(errno.EADDRINUSE, f"no port on {host} is free for both UDP and TCP")


def sockaddr(address: Address) -> tuple[str, int]:
    """The ``(host, port)`` pair the socket module takes for ``address`` (memoised for the whole
    process, bounded, as :func:`source_address`)."""
    found = _TARGETS.get(address)
    if found is None:
        if len(_TARGETS) >= _ADDRESS_MEMO_SIZE:
            _TARGETS.clear()
        found = _TARGETS[address] = (str(address.ip), address.port)
    return found


def source_address(source: tuple[Any, ...]) -> Address | None:
    """The :class:`Address` of a datagram's sender, or ``None`` when ``source`` is not an IP
    socket address (memoised for the whole process, bounded)."""
    found = _SOURCES.get(source)
    if found is not None:
        return found
    try:
        ip = ipaddress.ip_address(source[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        found = Address(ip, int(source[1]))
    except (ValueError, IndexError, TypeError):
        return None
    if len(_SOURCES) >= _ADDRESS_MEMO_SIZE:
        _SOURCES.clear()
    _SOURCES[source] = found
    return found


def drain(
    sock: socket.socket,
    receive: Callable[[bytes, tuple[Any, ...]], None],
    counters: Counters,
    limit: int = RECV_BATCH,
) -> None:
    """Read the datagrams waiting on a non-blocking UDP socket, at most ``limit``, and hand each
    to ``receive``.  A socket error is counted and ends the batch (the socket stays readable,
    so the next wake-up reads on; a closed one is not read again); a batch that reaches
    ``limit`` is counted (``drain_capped``), the rest waits for the next call."""
    for _ in range(limit):
        try:
            data, source = sock.recvfrom(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            counters.socket_error(exc, "recv")
            return
        receive(data, source)
    counters.add(cn.DRAIN_CAPPED)


def send_datagram(
    sock: socket.socket, data: bytes, to: tuple[str, int], counters: Counters
) -> None:
    """Send on a non-blocking UDP socket; a full buffer or any socket error is counted only."""
    try:
        sock.sendto(data, to)
    except (BlockingIOError, InterruptedError):
        counters.add(cn.DROPPED_SEND_BUFFER_FULL)
    except OSError as exc:
        counters.socket_error(exc, "send")
