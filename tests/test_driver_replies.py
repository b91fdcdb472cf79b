"""Building a large reply does not hold a member's datagrams, on every driver.

A member answers a push-pull with its whole table.  On memberlist's compressed wire a table of
40,000 members is 2.8 MB to compress in pure Python, about a second (two before the compressor
was streamed) built in one go: the driver's loop was held that long, and every ping with it.
The node now hands the reply over to build a slice per step (:class:`swimcore.Outgoing`), and
each driver builds it a step per turn of its loop, answering datagrams in between, and starts
the exchange's timeout once it is built.
"""

from __future__ import annotations

import random
import socket
import time

import anyio
import anyio.to_thread
import pytest
from support.configs import fast
from support.matrix import Driver
from support.pinger import Pinger, longest_waits
from support.poll import eventually

from swimcore import Address, Config
from swimcore.messages import DirectMessage, MemberState, PushPull, State, StreamPing
from swimcore.transports.exchange import MessageAssembler
from swimcore.wire import Wire
from swimcore.wire.loading import for_node

#: Members the member learns, then sends back in one reply.
ROWS = 40_000
#: The Lan preset's probe timeout: no datagram may wait that long behind the reply.
BOUND = 0.5


def _rows() -> tuple[MemberState, ...]:
    return tuple(
        MemberState(
            f"m{i:06d}", Address(f"127.2.{i >> 8 & 255}.{i & 255}", 2000 + i), 1, State.ALIVE, b""
        )
        for i in range(ROWS)
    )


def _exchange(
    wire: Wire, label: str, to: tuple[str, int], rows: tuple[MemberState, ...]
) -> tuple[float, float, bytes]:
    """Send a push-pull of ``rows`` and read the whole reply: (sent, replied, reply)."""
    payload = wire.stream.encode(wire.seal(wire.encode_push_pull(PushPull(label, False, rows))))
    message = MessageAssembler(wire.stream, 64 * 1024 * 1024)
    with socket.create_connection(to, timeout=60) as conn:
        began = time.monotonic()
        conn.sendall(payload)
        while True:
            chunk = conn.recv(65536)
            reply = message.feed(chunk) if chunk else message.end()
            if reply is not None:
                return began, time.monotonic(), reply


@pytest.mark.parametrize("wire", ["memberlist+lzw", "native"])
def test_a_large_reply_does_not_hold_datagrams(driver: Driver, wire: str) -> None:
    # (The native wire builds the same table 20-40 times faster: there the test checks that
    # the stepped build is whole and prompt, as everywhere, more than it tests the stepping.)
    config: Config = fast(wire)

    longest: list[float] = []

    async def story(driver: Driver) -> None:
        # An exchange's timeout shorter than the reply takes to build: it times the peer and
        # the network, and a member that timed its own work out never answered at all.
        member = driver.member(config, name="b", leave_on_exit=False, exchange_timeout=BOUND)
        async with member as b:
            wire = for_node(config, "client", Address("127.0.0.1", 1), None, random.Random(0))
            to = (str(b.address.ip), b.address.port)
            # Its table first: a push-pull of ROWS live members, merged a slice at a time.
            await anyio.to_thread.run_sync(_exchange, wire, config.label, to, _rows())
            # Set-up, not the test: merging 40,000 compressed rows took over 15 s on two
            # loaded cores (load 8-9), so the bound is generous.
            await eventually(
                lambda: b.counters().get("members", 0) > ROWS,
                lambda: f"{b.counters().get('members')} members known",
                timeout=60,
            )
            pinger = Pinger(config, "b", b.address)
            pinger.start()
            # The pinger runs and the member answers it before the reply is asked for: a
            # native reply takes tens of milliseconds, a few of the pinger's 10 ms intervals.
            await eventually(lambda: bool(pinger.acked), "the member's first ack", timeout=10)
            began, ended, reply = await anyio.to_thread.run_sync(
                _exchange, wire, config.label, to, ()
            )
            await anyio.sleep(BOUND)  # the acks of the last pings sent during the reply
            pinger.stop()
            rows = wire.open_exchange(wire.open(reply) or b"")
            assert not isinstance(rows, DirectMessage | StreamPing)
            assert rows.count > ROWS, "the reply is the whole table"
            waits = pinger.waits(began, ended, unanswered=BOUND)
            assert waits, (
                f"no ping was waiting while the member built its reply ({ended - began:.3f} s)"
            )
            longest.append(max(waits))

    waits = longest_waits(lambda: driver.run(story), longest, BOUND)
    assert waits[-1] < BOUND, (
        f"{driver.id} {wire}: pings waited up to {waits} s while the member built its reply"
        " (each run)"
    )
