"""Idle cost of real members on loopback, and how many one process holds at a 1 s period.

Three measurements, each row in a fresh process:

* one member per process: K ``python -m swimcore run`` processes (the sample node, default LAN
  preset) form a group; CPU time and RSS of each process are read from /proc over a window;
* many members in one process: N members (asyncio driver, or anyio on trio) in one process,
  joined through the first, default LAN preset; CPU per member and RSS growth per member;
* capacity: the same with growing N at the LAN preset's 1 s protocol period; a size "holds"
  when, during the window, no member is suspected (nothing crashed, so every suspicion is a
  false one), the loop's lateness stays under the probe timeout and the process uses less than
  one core.

    .venv/bin/python benchmarks/bench_idle.py                 # everything, ~6 minutes
    .venv/bin/python benchmarks/bench_idle.py --quick         # smaller sizes, short windows
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from swimcore.transports.sockets import free_port  # noqa: E402 (after the path is set)

_TICK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- /proc readers


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# ------------------------------------------------------------------- one member per process


def one_per_process(count: int, settle: float, window: float) -> dict[str, Any]:
    """K sample-node processes; /proc's CPU ticks are 10 ms, so use a window of 30 s or more."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    baseline = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import swimcore.cli.run, swimcore.transports.asyncio, swimcore.transports.discovery, "
            "logging, time; time.sleep(3600)",
        ],
        env=env,
    )
    ports = [free_port() for _ in range(count)]
    first = f"127.0.0.1:{ports[0]}"
    procs = []
    try:
        for port in ports:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "swimcore",
                        "run",
                        "bench",
                        f"127.0.0.1:{port}",
                        first,
                        "--print-every",
                        "3600",
                        "--log-level",
                        "WARNING",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                )
            )
        time.sleep(settle)
        before = [cpu_seconds(p.pid) for p in procs]
        started = time.monotonic()
        time.sleep(window)
        elapsed = time.monotonic() - started
        cpu = [(cpu_seconds(p.pid) - b) / elapsed * 100 for p, b in zip(procs, before, strict=True)]
        rss = [rss_kib(p.pid) for p in procs]
        base_rss = rss_kib(baseline.pid)
    finally:
        for p in [*procs, baseline]:
            p.send_signal(signal.SIGTERM)
        for p in [*procs, baseline]:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return {
        "mode": "one per process",
        "members": count,
        "cpu_pct_per_member": statistics.mean(cpu),
        "cpu_pct_max": max(cpu),
        "rss_kib_per_process": statistics.mean(rss),
        "rss_kib_interpreter": base_rss,
    }


# ---------------------------------------------------------------- many members, one process


def run_child(args: list[str], timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"child {args} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


async def _many(
    driver: str, nodes: int, settle: float, window: float, freeze: bool
) -> dict[str, Any]:
    import anyio  # noqa: PLC0415

    from swimcore import Config, MemberFailed, MemberSuspected  # noqa: PLC0415
    from swimcore.transports.anyio import AnyioMember  # noqa: PLC0415
    from swimcore.transports.asyncio import AsyncioMember  # noqa: PLC0415

    config = Config.lan()
    build = AsyncioMember if driver == "asyncio" else AnyioMember
    rss_start = rss_kib(os.getpid())
    # The machine's own scheduling delay, before any member exists (other jobs share the cores).
    idle_lags = []
    for _ in range(30):
        asked = anyio.current_time()
        await anyio.sleep(0.1)
        idle_lags.append(anyio.current_time() - asked - 0.1)
    suspicions = deaths = 0

    def count(event: object) -> None:
        nonlocal suspicions, deaths
        if isinstance(event, MemberSuspected):
            suspicions += 1
        elif isinstance(event, MemberFailed):
            deaths += 1

    async with contextlib.AsyncExitStack() as stack:
        first: AsyncioMember | AnyioMember = await stack.enter_async_context(
            build(config, seed=0, leave_on_exit=False)
        )
        members = [first]
        for i in range(1, nodes):
            members.append(
                await stack.enter_async_context(
                    build(config, seeds=[first.address], seed=i, leave_on_exit=False)
                )
            )
            if i % 50 == 0:
                # Grow gently: let the members so far converge before the next batch joins.
                with anyio.move_on_after(30):
                    while not all(m.counters()["live_members"] == i + 1 for m in members):
                        await anyio.sleep(0.2)
                if freeze:
                    gc.freeze()  # long-lived tables out of the collector's way (see README)
        join_started = anyio.current_time()
        print(f"{nodes} members started, converging", file=sys.stderr, flush=True)
        converged = False
        with anyio.move_on_after(60.0):
            while True:
                # counters() is O(1) in the table size; members() would build n lists of n.
                if all(m.counters()["live_members"] == nodes for m in members):
                    converged = True
                    break
                await anyio.sleep(0.5)
        converge_seconds = anyio.current_time() - join_started
        for m in members:
            m.on_event(count)
        await anyio.sleep(settle)
        suspicions = deaths = 0
        gc_pauses: list[float] = []
        gc_started = [0.0]

        def gc_watch(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_started[0] = time.perf_counter()
            elif info.get("generation") == 2:
                gc_pauses.append(time.perf_counter() - gc_started[0])

        gc.callbacks.append(gc_watch)
        lags: list[float] = []
        cpu_before, wall_before = time.process_time(), time.monotonic()
        ends = anyio.current_time() + window
        while anyio.current_time() < ends:
            asked = anyio.current_time()
            await anyio.sleep(0.1)
            lags.append(anyio.current_time() - asked - 0.1)
        cpu = (time.process_time() - cpu_before) / (time.monotonic() - wall_before) * 100
        gc.callbacks.remove(gc_watch)
        rss_end = rss_kib(os.getpid())
        sizes = sorted({m.counters()["live_members"] for m in members})
        for m in members:
            await m.close(leave=False)
    lags.sort()
    return {
        "mode": "one process",
        "driver": driver,
        "members": nodes,
        "converged": converged,
        "converge_s": round(converge_seconds, 1),
        "cpu_pct": cpu,
        "cpu_pct_per_member": cpu / nodes,
        "rss_kib_per_member": (rss_end - rss_start) / nodes,
        "false_suspicions": suspicions,
        "false_deaths": deaths,
        "loop_lag_p99_ms": lags[int(len(lags) * 0.99) - 1] * 1000 if lags else 0.0,
        "loop_lag_max_ms": lags[-1] * 1000 if lags else 0.0,
        "member_list_sizes": sizes[:3] + (["..."] if len(sizes) > 3 else []),
        "baseline_lag_max_ms": max(idle_lags) * 1000,
        "full_gc_count": len(gc_pauses),
        "full_gc_max_ms": max(gc_pauses, default=0.0) * 1000,
    }


def child_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--driver", default="asyncio")
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--gc-freeze", action="store_true")
    args = parser.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import anyio  # noqa: PLC0415

    backend = "trio" if args.driver == "trio" else "asyncio"
    driver = "asyncio" if args.driver == "asyncio" else "anyio"
    result = anyio.run(
        _many, driver, args.nodes, args.settle, args.window, args.gc_freeze, backend=backend
    )
    result["gc_freeze"] = args.gc_freeze
    result["driver"] = args.driver if args.driver != "trio" else "anyio/trio"
    print(json.dumps(result), flush=True)


# ----------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 5 s windows")
    parser.add_argument("--procs", type=int, default=5, help="members for one-per-process")
    parser.add_argument("--sizes", default="10,50,200", help="members in one process")
    parser.add_argument("--drivers", default="asyncio,trio")
    parser.add_argument("--capacity", default="250,300,400,500", help="sizes to try at 1 s")
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=5.0)
    args = parser.parse_args()
    if args.quick:
        args.procs, args.sizes, args.capacity, args.window = 3, "10", "100", 5.0
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    row = one_per_process(args.procs, args.settle, max(args.window, 30.0))
    print(
        f"one member per process x{row['members']}: CPU {row['cpu_pct_per_member']:.3f} % "
        f"of a core per member (max {row['cpu_pct_max']:.3f}), "
        f"RSS {row['rss_kib_per_process']:.0f} KiB per process "
        f"(interpreter with the same imports, no member: {row['rss_kib_interpreter']} KiB)",
        flush=True,
    )

    for driver in args.drivers.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            r = run_child(
                [
                    "--driver",
                    driver,
                    "--nodes",
                    str(size),
                    "--settle",
                    str(args.settle),
                    "--window",
                    str(args.window),
                ],
                timeout=600,
            )
            print(
                f"{r['driver']:>10} x{size:<5}: CPU {r['cpu_pct_per_member']:.3f} % per member "
                f"({r['cpu_pct']:.1f} % total), RSS {r['rss_kib_per_member']:.0f} KiB per member,"
                f" false suspicions {r['false_suspicions']}, "
                f"lag p99 {r['loop_lag_p99_ms']:.1f} ms, converged {r['converged']}",
                flush=True,
            )

    for size in (int(s) for s in args.capacity.split(",")):
        r = run_child(
            [
                "--driver",
                "asyncio",
                "--nodes",
                str(size),
                "--settle",
                str(args.settle),
                "--window",
                str(args.window),
            ],
            timeout=1200,
        )
        holds = (
            r["converged"]
            and r["false_suspicions"] == 0
            and r["loop_lag_max_ms"] < 500
            and r["cpu_pct"] < 100
        )
        print(
            f"capacity asyncio x{size:<5}: converged {r['converged']} in {r['converge_s']} s, "
            f"CPU {r['cpu_pct']:.0f} % of a core, false suspicions {r['false_suspicions']}, "
            f"false deaths {r['false_deaths']}, loop lag p99 {r['loop_lag_p99_ms']:.0f} ms max "
            f"{r['loop_lag_max_ms']:.0f} ms (idle process: {r['baseline_lag_max_ms']:.0f} ms), "
            f"full GCs {r['full_gc_count']} (max {r['full_gc_max_ms']:.0f} ms), "
            f"RSS {r['rss_kib_per_member']:.0f} KiB per member "
            f"-> {'holds' if holds else 'does not hold'}",
            flush=True,
        )
        if not holds:
            break


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        main()
