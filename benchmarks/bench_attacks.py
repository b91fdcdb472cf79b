"""The same attacks against real members on loopback, asyncio and thread drivers (issue 13).

Each attack runs against a fresh cluster of 3 members (``Config.lan()``); the target is the
first.  Attacks: ``snapshot`` (one valid large push-pull, framed with the length prefix, just
under the target's ``exchange_limit``), ``withhold`` (64 connections each announce a frame of
``max_exchange_bytes`` and withhold its last byte), ``slowloris`` (150 silent connections a
second while a 4th member joins through the target), ``flood`` (best-effort user messages from
another member, as fast as possible for 5 s).  Reported: the longest lateness of a 10 ms
``call_later`` heartbeat on the target's loop (asyncio only; the thread driver runs its
protocol in its own thread), peak RSS before/after, the newcomer's join time (slowloris), and
``MemberSuspected`` events about the target seen by its peers (goal 0).  Beside the asyncio
stall, the longest garbage collection seen meanwhile (any thread's: a collection holds them
all), since a full collection walks the whole heap whichever call it lands in.  Socket attackers run
in a separate thread with blocking sockets; the asyncio flood runs on the members' loop.

    nice .venv/bin/python benchmarks/bench_attacks.py [--attacks snapshot] [--baseline TREE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import platform
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from swimcore import Address, Config, MemberSuspected, State
from swimcore.messages import MemberState, PushPull
from swimcore.transports import AsyncioMember, ThreadMember
from swimcore.wire import LengthPrefixed
from swimcore.wire.native import codec
from swimcore.wire.native.codec import encode_push_pull

ATTACKS = ("snapshot", "withhold", "slowloris", "flood")
SETTLE = 1.5  # seconds after the cluster forms before an attack starts
AFTER = 2.0  # seconds watched after an attack ends


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def snapshot_frame(limit: int) -> bytes:
    """A valid push-pull of as many 100-byte-metadata rows as fit in 90% of ``limit``."""

    def build(rows: int) -> bytes:
        members = tuple(
            MemberState(
                f"ghost-{i:07d}",
                Address(f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", 7946),
                1,
                State.DEAD,
                b"m" * 100,
            )
            for i in range(rows)
        )
        return LengthPrefixed().encode(encode_push_pull(PushPull("", False, members)))

    per_row = len(build(1000)) / 1000
    frame = build(int(limit * 0.9 / per_row))
    # A real attacker is another process: do not leave its rows in this process's encoder
    # cache, where they would only lengthen the target's garbage collections.
    codec._ROW_CACHE.clear()
    return frame


def attack_socket(
    kind: str, target: tuple[str, int], limit: int, stop: threading.Event, frame: bytes = b""
) -> None:
    """The socket attacks, from their own thread; returns once ``stop`` is set."""
    held: list[socket.socket] = []
    try:
        if kind == "snapshot":
            s = socket.create_connection(target)
            s.sendall(frame)
            held.append(s)
        elif kind == "withhold":
            frame = LengthPrefixed().encode(b"\0" * limit)[:-1]
            for _ in range(64):
                s = socket.create_connection(target)
                held.append(s)
                threading.Thread(target=_send_quietly, args=(s, frame), daemon=True).start()
        elif kind == "slowloris":
            while not stop.is_set():
                with contextlib.suppress(OSError):
                    held.append(socket.create_connection(target, timeout=1))
                time.sleep(1 / 150)
        stop.wait()
    finally:
        for s in held:
            s.close()


def _send_quietly(s: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        s.sendall(data)


def suspicion_counter(target: str) -> tuple[list[int], Callable[[Any], None]]:
    box = [0]

    def on_event(event: Any) -> None:
        if isinstance(event, MemberSuspected) and event.member.name == target:
            box[0] += 1

    return box, on_event


async def run_asyncio(kind: str) -> dict[str, str]:
    config = Config.lan()
    loop = asyncio.get_running_loop()
    members = [AsyncioMember(config, name="t0", leave_on_exit=False)]
    await members[0].start()
    for i in (1, 2):
        m = AsyncioMember(config, name=f"p{i}", seeds=[members[0].address], leave_on_exit=False)
        await m.start()
        members.append(m)
    target = members[0]
    box, on_event = suspicion_counter("t0")
    for m in members[1:]:
        m.on_event(on_event)
    await asyncio.sleep(SETTLE)
    # The attacker's frame is built before the watch starts (a real attacker is elsewhere).
    frame = snapshot_frame(_limit(target)) if kind == "snapshot" else b""
    worst = [0.0]
    pauses = GcPauses()
    beating = [True]

    def beat(due: float) -> None:
        worst[0] = max(worst[0], loop.time() - due)
        if beating[0]:
            loop.call_later(0.01, beat, loop.time() + 0.01)

    loop.call_later(0.01, beat, loop.time() + 0.01)
    before = rss_mib()
    join = "-"
    stop = threading.Event()
    addr = (str(target.address.ip), target.address.port)
    limit = config.max_exchange_bytes if kind == "withhold" else _limit(target)
    thread = threading.Thread(
        target=attack_socket, args=(kind, addr, limit, stop, frame), daemon=True
    )
    if kind != "flood":
        thread.start()
    if kind == "slowloris":
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        newcomer = AsyncioMember(config, name="n3", seeds=[target.address], leave_on_exit=False)
        await newcomer.start()
        while len([x for x in newcomer.members() if x.state == State.ALIVE]) < 4:
            if time.monotonic() - t0 > 15:
                break
            await asyncio.sleep(0.01)
        join = f"{time.monotonic() - t0:.2f} s"
        members.append(newcomer)
    elif kind == "flood":
        end, sent = time.monotonic() + 5, 0
        while time.monotonic() < end:
            await members[1].send("t0", b"x" * 512)
            sent += 1
            if sent % 16 == 0:
                await asyncio.sleep(0)
        join = f"{sent} sent"
    else:
        await asyncio.sleep(5)
    stop.set()
    await asyncio.sleep(AFTER)
    beating[0] = False
    pauses.stop()
    for m in members:
        await m.close(leave=False)
    stall = f"{worst[0] * 1000:.0f} ms (GC pause {pauses.longest * 1000:.0f} ms)"
    return _row(kind, "asyncio", stall, before, join, box[0])


def _limit(member: Any) -> int:
    core = member._require_core()
    return int(core.node.exchange_limit)


def run_threaded(kind: str) -> dict[str, str]:
    config = Config.lan()
    members = [ThreadMember(config, name="t0", leave_on_exit=False)]
    members[0].start()
    for i in (1, 2):
        m = ThreadMember(config, name=f"p{i}", seeds=[members[0].address], leave_on_exit=False)
        m.start()
        members.append(m)
    target = members[0]
    box, on_event = suspicion_counter("t0")
    for m in members[1:]:
        m.on_event(on_event)
    time.sleep(SETTLE)
    frame = snapshot_frame(_limit(target)) if kind == "snapshot" else b""
    before = rss_mib()
    join = "-"
    stop = threading.Event()
    addr = (str(target.address.ip), target.address.port)
    limit = config.max_exchange_bytes if kind == "withhold" else _limit(target)
    thread = threading.Thread(
        target=attack_socket, args=(kind, addr, limit, stop, frame), daemon=True
    )
    if kind != "flood":
        thread.start()
    if kind == "slowloris":
        time.sleep(0.5)
        t0 = time.monotonic()
        newcomer = ThreadMember(config, name="n3", seeds=[target.address], leave_on_exit=False)
        newcomer.start()
        while len([x for x in newcomer.members() if x.state == State.ALIVE]) < 4:
            if time.monotonic() - t0 > 15:
                break
            time.sleep(0.01)
        join = f"{time.monotonic() - t0:.2f} s"
        members.append(newcomer)
    elif kind == "flood":
        end, sent = time.monotonic() + 5, 0
        while time.monotonic() < end:
            members[1].send("t0", b"x" * 512)
            sent += 1
        join = f"{sent} sent"
    else:
        time.sleep(5)
    stop.set()
    time.sleep(AFTER)
    for m in members:
        m.close(leave=False)
    return _row(kind, "thread", "n/a (own thread)", before, join, box[0])


class GcPauses:
    """The longest garbage collection while it watches (a collection holds every thread)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._started)

    def stop(self) -> None:
        gc.callbacks.remove(self._callback)


def _row(kind: str, driver: str, stall: str, before: float, join: str, sus: int) -> dict[str, str]:
    return {
        "attack": kind,
        "driver": driver,
        "longest loop stall": stall,
        "peak RSS before→after": f"{before:.0f}→{rss_mib():.0f} MiB",
        "join / sent": join,
        "suspicions of target": str(sus),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attacks", default=",".join(ATTACKS), help="comma-separated subset")
    parser.add_argument("--drivers", default="asyncio,thread", help="comma-separated subset")
    parser.add_argument(
        "--baseline", help="first run the same in a subprocess importing swimcore from this tree"
    )
    parser.add_argument("--no-header", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.no_header:
        print(f"python {platform.python_version()}, nproc {os.cpu_count()}, load {os.getloadavg()}")
    if args.baseline:
        command = [sys.executable, __file__, "--attacks", args.attacks, "--drivers", args.drivers]
        env = dict(os.environ, PYTHONPATH=args.baseline)
        print(f"baseline ({args.baseline}):", flush=True)
        subprocess.run([*command, "--no-header"], env=env, check=True)
        print("this tree:", flush=True)
    drivers = args.drivers.split(",")
    rows = []
    for kind in args.attacks.split(","):
        if "asyncio" in drivers:
            rows.append(asyncio.run(run_asyncio(kind)))
        if "thread" in drivers:
            rows.append(run_threaded(kind))
    head = list(rows[0])
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row[h] for h in head) + " |")
    print(f"load {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
