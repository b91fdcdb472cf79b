"""The TCP fallback probe on every driver, on loopback: a member reachable over TCP only.

:class:`TcpOnlyMember` is a core whose exchanges are served over TCP at its address while no
UDP socket is bound there, as a member behind a firewall that drops UDP looks from outside:
every ping sent to it is lost.  A driver's member joins it (the join is an exchange, so it
works) and then probes it every 0.4 s: each probe fails over UDP and must be saved by the
fallback exchange, so the member is never suspected.  With the switch off, the same member is
suspected at once: the check that the first result is the fallback's doing.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

import anyio
import pytest
from support.configs import fast
from support.matrix import DRIVERS, Driver
from support.poll import eventually

from swimcore import Address, Config, Node
from swimcore.transports.exchange import MessageAssembler
from swimcore.transports.sockets import free_port

#: Protocol periods the TCP-only member is watched for.
PERIODS = 15
#: The loopback timings, with a protocol period long enough that a fallback exchange on a
#: loaded two-core machine has 0.3 s to come back after the probe timeout.
TIMING: dict[str, Any] = {"probe_interval": 0.4, "probe_timeout": 0.1}


class TcpOnlyMember:
    """A core that answers exchanges over TCP at its address and has no UDP socket there."""

    def __init__(self, config: Config, name: str = "tcp-only") -> None:
        self.port = free_port()
        self.node = Node(config, Address("127.0.0.1", self.port), name=name, seed=7)
        self.node.start(time.monotonic())
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.1)
        self._closed = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> Address:
        return self.node.address

    def counters(self) -> dict[str, int]:
        with self._lock:
            return self.node.counters()

    def close(self) -> None:
        self._closed = True
        self._thread.join(timeout=5)
        self._server.close()

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn, contextlib.suppress(OSError):
                conn.settimeout(2.0)
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        message = MessageAssembler(self.node.wire.stream, self.node.exchange_limit)
        while (chunk := conn.recv(65536)) and (request := message.feed(chunk)) is None:
            pass
        if not chunk:
            return
        assert request is not None  # the loop ends on a whole request or on end of stream
        with self._lock:
            reply, _ = self.node.handle_exchange(request, time.monotonic())
        if reply:
            conn.sendall(self.node.wire.stream.encode(reply))


async def _watch(driver: Driver, config: Config, fallback: bool) -> dict[str, Any]:
    target = TcpOnlyMember(config)
    try:
        async with driver.member(config, seeds=[target.address], leave_on_exit=False) as member:
            await eventually(
                lambda: member.member(target.node.name) is not None,
                "the member never joined the TCP-only one",
            )
            if not fallback:
                await eventually(
                    lambda: member.counters().get("suspicions", 0) > 0,
                    "with the fallback off, a member without UDP was never suspected",
                )
                return dict(member.counters())
            await anyio.sleep(PERIODS * config.probe_interval)
            info = member.member(target.node.name)
            counters = dict(member.counters())
            assert info is not None and info.state.name == "ALIVE", info
            assert counters.get("suspicions", 0) == 0, counters
            assert counters.get("tcp_fallback_acked", 0) >= PERIODS // 4, counters
            assert target.counters().get("stream_pings_answered", 0) >= PERIODS // 4
            return counters
    finally:
        target.close()


@pytest.mark.parametrize("driver", DRIVERS, ids=[d.id for d in DRIVERS])
def test_a_member_reachable_over_tcp_only_stays_alive(driver: Driver) -> None:
    driver.run(lambda d: _watch(d, fast(**TIMING), fallback=True))


@pytest.mark.parametrize("wire", ["memberlist", "memberlist+lzw"])
def test_a_member_reachable_over_tcp_only_stays_alive_on_memberlists_wire(wire: str) -> None:
    DRIVERS[0].run(lambda d: _watch(d, fast(wire, **TIMING), fallback=True))


def test_with_the_switch_off_a_member_reachable_over_tcp_only_is_suspected() -> None:
    config = fast(tcp_fallback_probe=False, **TIMING)
    counters = anyio.run(_watch, DRIVERS[0], config, False)
    assert counters.get("tcp_fallback_probes", 0) == 0
