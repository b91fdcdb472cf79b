"""Idle cost of the thread driver: CPU and resident memory per member, beside the asyncio driver.

Each measurement runs in a fresh process: it notes its resident set size (RSS) after imports,
starts N members on loopback with the default LAN preset (all joining through the first),
waits until they converge and settle, then measures the process's CPU time over a window of
idle protocol traffic (probes, acks, gossip, anti-entropy).  Reported per member:

* CPU: process CPU seconds / wall seconds / N, in percent of one core;
* RSS: (RSS at the end - RSS after imports) / N, in KiB;
* threads: threads the process runs (the thread driver uses one per member, plus a callback
  thread per member that registered a callback; none here).

Drivers: ``thread`` (:class:`ThreadMember`), ``bridge`` (:class:`BridgedMember` in one asyncio
loop, i.e. the thread driver plus the bridge), ``asyncio`` (:class:`AsyncioMember`, for
comparison, when ``transports/asyncio.py`` is there).  All run in one invocation, so compare them
as ratios.

    .venv/bin/python benchmarks/bench_idle_threaded.py --sizes 1,10,50 --window 20
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from swimcore import Config


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(members: list[Any], settle: float, window: float) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of the whole process over ``window``, after ``settle``."""
    time.sleep(settle)
    cpu, wall = time.process_time(), time.monotonic()
    time.sleep(window)
    return time.process_time() - cpu, time.monotonic() - wall


def wait_converged(members: list[Any], timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(len(m.members()) == len(members) for m in members):
            return True
        time.sleep(0.1)
    return False


def child_thread(size: int, settle: float, window: float) -> dict[str, Any]:
    from swimcore.transports.thread.member import ThreadMember  # noqa: PLC0415

    base = rss_kib()
    config = Config.lan()
    members = [ThreadMember(config)]
    members[0].start()
    for _ in range(size - 1):
        member = ThreadMember(config, seeds=[members[0].address])
        member.start()
        members.append(member)
    converged = wait_converged(members)
    cpu, wall = measure(members, settle, window)
    result = {
        "rss": rss_kib() - base,
        "cpu": cpu,
        "wall": wall,
        "converged": converged,
        "threads": threading.active_count(),
    }
    for member in members:
        member.close(leave=False)
    return result


async def _async_members(driver: str, size: int) -> tuple[list[Any], Any]:
    config = Config.lan()
    if driver == "bridge":
        from swimcore.transports.thread.bridge import BridgedMember as Member  # noqa: PLC0415
    else:
        from swimcore.transports.asyncio import AsyncioMember as Member  # type: ignore[assignment]  # noqa: PLC0415
    first = Member(config)
    await first.start()
    members = [first]
    for _ in range(size - 1):
        member = Member(config, seeds=[first.address])
        await member.start()
        members.append(member)
    return members, Member


def child_async(driver: str, size: int, settle: float, window: float) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        base = rss_kib()
        members, _ = await _async_members(driver, size)
        end = time.monotonic() + 60
        while time.monotonic() < end and not all(len(m.members()) == size for m in members):
            await asyncio.sleep(0.1)
        converged = all(len(m.members()) == size for m in members)
        await asyncio.sleep(settle)
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(window)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        result = {
            "rss": rss_kib() - base,
            "cpu": cpu,
            "wall": wall,
            "converged": converged,
            "threads": threading.active_count(),
        }
        for member in members:
            await member.close(leave=False)
        return result

    return asyncio.run(main())


def run_child(driver: str, size: int, settle: float, window: float) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        driver,
        "--sizes",
        str(size),
        "--settle",
        str(settle),
        "--window",
        str(window),
    ]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50", help="members per process, comma-separated")
    parser.add_argument("--window", type=float, default=20.0, help="measured idle seconds")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after convergence")
    parser.add_argument("--drivers", default="thread,bridge,asyncio")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        size = int(args.sizes)
        if args.child == "thread":
            result = child_thread(size, args.settle, args.window)
        else:
            result = child_async(args.child, size, args.settle, args.window)
        print(json.dumps(result))
        return
    drivers = [d for d in args.drivers.split(",") if d]
    if "asyncio" in drivers and importlib.util.find_spec("swimcore.transports.asyncio") is None:
        drivers.remove("asyncio")
    print(
        f"Python {platform.python_version()}, nproc {os.cpu_count()}, "
        f"window {args.window:g} s after {args.settle:g} s settle, Config.lan()"
    )
    print("| driver | members | CPU per member (% of a core) | RSS per member (KiB) | threads |")
    print("|---|---:|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        for driver in drivers:
            r = run_child(driver, size, args.settle, args.window)
            cpu = 100 * r["cpu"] / r["wall"] / size
            flag = "" if r["converged"] else " (not converged)"
            print(
                f"| {driver}{flag} | {size} | {cpu:.3f} | {r['rss'] / size:.0f} | {r['threads']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
