"""What the stability mechanisms cost (issue 18): clean-crash detection and the Lifeguard study.

    python benchmarks/bench_stability_costs.py detection --sizes 10,100,1000 --seeds 20
    python benchmarks/bench_stability_costs.py lifeguard --seeds 100

``detection``: a bootstrapped cluster on ``Config.lan()``, three members crash during 90
simulated seconds (:func:`~swimcore.transports.sim.scenario.run_scenario`, safety checkers on);
the median and 90th percentile, over every crash of every seed, of the time from a crash to
the first survivor declaring it dead and to the last one, with the stability mechanisms off
(``previous``) and on (``new``), with the ratio, and the runs that broke an invariant.

``lifeguard``: the Lifeguard study of ``bench_lifeguard.py`` (50 members, 3 starved of CPU, 5%
loss, two crashes, 120 s) with both settings: false deaths, false suspicions, detection.

Each run is a separate task on ``--jobs`` processes; the figures are simulated seconds and do
not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
from typing import Any

from swimcore import Config
from swimcore.transports.sim.scenario import Scenario, run_scenario
from swimcore.transports.sim.scenarios import StallScenario, stalled_cluster_trial

#: Every stability mechanism off: the defaults before issue 18.
OFF: dict[str, Any] = {
    "stability_health_gate": False,
    "stability_accusers": 1,
    "stability_damping": False,
    "stability_suspect_hold": 0.0,
}
#: Every stability mechanism on, as the defaults since issue 18 have them.
ON: dict[str, Any] = {
    "stability_health_gate": True,
    "stability_accusers": 2,
    "stability_damping": True,
    "stability_suspect_hold": 9.0,
}
SETTINGS: dict[str, dict[str, Any]] = {"previous": OFF, "new": ON}


def detection(task: tuple[str, int, int]) -> tuple[str, int, list[float], list[float], int]:
    setting, nodes, seed = task
    scenario = Scenario(
        nodes=nodes,
        crashes=3,
        duration=90.0,
        seed=seed,
        trace=False,
        updates=False,
        overrides=tuple(SETTINGS[setting].items()),
    )
    outcome = run_scenario(scenario)
    found = outcome.report.detections
    first = [d.first for d in found if d.first is not None]
    last = [d.all for d in found if d.all is not None]
    return setting, nodes, first, last, len(outcome.violations)


def lifeguard(task: tuple[str, int]) -> tuple[str, int, int, list[float], list[float]]:
    setting, seed = task
    config = Config.lan(**SETTINGS[setting])
    report = stalled_cluster_trial(seed, config, StallScenario())
    first = [d.first for d in report.detections if d.first is not None]
    last = [d.all for d in report.detections if d.all is not None]
    return setting, report.false_deaths, report.false_suspicions, first, last


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("detection", "lifeguard"))
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with multiprocessing.Pool(args.jobs) as pool:
        if args.what == "detection":
            sizes = [int(s) for s in args.sizes.split(",")]
            tasks = [(s, n, seed) for n in sizes for seed in range(args.seeds) for s in SETTINGS]
            results = pool.map(detection, tasks, chunksize=1)
            print(
                "| members | setting | crashes | first death median | p90 | last death median "
                "| p90 | median vs previous | runs with a violation |"
            )
            print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
            for n in sizes:
                base = 0.0
                for s in SETTINGS:
                    rows = [r for r in results if r[0] == s and r[1] == n]
                    first = [d for r in rows for d in r[2]]
                    last = [d for r in rows for d in r[3]]
                    median = statistics.median(first)
                    base = base or median
                    bad = sum(1 for r in rows if r[4])
                    print(
                        f"| {n} | {s} | {len(first)} | {median:.2f} s | {pct(first, 0.9):.2f} s "
                        f"| {statistics.median(last):.2f} s | {pct(last, 0.9):.2f} s "
                        f"| {median / base:.3f} | {bad} |",
                        flush=True,
                    )
        else:
            tasks2 = [(s, seed) for seed in range(args.seeds) for s in SETTINGS]
            done = pool.map(lifeguard, tasks2, chunksize=1)
            print(
                "| setting | runs | false deaths | runs with one | false suspicions/run "
                "| first death median | p99 | last death median | p99 |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            for s in SETTINGS:
                got = [r for r in done if r[0] == s]
                first = [d for r in got for d in r[3]]
                last = [d for r in got for d in r[4]]
                print(
                    f"| {s} | {len(got)} | {sum(r[1] for r in got)} "
                    f"| {sum(1 for r in got if r[1])} "
                    f"| {statistics.mean(r[2] for r in got):.0f} "
                    f"| {statistics.median(first):.2f} s | {pct(first, 0.99):.2f} s "
                    f"| {statistics.median(last):.2f} s | {pct(last, 0.99):.2f} s |",
                    flush=True,
                )
    print(f"\nPython {sys.version.split()[0]}, {args.jobs} processes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
