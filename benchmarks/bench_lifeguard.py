"""Lifeguard against plain SWIM on the same seeds: false deaths, false suspicions, detection.

The setting is issue 5's (and the Lifeguard paper's): 50 members, 5% of them starved of CPU
(handling everything 0.5 to 2.5 s late, in bursts), 5% packet loss, two real crashes per run,
120 simulated seconds per run, LAN preset.  Run it with::

    python benchmarks/bench_lifeguard.py --seeds 100 [--jobs 2] [--json out.json]
        [--executor local|processes|dask [--scheduler ADDRESS]]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from swimcore import Config
from swimcore.transports.sim.executors import EXECUTORS, open_executor
from swimcore.transports.sim.scenarios import StallScenario, lifeguard_off, stalled_cluster_trial
from swimcore.transports.sim.sweep import Task, sweep

SETTINGS = {
    "swimcore (lifeguard + last-chance probe)": Config.lan(),
    "lifeguard": Config.lan(verify_before_death=False),
    "swim": lifeguard_off(Config.lan(verify_before_death=False)),
}


def trial(args: tuple[str, int]) -> dict[str, Any]:
    setting, seed = args
    report = stalled_cluster_trial(seed, SETTINGS[setting], StallScenario())
    return {
        "setting": setting,
        "seed": seed,
        "false_deaths": report.false_deaths,
        "falsely_dead": report.falsely_dead,
        "false_suspicions": report.false_suspicions,
        "detections": [d.first for d in report.detections if d.first is not None],
        "all_detections": [d.all for d in report.detections if d.all is not None],
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--executor", choices=EXECUTORS, default="processes")
    parser.add_argument("--scheduler", help="Dask scheduler address (with --executor dask)")
    parser.add_argument("--json", help="write every trial's figures to this file")
    args = parser.parse_args()
    work = [Task(trial, ((s, seed),), seed, s) for seed in range(args.seeds) for s in SETTINGS]
    started = time.perf_counter()
    with open_executor(args.executor, jobs=args.jobs, scheduler=args.scheduler) as executor:
        results = sweep(work, executor).values()
    wall = time.perf_counter() - started
    print(
        f"{len(work)} runs in {wall:.0f} s wall, {args.jobs} processes, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores\n"
    )
    print(
        "| setting | runs | false deaths (total) | runs with a false death | false deaths/run "
        "| false suspicions/run | first detection median | p99 | all-detection median | p99 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for setting in SETTINGS:
        rows = [r for r in results if r["setting"] == setting]
        deaths = sum(r["false_deaths"] for r in rows)
        runs_with = sum(1 for r in rows if r["false_deaths"])
        suspicions = statistics.mean(r["false_suspicions"] for r in rows)
        first = [d for r in rows for d in r["detections"]]
        every = [d for r in rows for d in r["all_detections"]]
        print(
            f"| {setting} | {len(rows)} | {deaths} | {runs_with} | {deaths / len(rows):.2f} "
            f"| {suspicions:.0f} | {statistics.median(first):.2f} s "
            f"| {percentile(first, 0.99):.2f} s | {statistics.median(every):.2f} s "
            f"| {percentile(every, 0.99):.2f} s |"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
