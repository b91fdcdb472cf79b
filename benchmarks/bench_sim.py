"""Simulator scale and SWIM figures: cost per simulated period, detection and dissemination.

Two measurements, each size in a fresh process (so peak memory is that size's own):

* ``scale``: a bootstrapped cluster of N nodes (LAN preset) warms up for 5 s, then C nodes
  crash 15 s apart; the run lasts until every survivor declared every crash dead (or a
  generous limit).  Reported: build time, wall and CPU time per simulated protocol period,
  peak RSS, datagrams and bytes per node per period, first suspicion (SWIM's "detection"),
  first and last declaration of death, and how long the failure news took to reach every
  survivor after the first suspicion (dissemination), set beside the SWIM paper's expectations
  (first detection after e/(e-1) = 1.58 periods on average; dissemination in O(log n) periods).
* ``join``: N nodes join through three seeds (one every 10 ms); reported: when every view was
  complete (simulated and wall time), whether all views are identical, and the fraction of
  complete views after each simulated second.

Usage::

    python benchmarks/bench_sim.py --sizes 100,1000,5000,10000 --join 1000 \\
        --json benchmarks/results/sim.json --figure benchmarks/results/sim.svg

One size alone: ``python benchmarks/bench_sim.py --one scale 10000 --crashes 1``.  Sizes of
5,000 and more run once with push-pull anti-entropy (the LAN preset, interval scaled with the
cluster as memberlist does) and once without, to separate what SWIM costs from what the
full-state exchanges cost.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from swimcore import Config  # noqa: E402
from swimcore.transports.sim.cluster import SimCluster  # noqa: E402
from swimcore.transports.sim.metrics import Recorder  # noqa: E402
from swimcore.transports.sim.ops import Crash  # noqa: E402
from swimcore.transports.sim.rng import derive_rng  # noqa: E402
from swimcore.transports.sim.scenario import peak_rss_mb  # noqa: E402

SWIM_FIRST_DETECTION = math.e / (math.e - 1)
WARMUP = 5.0
GAP = 15.0


def scale_run(size: int, crashes: int, seed: int, anti_entropy: bool = True) -> dict[str, Any]:
    """One bootstrapped cluster of ``size`` with ``crashes`` crashes 15 s apart (without
    push-pull anti-entropy when ``anti_entropy`` is False)."""
    config = Config.lan() if anti_entropy else Config.lan(push_pull_interval=0)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    cluster = SimCluster(size, seed=seed, config=config, trace=False)
    recorder = Recorder(cluster, updates=False)
    build = time.perf_counter() - wall0
    victims = derive_rng(seed, "bench").sample(range(size), crashes)
    cluster.schedule((WARMUP + GAP * k, Crash(v)) for k, v in enumerate(victims))
    limit = WARMUP + GAP * crashes + 120.0
    wall1, cpu1 = time.perf_counter(), time.process_time()
    while cluster.now < limit:
        cluster.run_for(1.0)
        if len(recorder.crashes) == crashes and all(
            len(c.declared) >= len(c.survivors) for c in recorder.crashes
        ):
            break
    wall, cpu = time.perf_counter() - wall1, time.process_time() - cpu1
    report = recorder.report()
    periods = cluster.now / config.probe_interval
    detections = [
        {
            "first_suspicion": d.first_suspicion,
            "first": d.first,
            "all": d.all,
            "informed_all": d.informed_all,
            "dissemination": (
                d.informed_all - d.first_suspicion
                if d.informed_all is not None and d.first_suspicion is not None
                else None
            ),
            "survivors": d.survivors,
            "detected_by": d.detected_by,
        }
        for d in report.detections
    ]
    return {
        "kind": "scale",
        "nodes": size,
        "seed": seed,
        "anti_entropy": anti_entropy,
        "exchanges": cluster.net.counts.get("exchanges", 0),
        "crashes": crashes,
        "simulated": cluster.now,
        "periods": periods,
        "build_wall": build,
        "run_wall": wall,
        "run_cpu": cpu,
        "total_cpu": time.process_time() - cpu0,
        "wall_per_period": wall / periods,
        "cpu_per_period": cpu / periods,
        "peak_rss_mb": peak_rss_mb(),
        "datagrams": cluster.net.counts.get("sent", 0),
        "datagrams_per_node_period": report.datagrams_per_node_period,
        "bytes_per_node_period": report.bytes_per_node_period,
        "false_suspicions": report.false_suspicions,
        "false_deaths": report.false_deaths,
        "detections": detections,
    }


def join_run(size: int, seed: int) -> dict[str, Any]:
    """``size`` nodes joining through three seeds, until every view is complete."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    cluster = SimCluster(size, seed=seed, bootstrap=False, seeds=3, join_spread=0.01, trace=False)
    complete: list[tuple[float, float]] = []
    formed = None
    while cluster.now < 600.0:
        cluster.run_for(1.0)
        full = sum(1 for h in cluster.hosts if len(h.node.members()) == size)
        complete.append((cluster.now, full / size))
        if full == size:
            formed = cluster.now
            break
    views = {tuple(sorted(m.name for m in h.node.members())) for h in cluster.hosts}
    return {
        "kind": "join",
        "nodes": size,
        "seed": seed,
        "joins_spread_over": 0.01 * (size - 3),
        "formed_simulated": formed,
        "formed_wall": time.perf_counter() - wall0,
        "formed_cpu": time.process_time() - cpu0,
        "identical_views": len(views) == 1,
        "datagrams": cluster.net.counts.get("sent", 0),
        "exchanges": cluster.net.counts.get("exchanges", 0),
        "peak_rss_mb": peak_rss_mb(),
        "complete_views": complete,
    }


def _child(args: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--one", *args]
    print("running:", " ".join(cmd[1:]), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _ms(values: list[float | None]) -> float | None:
    """:func:`_mean` of seconds, in milliseconds."""
    mean = _mean(values)
    return None if mean is None else 1000 * mean


def table(results: list[dict[str, Any]]) -> str:
    """Markdown tables of the scale runs (aggregated over seeds) and the join runs."""
    lines = [
        "| nodes | push-pull (exchanges) | runs x crashes | build s | wall ms/period "
        "| CPU ms/period | peak RSS MiB "
        "| datagrams/node/period | bytes/node/period | first suspicion (periods) "
        "| first dead s | all dead s | failure news to all (periods after 1st suspicion) "
        "| ln n | false deaths |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    groups = sorted({(r["nodes"], not r["anti_entropy"]) for r in results if r["kind"] == "scale"})
    for size, off in groups:
        runs = [
            r
            for r in results
            if r["kind"] == "scale" and r["nodes"] == size and r["anti_entropy"] is not off
        ]
        dets = [d for r in runs for d in r["detections"]]
        lines.append(
            f"| {size:,} | {'off' if off else 'on'} ({sum(r['exchanges'] for r in runs):,}) "
            f"| {len(runs)} x {runs[0]['crashes']} "
            f"| {_mean([r['build_wall'] for r in runs]):.2f} "
            f"| {_ms([r['wall_per_period'] for r in runs]):.0f} "
            f"| {_ms([r['cpu_per_period'] for r in runs]):.0f} "
            f"| {max(r['peak_rss_mb'] for r in runs):.0f} "
            f"| {_mean([r['datagrams_per_node_period'] for r in runs]):.2f} "
            f"| {_mean([r['bytes_per_node_period'] for r in runs]):.0f} "
            f"| {_fmt(_mean([d['first_suspicion'] for d in dets]))} "
            f"| {_fmt(_mean([d['first'] for d in dets]))} "
            f"| {_fmt(_mean([d['all'] for d in dets]))} "
            f"| {_fmt(_mean([d['dissemination'] for d in dets]))} "
            f"| {math.log(size):.1f} "
            f"| {sum(r['false_deaths'] for r in runs)} |"
        )
    for run in (r for r in results if r["kind"] == "join"):
        lines += [
            "",
            f"Join: {run['nodes']:,} nodes through 3 seeds (joins spread over "
            f"{run['joins_spread_over']:.1f} s): every view complete after "
            f"{_fmt(run['formed_simulated'])} s simulated, {run['formed_wall']:.0f} s wall "
            f"({run['formed_cpu']:.0f} s CPU); identical views: {run['identical_views']}; "
            f"{run['datagrams']:,} datagrams, {run['exchanges']:,} exchanges, "
            f"peak RSS {run['peak_rss_mb']:.0f} MiB.",
        ]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def figure(results: list[dict[str, Any]], path: str) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    scale = [r for r in results if r["kind"] == "scale"]
    joins = [r for r in results if r["kind"] == "join"]
    fig, axes = plt.subplots(1, 4 if joins else 3, figsize=(17 if joins else 13, 3.8))

    def series(anti_entropy: bool, key: str) -> tuple[list[int], list[float]]:
        sizes = sorted({r["nodes"] for r in scale if r["anti_entropy"] is anti_entropy})
        values = [
            statistics.fmean(
                r[key] for r in scale if r["nodes"] == n and r["anti_entropy"] is anti_entropy
            )
            for n in sizes
        ]
        return sizes, values

    ax = axes[0]
    for anti_entropy, style in ((True, "o-"), (False, "o--")):
        xs, ys = series(anti_entropy, "cpu_per_period")
        label = "CPU, push-pull " + ("on" if anti_entropy else "off")
        ax.plot(xs, [1000 * y for y in ys], style, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("nodes")
    ax.set_ylabel("CPU ms per simulated period")
    twin = ax.twinx()
    xs, ys = series(True, "peak_rss_mb")
    twin.plot(xs, ys, "s:", color="tab:red", label="peak RSS")
    twin.set_ylabel("peak RSS (MiB)")
    ax.legend(fontsize=7, loc="upper left")
    twin.legend(fontsize=7, loc="lower right")
    ax.set_title("cost of one simulated period")

    samples = [
        (r["nodes"], d) for r in scale for d in r["detections"] if d["first_suspicion"] is not None
    ]
    sizes = sorted({n for n, _ in samples})
    ax = axes[1]
    ax.scatter(
        [n for n, _ in samples],
        [d["first_suspicion"] for _, d in samples],
        s=12,
        color="0.6",
        label="each crash",
    )
    ax.plot(
        sizes,
        [statistics.fmean(d["first_suspicion"] for n, d in samples if n == size) for size in sizes],
        "o-",
        label="mean",
    )
    ax.axhline(SWIM_FIRST_DETECTION, color="k", linestyle="--", label="SWIM: e/(e-1)")
    ax.set_xscale("log")
    ax.set_xlabel("nodes")
    ax.set_ylabel("periods (probe interval 1 s)")
    ax.set_title("first suspicion after a crash")
    ax.legend(fontsize=7)

    ax = axes[2]
    spread = [(n, d["dissemination"]) for n, d in samples if d["dissemination"] is not None]
    ax.scatter(
        [n for n, _ in spread], [v for _, v in spread], s=12, color="0.6", label="each crash"
    )
    ax.plot(
        sizes,
        [statistics.fmean(v for n, v in spread if n == size) for size in sizes],
        "o-",
        label="mean: failure news to all",
    )
    ax.plot(sizes, [math.log(n) / math.log(4) for n in sizes], ":", label="log4 n (reference)")
    ax.set_xscale("log")
    ax.set_xlabel("nodes")
    ax.set_ylabel("periods after the first suspicion")
    ax.set_title("dissemination")
    ax.legend(fontsize=7)
    if joins:
        ax = axes[3]
        for run in joins:
            xs = [t for t, _ in run["complete_views"]]
            ys = [f for _, f in run["complete_views"]]
            ax.plot(xs, ys, "o-", markersize=3, label=f"{run['nodes']} nodes, 3 seeds")
        ax.set_xlabel("simulated seconds (joins in the first 10 s)")
        ax.set_ylabel("fraction of complete views")
        ax.set_title("joining through three seeds")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000,10000")
    parser.add_argument("--seeds", type=int, default=3, help="runs per size below 5,000")
    parser.add_argument("--crashes", type=int, default=5, help="crashes per run below 5,000")
    parser.add_argument("--join", type=int, default=1000, help="join-through-seeds size (0: none)")
    parser.add_argument("--json", help="write all results here")
    parser.add_argument("--figure", help="write the figure here (.svg or .png)")
    parser.add_argument("--replot", help="draw --figure from this earlier --json instead")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--no-anti-entropy", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, size = args.one[0], int(args.one[1])
        if kind == "scale":
            result = scale_run(size, args.crashes, args.seed, not args.no_anti_entropy)
        else:
            result = join_run(size, args.seed)
        json.dump(result, sys.stdout)
        return 0
    if args.replot:
        results = json.loads(Path(args.replot).read_text())
        print(table(results))
        if args.figure:
            figure(results, args.figure)
        return 0
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        big = size >= 5000
        for seed in range(1, 2 if big else args.seeds + 1):
            crashes = 1 if big else args.crashes
            run = ["scale", str(size), "--crashes", str(crashes), "--seed", str(seed)]
            results.append(_child(run))
            if big:  # the same run without anti-entropy: what SWIM itself costs
                results.append(_child([*run, "--no-anti-entropy"]))
    if args.join:
        results.append(_child(["join", str(args.join)]))
    print(table(results))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.figure:
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        figure(results, args.figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
