"""Garbage-collection pauses with hundreds of asyncio members in one process.

Each mode runs in a fresh process: N members (``AsyncioMember``, ``Config.lan()``, loopback),
started one after the other and joined through the first, in batches of 50 that converge before
the next batch starts; then an idle window.  Every collection is timed through ``gc.callbacks``
(its generation and its length), from the first member's start to the end of the window, and
reported for the build-up and the window apart, beside what peers see of the pauses: false
suspicions (nothing crashes, so every suspicion is false) and the loop's lateness.  Memory:
the process's RSS at the window's end, per member over the RSS before the first member, and
per extra member against the previous size of the same mode in the same round (``--nodes
100,200`` gives the cost of members 101 to 200).

Modes (the collector's settings in the member's process):

* ``off``: ``MemberOptions(gc_freeze=False)``: CPython's defaults, as before issue 15;
* ``freeze``: the default, ``gc_freeze=True``: each member's start collects once and freezes
  what is alive (``swimcore.transports.gc_tuning.settle``);
* ``young``: no freeze, the young-generation threshold raised to 7,000 (from 700);
* ``freeze+young``: both.

    .venv/bin/python benchmarks/bench_gc_pauses.py --nodes 300 --window 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODES = ("off", "freeze", "young", "freeze+young")


class Pauses:
    """Every collection's (generation, seconds), through ``gc.callbacks``."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, float]] = []
        self._started = 0.0
        gc.callbacks.append(self._watch)

    def _watch(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.rows.append((info["generation"], time.perf_counter() - self._started))

    def close(self) -> None:
        gc.callbacks.remove(self._watch)

    def summary(self, rows: list[tuple[int, float]], seconds: float) -> dict[str, Any]:
        lengths = sorted(length for _, length in rows)
        full = [length for generation, length in rows if generation == 2]
        return {
            "collections": len(rows),
            "full": len(full),
            "max_ms": lengths[-1] * 1000 if lengths else 0.0,
            "p99_ms": lengths[int(len(lengths) * 0.99) - 1] * 1000 if lengths else 0.0,
            "full_max_ms": max(full, default=0.0) * 1000,
            "gc_pct": sum(lengths) / seconds * 100 if seconds > 0 else 0.0,
        }


async def _run(mode: str, nodes: int, settle: float, window: float) -> dict[str, Any]:
    from swimcore import Config, MemberSuspected  # noqa: PLC0415
    from swimcore.transports.asyncio import AsyncioMember  # noqa: PLC0415

    if "young" in mode:
        gc.set_threshold(7000, *gc.get_threshold()[1:])
    freeze = "freeze" in mode
    config = Config.lan()
    rss_before_kib = _rss_kib()
    pauses = Pauses()
    built_at = time.monotonic()
    suspicions = 0

    def count(event: object) -> None:
        nonlocal suspicions
        if isinstance(event, MemberSuspected):
            suspicions += 1

    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(
            AsyncioMember(config, seed=0, leave_on_exit=False, gc_freeze=freeze)
        )
        members = [first]
        for i in range(1, nodes):
            members.append(
                await stack.enter_async_context(
                    AsyncioMember(
                        config,
                        seeds=[first.address],
                        seed=i,
                        leave_on_exit=False,
                        gc_freeze=freeze,
                    )
                )
            )
            if i % 50 == 0 or i == nodes - 1:
                ends = time.monotonic() + 60
                while time.monotonic() < ends and not all(
                    m.counters()["live_members"] == i + 1 for m in members
                ):
                    await asyncio.sleep(0.2)
        converged = all(m.counters()["live_members"] == nodes for m in members)
        build_seconds = time.monotonic() - built_at
        build_rows = list(pauses.rows)
        await asyncio.sleep(settle)
        for m in members:
            m.on_event(count)
        suspicions = 0
        pauses.rows.clear()
        lags: list[float] = []
        cpu, wall = time.process_time(), time.monotonic()
        ends = wall + window
        while time.monotonic() < ends:
            asked = time.monotonic()
            await asyncio.sleep(0.1)
            lags.append(time.monotonic() - asked - 0.1)
        cpu_pct = (time.process_time() - cpu) / (time.monotonic() - wall) * 100
        window_rows = list(pauses.rows)
        pauses.close()
        rss_kib = _rss_kib()
        # The longest pause the collector could take now: one full collection (frozen objects
        # are skipped, as by the collections the thresholds start).
        started = time.perf_counter()
        gc.collect()
        full_now_ms = (time.perf_counter() - started) * 1000
        window_suspicions = suspicions
        for m in members:
            await m.close(leave=False)
    return {
        "mode": mode,
        "nodes": nodes,
        "converged": converged,
        "build_s": build_seconds,
        "build": pauses.summary(build_rows, build_seconds),
        "window": pauses.summary(window_rows, window),
        "false_suspicions": window_suspicions,
        "lag_max_ms": max(lags) * 1000,
        "lag_p99_ms": sorted(lags)[int(len(lags) * 0.99) - 1] * 1000,
        "cpu_pct": cpu_pct,
        "rss_kib": rss_kib,
        "rss_before_kib": rss_before_kib,
        "full_now_ms": full_now_ms,
        "frozen": gc.get_freeze_count(),
        "threshold": gc.get_threshold(),
    }


def _rss_kib() -> int:
    """This process's resident set (``VmRSS``), in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def child(mode: str, nodes: int, settle: float, window: float) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(json.dumps(asyncio.run(_run(mode, nodes, settle, window))), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="300", help="members in one process, comma-separated")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, int(args.nodes), args.settle, args.window)
        return
    print(
        f"Python {platform.python_version()}, nproc {os.cpu_count()}, load average "
        f"{os.getloadavg()[0]:.1f}, Config.lan(), {args.window:g} s window after "
        f"{args.settle:g} s settle",
        flush=True,
    )
    print(
        "| members | mode | build-up: full GCs, longest pause | window: collections, full, "
        "longest, p99, GC time | a full collection after the window | false suspicions | "
        "loop lag max | CPU | RSS at the window's end | KiB per member | per extra member |"
    )
    print("|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    rows: dict[tuple[int, str], list[float]] = {}
    for _ in range(args.rounds):
        # mode -> (members, RSS in KiB) of the previous size in this round, for the margin.
        previous: dict[str, tuple[int, int]] = {}
        for nodes in (int(n) for n in args.nodes.split(",")):
            for mode in args.modes.split(","):
                command = [
                    sys.executable,
                    __file__,
                    "--child",
                    mode,
                    "--nodes",
                    str(nodes),
                    "--settle",
                    str(args.settle),
                    "--window",
                    str(args.window),
                ]
                done = subprocess.run(
                    command, capture_output=True, text=True, check=False, timeout=1800
                )
                lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
                if done.returncode != 0 or not lines:
                    print(f"| {nodes} | {mode} | failed: {done.stderr[-300:]!r} |", flush=True)
                    continue
                r = json.loads(lines[-1])
                b, w = r["build"], r["window"]
                rows.setdefault((nodes, mode), []).append(w["max_ms"])
                flag = "" if r["converged"] else " (not converged)"
                per_member = (r["rss_kib"] - r["rss_before_kib"]) / nodes
                margin = "-"
                if mode in previous and previous[mode][0] < nodes:
                    fewer, rss = previous[mode]
                    margin = f"{(r['rss_kib'] - rss) / (nodes - fewer):.0f}"
                previous[mode] = (nodes, r["rss_kib"])
                print(
                    f"| {nodes} | {mode}{flag} | {b['full']}, {b['full_max_ms']:.0f} ms | "
                    f"{w['collections']}, {w['full']}, {w['max_ms']:.0f} ms, "
                    f"{w['p99_ms']:.1f} ms, {w['gc_pct']:.2f} % | {r['full_now_ms']:.0f} ms | "
                    f"{r['false_suspicions']} | "
                    f"{r['lag_max_ms']:.0f} ms | {r['cpu_pct']:.0f} % | "
                    f"{r['rss_kib'] / 1024:.1f} MiB | {per_member:.0f} | {margin} |",
                    flush=True,
                )
    if args.rounds > 1:
        for (nodes, mode), maxima in rows.items():
            print(
                f"{nodes} {mode}: longest pause in the window, median of rounds "
                f"{statistics.median(maxima):.0f} ms"
            )
    print(f"load average afterwards {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
