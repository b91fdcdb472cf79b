"""How often an idle member wakes up, and what it costs: one member per process, per driver.

K processes (default 3) each run one member on loopback (``Config.lan()``), all joined
through the first.  Once the group has converged and settled, each process counts over a window
of idle protocol traffic:

* wake-ups: returns from the driver's ``select`` (the asyncio loop's and the thread driver's
  selector are both ``selectors.DefaultSelector``): timers and arriving datagrams alike;
* ticks: calls of ``Node.tick`` (the driver woke for a timer);
* CPU: the process's CPU time over the window (``time.process_time``: nanoseconds, not
  /proc's 10 ms ticks), in percent of one core;
* garbage collections: how many, and their time in percent of one core (``gc.callbacks``).

``--compare TREE`` runs the same members from another source tree (for example a worktree of
the previous commit) in the same invocation, alternating with this one, so the rows compare
as ratios under the same machine load; ``--memberlist PEER`` adds a group of Go memberlist
processes (the interop tests' peer, ``tests/memberlist_peer``), measured from outside.

    .venv/bin/python benchmarks/bench_wakeups.py --window 30
    .venv/bin/python benchmarks/bench_wakeups.py --compare /work/wt/idle-base --rounds 2
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from swimcore.transports.sockets import free_port  # noqa: E402 (after the path is set)

# ------------------------------------------------------------------------- one member (child)


class Meter:
    """Counts selector returns and node ticks (patched in before any member starts)."""

    def __init__(self) -> None:
        import selectors  # noqa: PLC0415

        from swimcore import Node  # noqa: PLC0415

        self.selects = 0
        self.ticks = 0
        self.collections = 0
        self.gc_seconds = 0.0
        meter = self
        started = [0.0]

        def watch(phase: str, _info: dict[str, int]) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                meter.collections += 1
                meter.gc_seconds += time.perf_counter() - started[0]

        gc.callbacks.append(watch)
        selector = selectors.DefaultSelector
        select = selector.select
        tick = Node.tick

        def counted_select(self: Any, timeout: float | None = None) -> Any:
            ready = select(self, timeout)
            meter.selects += 1
            return ready

        def counted_tick(self: Node, now: float) -> Any:
            meter.ticks += 1
            return tick(self, now)

        selector.select = counted_select  # type: ignore[method-assign]
        Node.tick = counted_tick  # type: ignore[method-assign]

    def sample(self) -> tuple[int, int, float, float, int, float]:
        return (
            self.selects,
            self.ticks,
            time.process_time(),
            time.monotonic(),
            self.collections,
            self.gc_seconds,
        )


def _result(
    meter: Meter, before: tuple[int, int, float, float, int, float], converged: bool
) -> dict[str, Any]:
    after = meter.sample()
    wall = after[3] - before[3]
    return {
        "wakeups_per_s": (after[0] - before[0]) / wall,
        "ticks_per_s": (after[1] - before[1]) / wall,
        "cpu_pct": (after[2] - before[2]) / wall * 100,
        "gc_per_min": (after[4] - before[4]) / wall * 60,
        "gc_pct": (after[5] - before[5]) / wall * 100,
        "converged": converged,
    }


def child_asyncio(args: argparse.Namespace) -> dict[str, Any]:
    import asyncio  # noqa: PLC0415

    from swimcore import Config  # noqa: PLC0415

    meter = Meter()
    from swimcore.transports.asyncio import AsyncioMember  # noqa: PLC0415

    async def main() -> dict[str, Any]:
        seeds = [] if args.port == args.seed_port else [f"127.0.0.1:{args.seed_port}"]
        async with AsyncioMember(
            Config.lan(), f"127.0.0.1:{args.port}", seeds=seeds, leave_on_exit=False
        ) as member:
            end = time.monotonic() + 60
            while len(member.members()) < args.members and time.monotonic() < end:
                await asyncio.sleep(0.2)
            converged = len(member.members()) == args.members
            await asyncio.sleep(args.settle)
            before = meter.sample()
            await asyncio.sleep(args.window)
            return _result(meter, before, converged)

    return asyncio.run(main())


def child_thread(args: argparse.Namespace) -> dict[str, Any]:
    from swimcore import Config  # noqa: PLC0415

    meter = Meter()
    from swimcore.transports.thread.member import ThreadMember  # noqa: PLC0415

    seeds = [] if args.port == args.seed_port else [f"127.0.0.1:{args.seed_port}"]
    member = ThreadMember(Config.lan(), f"127.0.0.1:{args.port}", seeds=seeds, leave_on_exit=False)
    member.start()
    try:
        end = time.monotonic() + 60
        while len(member.members()) < args.members and time.monotonic() < end:
            time.sleep(0.2)
        converged = len(member.members()) == args.members
        time.sleep(args.settle)
        before = meter.sample()
        time.sleep(args.window)
        return _result(meter, before, converged)
    finally:
        member.close(leave=False)


def child_floor(args: argparse.Namespace) -> dict[str, Any]:
    """No member: an asyncio loop that wakes ``--rate`` times a second and does nothing (what
    a wake-up costs this machine by itself)."""
    import asyncio  # noqa: PLC0415

    meter = Meter()

    async def main() -> dict[str, Any]:
        loop = asyncio.get_running_loop()

        def wake() -> None:
            loop.call_later(1 / args.rate, wake)

        wake()
        await asyncio.sleep(args.settle)
        before = meter.sample()
        await asyncio.sleep(args.window)
        return _result(meter, before, True)

    return asyncio.run(main())


# ----------------------------------------------------------------------------------- parent


def group(tree: Path, driver: str, members: int, settle: float, window: float) -> dict[str, Any]:
    """One group of ``members`` processes from source tree ``tree``; the mean over members."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    ports = [free_port() for _ in range(members)]
    procs = []
    for port in ports:
        command = [
            sys.executable,
            __file__,
            "--child",
            driver,
            "--port",
            str(port),
            "--seed-port",
            str(ports[0]),
            "--members",
            str(members),
            "--settle",
            str(settle),
            "--window",
            str(window),
        ]
        procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True))
        time.sleep(0.3)  # the seed first
    rows = []
    for proc in procs:
        out, _ = proc.communicate(timeout=window + settle + 120)
        if proc.returncode != 0:
            raise RuntimeError(f"a {driver} member from {tree} failed")
        rows.append(json.loads(out.strip().splitlines()[-1]))
    return {
        "wakeups_per_s": statistics.mean(r["wakeups_per_s"] for r in rows),
        "ticks_per_s": statistics.mean(r["ticks_per_s"] for r in rows),
        "cpu_pct": statistics.mean(r["cpu_pct"] for r in rows),
        "cpu_pct_max": max(r["cpu_pct"] for r in rows),
        "gc_per_min": statistics.mean(r["gc_per_min"] for r in rows),
        "gc_pct": statistics.mean(r["gc_pct"] for r in rows),
        "converged": all(r["converged"] for r in rows),
    }


def _task_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, voluntary context switches) of every thread of ``pid`` so far."""
    cpu, switches = 0.0, 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpu += int((task / "schedstat").read_text().split()[0]) / 1e9
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    switches += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended meanwhile
    return cpu, switches


def memberlist_group(peer: Path, members: int, settle: float, window: float) -> dict[str, Any]:
    """The same group of Go memberlist processes (the test peer, memberlist's LAN timings),
    measured from outside: CPU from /proc's schedstat (nanoseconds, all threads), wake-ups as
    the threads' voluntary context switches (Go's own threads wake too, so a rough count)."""
    ports = [free_port() for _ in range(members)]
    procs = []
    try:
        for i, port in enumerate(ports):
            command = [str(peer), "-name", f"ml{i}", "-port", str(port)]
            if i:
                command += ["-join", f"127.0.0.1:{ports[0]}"]
            procs.append(
                subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            time.sleep(0.3)
        time.sleep(settle + 3)
        before = [_task_stats(p.pid) for p in procs]
        started = time.monotonic()
        time.sleep(window)
        wall = time.monotonic() - started
        after = [_task_stats(p.pid) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    cpu = [(a[0] - b[0]) / wall * 100 for a, b in zip(after, before, strict=True)]
    wakes = [(a[1] - b[1]) / wall for a, b in zip(after, before, strict=True)]
    return {
        "wakeups_per_s": statistics.mean(wakes),
        "cpu_pct": statistics.mean(cpu),
        "cpu_pct_max": max(cpu),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--drivers", default="asyncio,thread")
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--compare", type=Path, help="another source tree, measured alongside")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every row this often")
    parser.add_argument(
        "--memberlist",
        type=Path,
        help="the Go memberlist test peer (tests/memberlist_peer): a group of it "
        "too, measured from outside",
    )
    parser.add_argument(
        "--floor",
        type=float,
        default=0.0,
        metavar="RATE",
        help="also an empty asyncio loop waking RATE times a second",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        children = {"asyncio": child_asyncio, "thread": child_thread, "floor": child_floor}
        child = children[args.child]
        print(json.dumps(child(args)), flush=True)
        return
    trees = [("this tree", ROOT)]
    if args.compare is not None:
        trees.insert(0, (f"{args.compare}", args.compare.resolve()))
    print(
        f"Python {platform.python_version()}, nproc {os.cpu_count()}, load average "
        f"{os.getloadavg()[0]:.1f}, {args.members} members (one per process), Config.lan(), "
        f"{args.window:g} s window after {args.settle:g} s settle",
        flush=True,
    )
    print(
        "| tree | driver | wake-ups/s | ticks/s | CPU % of a core (mean, max) | GCs/min | "
        "GC % of a core |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for _ in range(args.rounds):
        for driver in args.drivers.split(","):
            for label, tree in trees:
                r = group(tree, driver, args.members, args.settle, args.window)
                flag = "" if r["converged"] else " (not converged)"
                print(
                    f"| {label} | {driver}{flag} | {r['wakeups_per_s']:.1f} | "
                    f"{r['ticks_per_s']:.1f} | {r['cpu_pct']:.3f}, {r['cpu_pct_max']:.3f} | "
                    f"{r['gc_per_min']:.1f} | {r['gc_pct']:.4f} |",
                    flush=True,
                )
        if args.floor:
            command = [
                sys.executable,
                __file__,
                "--child",
                "floor",
                "--rate",
                str(args.floor),
                "--settle",
                str(args.settle),
                "--window",
                str(args.window),
            ]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(
                f"| no member: an empty asyncio loop | - | {r['wakeups_per_s']:.1f} | - | "
                f"{r['cpu_pct']:.3f} | - | - |",
                flush=True,
            )
        if args.memberlist is not None:
            r = memberlist_group(args.memberlist, args.members, args.settle, args.window)
            print(
                f"| memberlist (Go) | - | {r['wakeups_per_s']:.1f} (context switches) | - | "
                f"{r['cpu_pct']:.3f}, {r['cpu_pct_max']:.3f} | - | - |",
                flush=True,
            )
    print(f"load average afterwards {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
