"""The same attacks against real members on loopback, asyncio and thread drivers (issue 13).

Each attack runs against a fresh cluster of 3 members (``Config.lan()``); the target is the
first.  Attacks: ``snapshot`` (one valid large push-pull, framed with the length prefix, just
under the target's ``exchange_limit``), ``withhold`` (64 connections each announce a frame of
``max_exchange_bytes`` and withhold its last byte), ``slowloris`` (150 silent connections a
second while a 4th member joins through the target), ``flood`` (best-effort user messages from
another member, as fast as possible for 5 s).  Reported: the longest lateness of a 10 ms
``call_later`` heartbeat on the target's loop (asyncio only; the thread driver runs its
protocol in its own thread), peak RSS before/after, the newcomer's join time (slowloris), and
``MemberSuspected`` events about the target seen by its peers (goal 0).  Socket attackers run
in a separate thread with blocking sockets; the asyncio flood runs on the members' loop.

    nice .venv/bin/python benchmarks/bench_attacks.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import resource
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from swimcore import Address, Config, MemberSuspected, State
from swimcore.codec import encode_push_pull
from swimcore.messages import MemberState, PushPull
from swimcore.transports import AsyncioMember, ThreadMember
from swimcore.wire import LengthPrefixed

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
    return build(int(limit * 0.9 / per_row))


def attack_socket(kind: str, target: tuple[str, int], limit: int, stop: threading.Event) -> None:
    """The socket attacks, from their own thread; returns once ``stop`` is set."""
    held: list[socket.socket] = []
    try:
        if kind == "snapshot":
            s = socket.create_connection(target)
            s.sendall(snapshot_frame(limit))
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
    worst = [0.0]
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
    thread = threading.Thread(target=attack_socket, args=(kind, addr, limit, stop), daemon=True)
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
    for m in members:
        await m.close(leave=False)
    return _row(kind, "asyncio", f"{worst[0] * 1000:.0f} ms", before, join, box[0])


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
    before = rss_mib()
    join = "-"
    stop = threading.Event()
    addr = (str(target.address.ip), target.address.port)
    limit = config.max_exchange_bytes if kind == "withhold" else _limit(target)
    thread = threading.Thread(target=attack_socket, args=(kind, addr, limit, stop), daemon=True)
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
    print(f"python {platform.python_version()}, nproc {os.cpu_count()}, load {os.getloadavg()}")
    rows = []
    for kind in ATTACKS:
        rows.append(asyncio.run(run_asyncio(kind)))
        rows.append(run_threaded(kind))
    head = list(rows[0])
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row[h] for h in head) + " |")


if __name__ == "__main__":
    main()
