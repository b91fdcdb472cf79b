"""A large full-state exchange does not hold a member's datagrams, on every driver and wire.

The node merges a large exchange a slice at a time (one timer per slice), so that datagrams are
handled in between.  Each driver must let them in: a ping sent while a large push-pull is read
and merged is answered within a fraction of the probe timeout, as when nothing is merged (the
anyio driver ran the merge's timers back to back and left every datagram waiting for seconds).
The same holds on the memberlist wire, plain, compressed and encrypted: its push-pull rows are
walked and decoded a slice at a time too (the thread driver read a connection until it was
empty, and so walked every row of a 4 MB push-pull, to find where it ended, in one go).
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

from swimcore import Address, Config, Keyring
from swimcore.messages import MemberState, PushPull, State
from swimcore.wire.loading import for_node

#: Rows of the push-pull: 1.6 MB on the native wire, 4.1 MB on memberlist's.
ROWS = 60_000
#: The Lan preset's probe timeout: no datagram may wait that long behind the merge.
BOUND = 0.5
#: (wire, encrypted) cases.
VARIANTS = {
    "native": ("native", False),
    "memberlist": ("memberlist", False),
    "memberlist+lzw": ("memberlist+lzw", False),
    "memberlist-encrypted": ("memberlist", True),
}


def _rows() -> tuple[MemberState, ...]:
    return tuple(
        MemberState(
            f"m{i:06d}", Address(f"127.1.{i >> 8 & 255}.{i & 255}", 2000 + i), 1, State.DEAD, b""
        )
        for i in range(ROWS)
    )


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_large_exchange_does_not_hold_datagrams(driver: Driver, variant: str) -> None:
    wire_name, encrypted = VARIANTS[variant]
    config: Config = fast(wire_name)
    keyring = Keyring(bytes(range(16))) if encrypted else None

    longest: list[float] = []

    async def story(driver: Driver) -> None:
        async with driver.member(config, name="b", keyring=keyring, leave_on_exit=False) as b:
            pinger = Pinger(config, "b", b.address, keyring)
            wire = for_node(config, "client", Address("127.0.0.1", 1), keyring, random.Random(0))
            target = (str(b.address.ip), b.address.port)
            snapshot = PushPull(config.label, False, _rows())
            payload = wire.stream.encode(wire.seal(wire.encode_push_pull(snapshot)))
            pinger.start()

            def exchange() -> float:
                time.sleep(0.3)
                with socket.create_connection(target, timeout=30) as conn:
                    began = time.monotonic()
                    conn.sendall(payload)
                    assert conn.recv(1)  # the reply
                return began

            def merged() -> int:
                return int(b.counters().get("merge_slices", 0))

            began = await anyio.to_thread.run_sync(exchange)
            # The merge goes on after the reply: ping on until its slices are all merged, and a
            # probe timeout more so that the pings sent during its last slices count too (this
            # was a fixed 2 s, which a loaded machine did not always fill).
            await eventually(lambda: merged() >= ROWS // 512, lambda: f"{merged()} slices merged")
            await anyio.sleep(BOUND)
            ended = time.monotonic()
            pinger.stop()
            waits = pinger.waits(began, ended - BOUND, unanswered=BOUND)
            assert waits, "no ping was sent during the merge"
            longest.append(max(waits))
            # The rows were merged meanwhile, a slice at a time.
            assert merged() >= ROWS // 512

    waits = longest_waits(lambda: driver.run(story), longest, BOUND)
    assert waits[-1] < BOUND, (
        f"{driver.id} {variant}: pings waited up to {waits} s during the merge (each run)"
    )
