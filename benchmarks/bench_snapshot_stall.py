"""How long one exchange holds a node (issue 13, item 2): the longest single call.

A node receives a valid push-pull snapshot of ``--rows`` members and decodes and merges it;
we time ``handle_exchange`` (which checks the snapshot and reads its first slice) and every
``tick`` that reads the rest, and report the longest call (what holds a driver's loop), the
longest once the garbage collector's pauses inside it are taken out (timed with
``gc.callbacks``: full collections walk the whole heap, whichever call they land in), the
longest in CPU time (``time.thread_time``: what a loaded machine's preemption does not
inflate), the calls over 50 ms, and the totals.  A second figure frames a snapshot on
memberlist's wire from 4 KiB pieces with the incremental :class:`FrameReader` against
re-parsing the buffer on every piece (the old way).

``--baseline PATH`` measures the same in a subprocess importing swimcore from ``PATH`` (a
source tree of an older commit, e.g. ``git archive COMMIT swimcore transports``), and
``--whole`` this tree with each snapshot decoded in one call (merged in slices, as before),
taking turns with this tree, so that the rows of a group see the same load.

    .venv/bin/python benchmarks/bench_snapshot_stall.py --rows 60000 --baseline /tmp/base
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

from swimcore import Address, Config, ExchangeRequest, Node
from swimcore.wire.memberlist import stream


def _addr(i: int) -> Address:
    return Address(f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", 7946)


def snapshot(config: Config, rows: int) -> bytes:
    sender = Node(config, _addr(1), seed=1)
    roster = [(f"member-{i:07d}", _addr(2 + i)) for i in range(rows)]
    sender.start(0.0, roster)
    sender.set_metadata(b"m" * 100, 0.0)
    out = sender.join([_addr(rows + 10)], 0.0)
    return next(a for a in out if isinstance(a, ExchangeRequest)).data


class GcClock:
    """Seconds spent in the garbage collector since the last :meth:`take`."""

    def __init__(self) -> None:
        self.spent = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.spent += time.perf_counter() - self._started

    def take(self) -> float:
        spent, self.spent = self.spent, 0.0
        return spent


def decode_whole(node: Node) -> None:
    """Make ``node`` decode a snapshot in one call (and merge it in slices), as before the rows
    were decoded a slice at a time: the same tree's code, for a like-for-like comparison."""
    from swimcore.ingest import ListRows  # noqa: PLC0415 - only this tree has it
    from swimcore.messages import DirectMessage, StreamPing  # noqa: PLC0415

    wire = node.wire
    real = wire.open_exchange

    def opened(data: bytes) -> Any:
        rows = real(data)
        if isinstance(rows, DirectMessage | StreamPing):
            return rows
        whole = rows.read_all()
        return ListRows(whole.label, whole.join, whole.members)

    wire.open_exchange = opened  # type: ignore[method-assign]


def merge_stall(config: Config, data: bytes, *, whole: bool = False) -> dict[str, float]:
    """Time every call of the node while it decodes and merges ``data``."""
    node = Node(config, Address("10.255.255.1", 7946))
    node.start(0.0)
    if whole:
        decode_whole(node)
    clock = GcClock()
    gc.collect()
    clock.take()
    calls: list[tuple[float, float, float]] = []  # (wall, of which in GC, CPU time)
    t, cpu = time.perf_counter(), time.thread_time()
    node.handle_exchange(data, 1.0)
    calls.append((time.perf_counter() - t, clock.take(), time.thread_time() - cpu))
    now = 1.0
    while node.counters()["merge_backlog"]:
        now += 0.001
        t, cpu = time.perf_counter(), time.thread_time()
        node.tick(now)
        calls.append((time.perf_counter() - t, clock.take(), time.thread_time() - cpu))
    gc.callbacks.remove(clock._callback)
    walls = sorted(wall for wall, _, _ in calls)
    return {
        "longest_ms": 1000 * walls[-1],
        "longest_without_gc_ms": 1000 * max(wall - in_gc for wall, in_gc, _ in calls),
        "longest_cpu_ms": 1000 * max(cpu for _, _, cpu in calls),
        "cpu_ms": 1000 * sum(cpu for _, _, cpu in calls),
        "p50_ms": 1000 * walls[len(walls) // 2],
        "over_50ms": sum(1 for wall in walls if wall > 0.05),
        "gc_ms": 1000 * sum(in_gc for _, in_gc, _ in calls),
        "calls": len(calls),
        "total_ms": 1000 * sum(walls),
        "members": len(node.all_members()),
    }


def measure(wire: str, rows: int, *, whole: bool = False) -> dict[str, float]:
    config = Config.lan(wire=wire)
    data = snapshot(config, rows)
    result = merge_stall(config, data, whole=whole)
    result["mib"] = len(data) / 2**20
    return result


def framing(data: bytes, piece: int) -> tuple[float, float]:
    node = Node(Config.lan(wire="memberlist"), Address("10.255.255.2", 7946))
    t = time.perf_counter()
    reader = node.wire.stream.reader(len(data) + 1)
    for i in range(0, len(data), piece):
        reader.feed(data[i : i + piece])
    incremental = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(piece, len(data) + piece, piece):  # the old way: parse the whole buffer
        stream.read_stream(data[:i], max_size=len(data) + 1)
    reparse = time.perf_counter() - t
    return incremental, reparse


def _line(tree: str, wire: str, rows: int, r: dict[str, float]) -> str:
    return (
        f"| {tree} | {wire} | {rows} ({r['mib']:.1f} MiB) | {r['longest_ms']:.0f} ms "
        f"| {r['longest_without_gc_ms']:.0f} ms | {r['longest_cpu_ms']:.0f} ms "
        f"| {r['p50_ms']:.1f} ms | {r['over_50ms']:.0f} | {r['calls']:.0f} "
        f"| {r['total_ms']:.0f} ms | {r['cpu_ms']:.0f} ms | {r['gc_ms']:.0f} ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--frame-rows", type=int, default=10_000)
    parser.add_argument("--baseline", help="source tree of the version to compare with")
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs per wire")
    parser.add_argument("--wires", default="native,memberlist,memberlist+lzw")
    parser.add_argument(
        "--whole",
        action="store_true",
        help="also run this tree with each snapshot decoded in one call (merged in slices)",
    )
    parser.add_argument("--json", help=argparse.SUPPRESS)  # one measurement, in a subprocess
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.json, args.rows, whole=args.whole)))
        return
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs = [("baseline", args.baseline, False)] if args.baseline else []
    if args.whole:
        runs.append(("this tree, decoded in one call", here, True))
    runs.append(("this tree", here, False))
    print(f"python {platform.python_version()}, nproc {os.cpu_count()}, load {os.getloadavg()}")
    print(
        "| tree | wire | rows | longest call | longest without GC | longest (CPU) | median call "
        "| calls > 50 ms | calls | total | total CPU | in GC |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for wire in args.wires.split(","):
        for _ in range(args.repeat):
            for name, tree, whole in runs:
                env = dict(os.environ, PYTHONPATH=tree)
                command = [sys.executable, __file__, "--rows", str(args.rows), "--json", wire]
                done = subprocess.run(
                    [*command, *(["--whole"] if whole else [])],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                print(_line(name, wire, args.rows, json.loads(done.stdout)), flush=True)
    print(f"load {os.getloadavg()}")
    data = snapshot(Config.lan(wire="memberlist"), args.frame_rows)
    incremental, reparse = framing(data, 4096)
    print(
        f"framing {len(data) / 2**20:.2f} MiB in 4 KiB pieces: FrameReader {incremental:.3f} s, "
        f"re-parse per piece {reparse:.2f} s"
    )


if __name__ == "__main__":
    main()
