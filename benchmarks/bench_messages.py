"""Direct messages on loopback: sequential reliable round trips and best-effort sends per second.

For each driver, two members in one process join; then ``sender.send(receiver, 64 bytes,
reliable=True)`` is awaited back to back for ``--seconds`` (each is one TCP exchange: connect,
request, acknowledgement), then best-effort sends (one datagram each, yielding to the loop
after each) for as long, counting what the receiver got.  The exchange-duration counters give
the mean exchange time as the driver saw it.  Compare rows of one run as ratios: the machine
is shared.

    .venv/bin/python benchmarks/bench_messages.py --seconds 3
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import anyio

from swimcore import Config, MessageReceived
from swimcore.transports import AnyioMember, AsyncioMember, BridgedMember, ThreadMember

CONFIG = Config.local(label="bench", probe_interval=1.0)
PAYLOAD = bytes(64)

DRIVERS: dict[str, tuple[Any, str]] = {
    "asyncio": (AsyncioMember, "asyncio"),
    "anyio (asyncio)": (AnyioMember, "asyncio"),
    "anyio (trio)": (AnyioMember, "trio"),
    "bridged (asyncio)": (BridgedMember, "asyncio"),
}


def counter(events: list[int], reliable: bool) -> Callable[[Any], None]:
    def count(event: Any) -> None:
        if isinstance(event, MessageReceived) and event.reliable is reliable:
            events[0] += 1

    return count


async def run_async(cls: Any, seconds: float) -> tuple[float, float, float, float]:
    async with (
        cls(CONFIG, name="rx", leave_on_exit=False) as rx,
        cls(CONFIG, name="tx", seeds=[rx.address], leave_on_exit=False) as tx,
    ):
        while len(tx.members()) < 2:
            await anyio.sleep(0.01)
        got_reliable, got_best = [0], [0]
        rx.on_event(counter(got_reliable, True))
        rx.on_event(counter(got_best, False))
        before = tx.counters()
        sent = 0
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            await tx.send("rx", PAYLOAD, reliable=True)
            sent += 1
        reliable_rate = sent / seconds
        after = tx.counters()
        count = after["driver.exchange.duration_count"] - before["driver.exchange.duration_count"]
        micros = after["driver.exchange.duration_us"] - before["driver.exchange.duration_us"]
        sent = 0
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            await tx.send("rx", PAYLOAD)
            sent += 1
            # Let the receiver's side of the loop run: asyncio's datagram endpoint reads one
            # datagram per loop iteration, so a burst without yielding overflows the socket.
            await anyio.sleep(0)
        await anyio.sleep(0.5)
        return reliable_rate, micros / max(1, count) / 1000, sent / seconds, got_best[0] / sent


def run_thread(seconds: float) -> tuple[float, float, float, float]:
    with (
        ThreadMember(CONFIG, name="rx", leave_on_exit=False) as rx,
        ThreadMember(CONFIG, name="tx", seeds=[rx.address], leave_on_exit=False) as tx,
    ):
        while len(tx.members()) < 2:
            time.sleep(0.01)
        got_best = [0]
        rx.on_event(counter(got_best, False))
        before = tx.counters()
        sent = 0
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            tx.send("rx", PAYLOAD, reliable=True)
            sent += 1
        reliable_rate = sent / seconds
        after = tx.counters()
        count = after["driver.exchange.duration_count"] - before["driver.exchange.duration_count"]
        micros = after["driver.exchange.duration_us"] - before["driver.exchange.duration_us"]
        sent = 0
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            tx.send("rx", PAYLOAD)
            sent += 1
        time.sleep(0.5)
        return reliable_rate, micros / max(1, count) / 1000, sent / seconds, got_best[0] / sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    rows: list[tuple[str, tuple[float, float, float, float]]] = []
    for name, (cls, backend) in DRIVERS.items():
        rows.append((name, anyio.run(run_async, cls, args.seconds, backend=backend)))
    rows.append(("thread (blocking)", run_thread(args.seconds)))
    base = rows[0][1]
    print(
        "| driver | reliable msgs/s | vs asyncio | mean exchange (ms) "
        "| best-effort sends/s | vs asyncio | received |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (rel, ms, best, ratio) in rows:
        print(
            f"| {name} | {rel:,.0f} | {rel / base[0]:.2f} | {ms:.2f} | {best:,.0f} "
            f"| {best / base[2]:.2f} | {ratio:.0%} |"
        )


if __name__ == "__main__":
    main()
