"""A large full-state exchange does not hold a member's datagrams, on every driver.

The node merges a large exchange a slice at a time (one timer per slice), so that datagrams are
handled in between.  Each driver must let them in: a ping sent while 60,000 rows are merged is
answered within a fraction of the probe timeout, as when nothing is merged (the anyio driver
ran the merge's timers back to back and left every datagram waiting for seconds).
"""

from __future__ import annotations

import random
import socket
import threading
import time

import anyio
import anyio.to_thread
from support.configs import FAST
from support.matrix import Driver
from support.poll import eventually

from swimcore import Address
from swimcore.messages import Ack, MemberState, Ping, PushPull, State
from swimcore.wire.loading import for_node

ROWS = 60_000
#: The Lan preset's probe timeout: no datagram may wait that long behind the merge.
BOUND = 0.5


def _rows() -> tuple[MemberState, ...]:
    return tuple(
        MemberState(
            f"m{i:06d}", Address(f"127.1.{i >> 8 & 255}.{i & 255}", 2000 + i), 1, State.DEAD, b""
        )
        for i in range(ROWS)
    )


def test_a_large_exchange_does_not_hold_datagrams(driver: Driver) -> None:
    async def story(driver: Driver) -> None:
        async with driver.member(FAST, name="b", leave_on_exit=False) as b:
            pinger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            pinger.bind(("127.0.0.1", 0))
            pinger.settimeout(0.01)
            here = Address(*pinger.getsockname())
            wire = for_node(FAST, "pinger", here, None, random.Random(0))
            target = (str(b.address.ip), b.address.port)
            sent: dict[int, float] = {}
            acked: dict[int, float] = {}
            stop = threading.Event()

            def ping() -> None:
                seq = 0
                while not stop.is_set():
                    seq += 1
                    data = wire.assemble(
                        wire.header, wire.encode_message(Ping(seq, "b", "pinger")), []
                    )
                    sent[seq] = time.monotonic()
                    pinger.sendto(data, target)
                    try:
                        while True:
                            reply = wire.decode_packet(pinger.recv(65536))
                            if isinstance(reply.message, Ack):
                                acked.setdefault(reply.message.seq, time.monotonic())
                    except (TimeoutError, BlockingIOError):
                        pass

            payload = wire.stream.encode(
                wire.encode_push_pull(PushPull(FAST.label, False, _rows()))
            )
            pinging = threading.Thread(target=ping, daemon=True)
            pinging.start()

            def exchange() -> float:
                time.sleep(0.3)
                with socket.create_connection(target, timeout=30) as conn:
                    began = time.monotonic()
                    conn.sendall(payload)
                    conn.recv(1)
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
            stop.set()
            pinging.join()
            pinger.close()
            during = [seq for seq, at in sent.items() if began <= at <= ended - BOUND]
            waits = [acked.get(seq, ended + BOUND) - sent[seq] for seq in during]
            assert during and max(waits) < BOUND, (
                f"{driver.id}: pings waited up to {max(waits):.2f} s during the merge"
            )
            # The rows were merged meanwhile, a slice at a time.
            assert merged() >= ROWS // 512

    driver.run(story)
