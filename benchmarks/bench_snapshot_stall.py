"""How long one exchange holds a node (issue 13, item 2): the longest single call.

A node receives a valid push-pull snapshot of ``--rows`` members (about 8 MiB at 60,000 rows
of 100-byte metadata) and merges it; we time ``handle_exchange`` and every ``tick`` that
merges the rest, and report the longest call (what holds a driver's loop) and the total.
A second figure frames the same snapshot on memberlist's wire from 4 KiB pieces with the
incremental :class:`FrameReader` against re-parsing the buffer on every piece (the old way).

    .venv/bin/python benchmarks/bench_snapshot_stall.py --rows 60000
"""

from __future__ import annotations

import argparse
import os
import platform
import time

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


def merge_stall(config: Config, data: bytes) -> tuple[float, float, int]:
    node = Node(config, Address("10.255.255.1", 7946))
    node.start(0.0)
    t0 = time.perf_counter()
    node.handle_exchange(data, 1.0)
    longest = time.perf_counter() - t0
    total = longest
    now, calls = 1.0, 1
    while node.counters()["merge_backlog"]:
        now += 0.001
        t = time.perf_counter()
        node.tick(now)
        spent = time.perf_counter() - t
        longest, total, calls = max(longest, spent), total + spent, calls + 1
    return longest, total, calls


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--frame-rows", type=int, default=10_000)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, nproc {os.cpu_count()}, load {os.getloadavg()}")
    for wire in ("native", "memberlist"):
        config = Config.lan(wire=wire)
        data = snapshot(config, args.rows)
        longest, total, calls = merge_stall(config, data)
        print(
            f"{wire:10s} {args.rows} rows, {len(data) / 2**20:.1f} MiB: longest call "
            f"{longest * 1000:.0f} ms, all {calls} calls {total * 1000:.0f} ms"
        )
    data = snapshot(Config.lan(wire="memberlist"), args.frame_rows)
    incremental, reparse = framing(data, 4096)
    print(
        f"framing {len(data) / 2**20:.2f} MiB in 4 KiB pieces: FrameReader {incremental:.3f} s, "
        f"re-parse per piece {reparse:.2f} s"
    )


if __name__ == "__main__":
    main()
