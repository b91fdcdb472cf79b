"""The simulator's own cost per member-second, this tree against an older one, in one run.

Each run is a fresh process: a bootstrapped cluster of N members (LAN preset, push-pull on
unless ``--no-push-pull``, trace digest on), one member crashed at 5 s (none with
``--no-crash``), run for ``--duration`` simulated seconds after ``--warmup`` unmeasured ones.
Reported per run: build and run wall time, wall and CPU microseconds per simulated
member-second (flat means linear), the datagrams each member sent per simulated second of the
window and the CPU per datagram (the protocol's work told apart from the cost of each piece of
it), peak RSS, exchanges requested and the trace digest (equal digests in both trees mean the
same decisions).  Runs of the two trees alternate size by size, so both see the same machine
load; read the ratio column.  With ``--repeat N`` each size runs N times in each tree (still
alternating) and the row shows the run of median CPU time: a 100-member run lasts under a
second, short enough for one slow start to move it by a third.  The last line gives the
growth of the CPU per member-second from the smallest size to the largest (flat means 1.0x).

Usage::

    python benchmarks/bench_sim_cost.py --sizes 100,300,1000,3000 --duration 60 \\
        --base /work/wt/perf-base --json benchmarks/results/sim_cost.json

``--base`` is a checkout of the older tree (``git worktree add /tmp/base 25ef229``); its
simulator may live at ``transports.sim`` (before the one-namespace rename) or at
``swimcore.transports.sim``: both are tried.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import site
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def child(
    size: int,
    duration: float,
    push_pull: bool,
    crash_at: float | None,
    warmup: float,
    window: float | None = None,
) -> dict[str, Any]:
    """One run in this process (the tree on ``sys.path[0]``)."""
    import resource  # noqa: PLC0415

    from swimcore import Config  # noqa: PLC0415

    try:
        from swimcore.transports.sim.cluster import SimCluster  # noqa: PLC0415
        from swimcore.transports.sim.ops import Crash  # noqa: PLC0415
    except ImportError:  # trees before transports/ became swimcore.transports
        # An older tree's classes of the same names: mypy sees them as other types.
        from transports.sim.cluster import SimCluster  # type: ignore[assignment]  # noqa: PLC0415
        from transports.sim.ops import Crash  # type: ignore[assignment]  # noqa: PLC0415

    config = Config.lan() if push_pull else Config.lan(push_pull_interval=0)
    wall0 = time.perf_counter()
    cluster = SimCluster(size, seed=1, config=config, trace=True)
    if crash_at is not None:
        cluster.schedule([(crash_at, Crash(size // 2))])
    cluster.run_for(warmup)
    build = time.perf_counter() - wall0
    counts = cluster.net.counts
    sent_before = counts.get("sent", 0)
    wall1, cpu1 = time.perf_counter(), time.process_time()
    windows: list[dict[str, float]] = []
    if window:
        # The same run in steps (the simulator's trace and choices do not depend on them).
        done = 0.0
        while done < duration - 1e-9:
            step = min(window, duration - done)
            cpu_at, sent_at = time.process_time(), counts.get("sent", 0)
            exchanges_at = counts.get("exchanges", 0)
            cluster.run_for(step)
            windows.append(
                {
                    "from": warmup + done,
                    "cpu": time.process_time() - cpu_at,
                    "datagrams": counts.get("sent", 0) - sent_at,
                    "exchanges": counts.get("exchanges", 0) - exchanges_at,
                }
            )
            done += step
    else:
        cluster.run_for(duration)
    run = time.perf_counter() - wall1
    cpu = time.process_time() - cpu1
    window_datagrams = counts.get("sent", 0) - sent_before
    import swimcore  # noqa: PLC0415

    return {
        "modules": [
            swimcore.__file__,
            SimCluster.__module__,
            sys.modules[SimCluster.__module__].__file__,
        ],
        "nodes": size,
        "duration": duration,
        "push_pull": push_pull,
        "build_wall": build,
        "run_wall": run,
        "run_cpu": cpu,
        "us_per_member_second": run / (size * duration) * 1e6,
        "cpu_us_per_member_second": cpu / (size * duration) * 1e6,
        # The protocol's own work in the window: datagrams sent per member-second, and the
        # CPU each cost (every datagram sent is also received, unless dropped).
        "datagrams_per_member_second": window_datagrams / (size * duration),
        "cpu_us_per_datagram": cpu / max(1, window_datagrams) * 1e6,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "exchanges": counts.get("exchanges", 0),
        "datagrams": counts.get("sent", 0),
        "digest": cluster.net.trace_digest,
        "windows": windows,
    }


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median CPU time (the later of the two middle ones for an even count)."""
    return sorted(runs, key=lambda run: float(run["run_cpu"]))[len(runs) // 2]


def processor() -> str:
    """The processor's model, clock and cache as Linux reports them: how the cost per
    member-second grows with the cluster depends on the caches, so results name them."""
    fields: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    parts = [fields.get("model name", "processor unknown")]
    if "cpu MHz" in fields:
        parts.append(f"{float(fields['cpu MHz']):.0f} MHz")
    if "cache size" in fields:
        parts.append(f"cache {fields['cache size']}")
    return ", ".join(parts)


def spawn(tree: Path, size: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(size),
        "--duration",
        str(args.duration),
        "--crash-at",
        str(args.crash_at),
        "--warmup",
        str(args.warmup),
    ]
    if args.no_crash:
        command.append("--no-crash")
    if args.no_push_pull:
        command.append("--no-push-pull")
    if args.windows and tree == ROOT:
        command += ["--windows", str(args.windows)]
    # -S and an explicit site-packages: no .pth files, so an editable install of another tree
    # (its import hook maps swimcore.transports) cannot mix its modules into this run.
    packages = os.pathsep.join([str(tree), *site.getsitepackages()])
    env = dict(os.environ, PYTHONPATH=packages, SWIMCORE_BENCH_TREE=str(tree))
    command.insert(1, "-S")
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["tree"] = str(tree)
    return result


def print_windows(runs: list[dict[str, Any]]) -> None:
    """Each run's windows, and what the others cost over the steady one (the window of
    fewest datagrams): the crash's own work, datagrams and CPU, per member."""
    print()
    print("| members | window from (s) | CPU s | datagrams | CPU us/datagram | exchanges |")
    print("|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        windows = run["windows"]
        for w in windows:
            print(
                f"| {run['nodes']:,} | {w['from']:.0f} | {w['cpu']:.2f} | {w['datagrams']:,} | "
                f"{w['cpu'] / max(1, w['datagrams']) * 1e6:.1f} | {w['exchanges']:,} |"
            )
    for run in runs:
        windows, size = run["windows"], run["nodes"]
        steady = min(windows, key=lambda w: (w["datagrams"], w["cpu"]))
        cpu = sum(max(0.0, w["cpu"] - steady["cpu"]) for w in windows)
        sent = sum(max(0, w["datagrams"] - steady["datagrams"]) for w in windows)
        print(
            f"# {size:,} members: over the steady window, {cpu:.2f} CPU s "
            f"({cpu / size * 1e3:.2f} ms a member) and {sent:,} datagrams ({sent / size:.1f} a "
            f"member; {cpu / max(1, sent) * 1e6:.1f} us each); steady "
            f"{steady['cpu'] / (size * (windows[1]['from'] - windows[0]['from'])) * 1e6:.0f} "
            "CPU us/member-s"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,300,1000,3000")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--crash-at", type=float, default=5.0)
    parser.add_argument("--no-push-pull", action="store_true")
    parser.add_argument(
        "--no-crash", action="store_true", help="a steady cluster: no member crashes"
    )
    parser.add_argument(
        "--warmup", type=float, default=0.0, help="simulated seconds run before the measurement"
    )
    parser.add_argument("--base", help="an older checkout to compare against")
    parser.add_argument("--base-max", type=int, default=3000, help="largest size run on --base")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per size and tree; the median is shown"
    )
    parser.add_argument(
        "--windows",
        type=float,
        help="also time this tree's run in windows this many simulated s long, and show what "
        "the crash added over the steady windows",
    )
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        tree = os.environ.get("SWIMCORE_BENCH_TREE")
        if tree:
            sys.path.insert(0, tree)
        crash_at = None if args.no_crash else args.crash_at
        result = child(
            args.child, args.duration, not args.no_push_pull, crash_at, args.warmup, args.windows
        )
        print(json.dumps(result))
        return 0
    results: list[dict[str, Any]] = []
    print(
        f"# nproc {os.cpu_count()}, {processor()}, Python {sys.version.split()[0]}, "
        f"load {os.getloadavg()}"
    )
    print(
        "| members | this tree (s) | us/member-s | CPU us/member-s | datagrams/member-s |"
        " CPU us/datagram | RSS MiB | base (s) | us/member-s | ratio | same digest |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|")
    shown: list[dict[str, Any]] = []
    for size in (int(s) for s in args.sizes.split(",")):
        news: list[dict[str, Any]] = []
        olds: list[dict[str, Any]] = []
        for _ in range(max(1, args.repeat)):
            news.append(spawn(ROOT, size, args))
            if args.base and size <= args.base_max:
                olds.append(spawn(Path(args.base).resolve(), size, args))
        results += news + olds
        if len({run["digest"] for run in news}) != 1:
            raise SystemExit(f"runs of {size} members in this tree gave different digests")
        new = median(news)
        old = median(olds) if olds else None
        shown.append(new)
        base_cols = (
            f"{old['run_wall']:.1f} | {old['us_per_member_second']:.0f} | "
            f"{old['run_wall'] / new['run_wall']:.2f}x | "
            f"{'yes' if old['digest'] == new['digest'] else 'no'}"
            if old
            else "- | - | - | -"
        )
        print(
            f"| {size:,} | {new['run_wall']:.1f} | {new['us_per_member_second']:.0f} | "
            f"{new['cpu_us_per_member_second']:.0f} | "
            f"{new['datagrams_per_member_second']:.2f} | {new['cpu_us_per_datagram']:.1f} | "
            f"{new['peak_rss_mb']:.0f} | {base_cols} |",
            flush=True,
        )
    if len(shown) > 1:
        growth = shown[-1]["cpu_us_per_member_second"] / shown[0]["cpu_us_per_member_second"]
        print(
            f"# CPU per member-second, {shown[-1]['nodes']:,} members against "
            f"{shown[0]['nodes']:,}: {growth:.2f}x"
        )
    if args.windows:
        print_windows(shown)
    print(f"# load after {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
