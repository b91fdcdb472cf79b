"""Reading a UDP socket: every driver reads what waits in one go, not one datagram a wake-up.

A process with hundreds of members wakes each of them rarely; a member that read one datagram
per wake-up fell behind its socket until the kernel dropped what no longer fit (seen with
1,000 asyncio members in one process: thousands of receive-buffer drops a minute).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support.configs import FAST

from swimcore import counter_names as cn
from swimcore.transports.asyncio import AsyncioMember
from swimcore.transports.counters import Counters
from swimcore.transports.sockets import drain


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with receiver, sender:
        yield receiver, sender


def _send(sender: socket.socket, receiver: socket.socket, count: int) -> None:
    for i in range(count):
        sender.sendto(i.to_bytes(2, "big"), receiver.getsockname())
    time.sleep(0.05)  # loopback delivers at once; leave room for a slow machine


def test_drain_reads_everything_waiting_in_order(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    receiver, sender = pair
    _send(sender, receiver, 50)
    got: list[tuple[bytes, tuple[Any, ...]]] = []
    counters = Counters()
    drain(receiver, lambda data, source: got.append((data, source)), counters)
    assert [int.from_bytes(data, "big") for data, _ in got] == list(range(50))
    assert {source for _, source in got} == {("127.0.0.1", sender.getsockname()[1])}
    assert counters.snapshot().get(f"driver.{cn.DRAIN_CAPPED}", 0) == 0


def test_drain_stops_at_its_limit_counts_it_and_leaves_the_rest(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    receiver, sender = pair
    _send(sender, receiver, 30)
    got: list[bytes] = []
    counters = Counters()
    drain(receiver, lambda data, source: got.append(data), counters, limit=20)
    assert len(got) == 20
    assert counters.snapshot()[f"driver.{cn.DRAIN_CAPPED}"] == 1
    drain(receiver, lambda data, source: got.append(data), counters, limit=20)
    assert [int.from_bytes(data, "big") for data in got] == list(range(30))


def test_a_socket_error_is_counted_and_the_next_call_reads_on() -> None:
    class Failing:
        def __init__(self) -> None:
            self.calls = 0

        def recvfrom(self, size: int) -> tuple[bytes, tuple[str, int]]:
            self.calls += 1
            if self.calls == 1:
                raise ConnectionRefusedError("an earlier send found no listener")
            if self.calls == 2:
                return b"x", ("127.0.0.1", 9)
            raise BlockingIOError

    got: list[bytes] = []
    counters = Counters()
    failing = Failing()
    drain(failing, lambda data, source: got.append(data), counters)  # type: ignore[arg-type]
    assert got == []
    assert counters.snapshot()["driver.socket_errors"] == 1
    drain(failing, lambda data, source: got.append(data), counters)  # type: ignore[arg-type]
    assert got == [b"x"]
    assert counters.snapshot()["driver.socket_errors"] == 1


def test_the_asyncio_member_reads_a_waiting_burst_in_one_wake_up() -> None:
    async def scenario() -> None:
        async with AsyncioMember(FAST, seed=1) as member:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                target = (str(member.address.ip), member.address.port)
                before = member.counters().get(cn.DROPPED_MALFORMED, 0)
                for _ in range(100):
                    sender.sendto(b"\xff not a swimcore packet", target)
                time.sleep(0.2)  # the loop is held: all of them wait in the socket
                # One pass of the loop: this task's step, then the socket's reader (which
                # asyncio calls once, for one datagram); the second sleep resumes after both.
                await asyncio.sleep(0)
                await asyncio.sleep(0)
                assert member.counters().get(cn.DROPPED_MALFORMED, 0) - before == 100

    asyncio.run(scenario())
