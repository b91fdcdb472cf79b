"""Checks of ``swimcore tune``'s predictions: its extrapolation, and its stall weighting.

1. **Extrapolation.**  For each target size, the tuner's prediction from a small simulation
   (``--sim-nodes``, extrapolated as ``transports/sim/tuning/estimate.py`` describes) against the
   same trials run at the full size (no extrapolation), and against the small simulation taken
   at face value (what ignoring the size would predict).
2. **False deaths at full size** (``--death-targets``), with three times the stalls per trial,
   since they are the noisiest figure.
3. **Stall weighting.**  On a small cluster, the tuner's prediction (episodes one at a time,
   long stalls over-sampled and weighted back) against a plain simulation of the deployment:
   every member stalling as its own Poisson process with real lengths, a few crashes.
4. **Calibration.**  How often a repeat with fresh seeds lands in the stated 95% range.

Prints markdown tables.  Run it with::

    python benchmarks/bench_tune.py [--targets 250,1000] [--full-seeds 4] [--jobs 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import sys
import time

from swimcore import Config
from swimcore.transports.sim.rng import derive_rng, derive_seed
from swimcore.transports.sim.sweep import Task, sweep
from swimcore.transports.sim.tuning.candidates import grid
from swimcore.transports.sim.tuning.direct import DirectResult, direct_run
from swimcore.transports.sim.tuning.estimate import Interval, Prediction, predict
from swimcore.transports.sim.tuning.model import NetworkModel
from swimcore.transports.sim.tuning.search import TuneRequest, evaluate, run_trials

NETWORK = NetworkModel(rtt=0.001, rtt_spread=0.001, loss=0.01, stall_rate=1.0, stall_length=2.0)
CONFIGS = {
    "LAN preset": Config.lan(),
    "fast (0.5 s, mult 2)": Config.lan(probe_interval=0.5, probe_timeout=0.25, suspicion_mult=2),
}
COLUMNS = (
    ("detect p50 (s)", "detect_median"),
    ("detect p99 (s)", "detect_p99"),
    ("dissem. p50 (s)", "dissemination_median"),
    ("false susp./day", "false_suspicions"),
    ("false deaths/day", "false_deaths"),
    ("bytes/s", "bytes_per_second"),
)


def show(interval: Interval) -> str:
    half = interval.high - interval.value
    return f"{interval.value:.3g} ±{half:.2g}"


def extrapolation(
    targets: list[int], sim_nodes: int, seeds: int, full_seeds: int, jobs: int
) -> None:
    print(f"### Extrapolation from {sim_nodes} simulated members\n")
    print(f"Network: {NETWORK}\n")
    print("| config | target | source | " + " | ".join(c for c, _ in COLUMNS) + " | wall (s) |")
    print("|---|---|---|" + "---|" * (len(COLUMNS) + 1))
    for name, config in CONFIGS.items():
        for target in targets:
            rows: list[tuple[str, Prediction, float]] = []
            small = TuneRequest(nodes=target, network=NETWORK, seeds=seeds, seed=1,
                                sim_nodes=sim_nodes)  # fmt: skip
            started = time.perf_counter()
            rows.append(
                (
                    f"tuner: {sim_nodes} extrapolated",
                    evaluate(config, small, small.trial_seeds(), jobs=jobs),
                    time.perf_counter() - started,
                )
            )
            raw = TuneRequest(nodes=sim_nodes, network=NETWORK, seeds=seeds, seed=1)
            started = time.perf_counter()
            rows.append(
                (
                    f"{sim_nodes} at face value",
                    evaluate(config, raw, raw.trial_seeds(), jobs=jobs),
                    time.perf_counter() - started,
                )
            )
            full = TuneRequest(nodes=target, network=NETWORK, seeds=full_seeds, seed=2,
                               sim_nodes=target)  # fmt: skip
            started = time.perf_counter()
            rows.append(
                (
                    f"simulated at {target}",
                    evaluate(config, full, full.trial_seeds(), jobs=jobs),
                    time.perf_counter() - started,
                )
            )
            for source, p, wall in rows:
                cells = " | ".join(show(p.metric(m)) for _, m in COLUMNS)
                print(f"| {name} | {target} | {source} | {cells} | {wall:.0f} |", flush=True)


def deaths(targets: list[int], sim_nodes: int, seeds: int, full_seeds: int, jobs: int) -> None:
    """False deaths alone, with many more stalls per trial than the tuner's default."""
    print(f"\n### False deaths per member-day, {sim_nodes} extrapolated vs full size\n")
    print("Trials of 2 crashes and 48 stalls each (the tuner's default is 3 and 16).\n")
    print("| config | target | tuner: extrapolated | simulated at target | stalls at target |")
    print("|---|---|---|---|---|")
    for name, config in CONFIGS.items():
        for target in targets:
            small = TuneRequest(nodes=target, network=NETWORK, seeds=seeds, seed=4,
                                sim_nodes=sim_nodes, crashes=2, stalls=48)  # fmt: skip
            full = TuneRequest(nodes=target, network=NETWORK, seeds=full_seeds, seed=5,
                               sim_nodes=target, crashes=2, stalls=48)  # fmt: skip
            predicted = evaluate(config, small, small.trial_seeds(), jobs=jobs)
            measured = evaluate(config, full, full.trial_seeds(), jobs=jobs)
            print(f"| {name} | {target} | {show(predicted.false_deaths)} "
                  f"| {show(measured.false_deaths)} | {measured.stall_deaths} fatal of "
                  f"{measured.stalls} |", flush=True)  # fmt: skip


def calibration(seeds: int, repeats: int, jobs: int) -> None:
    """How often a repeat with fresh seeds lands in another run's stated range (95% meant)."""
    print(f"\n### Calibration of the stated ranges: {repeats} runs of {seeds} seeds each\n")
    print("For every ordered pair of runs, whether the second run's figure lies in the first's "
          "range. 8 members, the tests' two scenarios, the preset config.\n")  # fmt: skip
    metrics = [m for _, m in COLUMNS]
    print("| scenario | " + " | ".join(c for c, _ in COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for name, network in CALIBRATION.items():
        config = grid(network)[4].config
        request = TuneRequest(nodes=8, network=network, seeds=seeds, seed=1)
        all_seeds = [derive_seed(555, name, i) for i in range(seeds * repeats)]
        trials = run_trials([config], network, request.plan(), all_seeds, jobs=jobs)[0]
        runs = [
            predict(trials[i * seeds : (i + 1) * seeds], config, network, 8,
                    rng=derive_rng(1, "calibration", i))
            for i in range(repeats)
        ]  # fmt: skip
        cells = []
        for metric in metrics:
            pairs = [(a, b) for a in runs for b in runs if a is not b]
            hits = sum(a.metric(metric).contains(b.metric(metric).value) for a, b in pairs)
            cells.append(f"{hits / len(pairs):.0%}")
        print(f"| {name}: {network} | " + " | ".join(cells) + " |", flush=True)


CALIBRATION = {
    "lan": NetworkModel(rtt=0.001, rtt_spread=0.001, loss=0.02, stall_rate=10, stall_length=2),
    "wan": NetworkModel(rtt=0.08, rtt_spread=0.04, loss=0.03, stall_rate=5, stall_length=4),
}


def _plain(args: tuple[str, int, float, int]) -> tuple[str, DirectResult]:
    name, nodes, duration, k = args
    network = _STALLY
    return name, direct_run(CONFIGS[name], network, nodes, duration,
                            derive_seed(31, "plain", k), crashes=10)  # fmt: skip


_STALLY = NetworkModel(rtt=0.001, rtt_spread=0.001, loss=0.02, stall_rate=10.0, stall_length=2.0)


def weighting(nodes: int, seeds: int, runs: int, duration: float, jobs: int) -> None:
    print(f"\n### Stall weighting against a plain simulation, {nodes} members\n")
    print(f"Network: {_STALLY}\n")
    print("| config | source | false deaths/day | false susp./day | detect p50 (s) | bytes/s |")
    print("|---|---|---|---|---|---|")
    work = [
        Task(_plain, ((name, nodes, duration, k),), derive_seed(31, "plain", k), name)
        for name in CONFIGS
        for k in range(runs)
    ]
    with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
        plain = sweep(work, pool).values()
    for name, config in CONFIGS.items():
        request = TuneRequest(nodes=nodes, network=_STALLY, seeds=seeds, seed=3)
        p = evaluate(config, request, request.trial_seeds(), jobs=jobs)
        print(f"| {name} | tuner ({seeds} seeds) | {show(p.false_deaths)} "
              f"| {show(p.false_suspicions)} | {show(p.detect_median)} "
              f"| {show(p.bytes_per_second)} |")  # fmt: skip
        results = [r for n, r in plain if n == name]
        days = sum(r.member_days for r in results)
        deaths = sum(r.false_deaths for r in results)
        suspicions = sum(r.false_suspicions for r in results)
        detections = [d for r in results for d in r.detections if d is not None]
        stalls = sum(r.stalls for r in results)
        rate = statistics.fmean(r.bytes_per_second for r in results)
        print(f"| {name} | plain: {runs} x {duration:.0f} s, {stalls} stalls, "
              f"{len(detections)} crashes | {deaths / days:.3g} ({deaths} in {days:.2f} "
              f"member-days) | {suspicions / days:.3g} | {statistics.median(detections):.3g} "
              f"| {rate:.3g} |", flush=True)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="250,1000")
    parser.add_argument("--death-targets", default="250")
    parser.add_argument("--sim-nodes", type=int, default=32)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--full-seeds", type=int, default=3)
    parser.add_argument("--plain-nodes", type=int, default=16)
    parser.add_argument("--plain-runs", type=int, default=4)
    parser.add_argument("--plain-duration", type=float, default=3600.0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=10, help="calibration runs")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=("extrapolation", "deaths", "weighting", "calibration"),
    )
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.jobs} processes\n")
    started = time.perf_counter()
    if "extrapolation" not in args.skip:
        targets = [int(t) for t in args.targets.split(",")]
        extrapolation(targets, args.sim_nodes, args.seeds, args.full_seeds, args.jobs)
    if "deaths" not in args.skip:
        targets = [int(t) for t in args.death_targets.split(",")]
        deaths(targets, args.sim_nodes, args.seeds, args.full_seeds, args.jobs)
    if "weighting" not in args.skip:
        weighting(args.plain_nodes, args.seeds, args.plain_runs, args.plain_duration, args.jobs)
    if "calibration" not in args.skip:
        calibration(args.seeds, args.repeats, args.jobs)
    print(f"\n{time.perf_counter() - started:.0f} s wall in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
