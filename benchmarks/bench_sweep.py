"""One sweep on three executors: in-process, a local process pool, a local Dask cluster.

Runs the same ``--runs`` seeds of a small fault scenario (``swimcore simulate --seeds``'s task)
in this process, on a pool of ``--jobs`` processes and on a Dask ``LocalCluster`` of ``--jobs``
single-threaded worker processes (one submission per run, then ``--batch`` runs per
submission), checks that the three give the same results, and prints the
wall times as ratios to in-process.  Then it measures the scheduling overhead per task: the
same number of tasks that do nothing, on each executor (wall time / tasks).  From these it
estimates what 1,000,000 seeds would take on a cluster of ``--paper-workers`` Dask workers.
The executors take turns for ``--rounds`` rounds and each keeps its fastest, so that other work
on a shared machine does not favour whichever ran while it was quiet.
Run it with::

    python benchmarks/bench_sweep.py [--runs 400] [--nodes 20] [--duration 10] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TypeVar

import attrs

from swimcore.transports.sim.executors import load_distributed, open_executor
from swimcore.transports.sim.scenario import Scenario
from swimcore.transports.sim.seed_sweep import SeedSummary, run_seed
from swimcore.transports.sim.sweep import DEFAULTS, SweepOptions, SweepResult, Task, sweep

T = TypeVar("T")


def run_timed(scenario: Scenario) -> tuple[SeedSummary, float]:
    """``simulate --seeds``'s task, plus the CPU seconds it took where it ran."""
    started = time.process_time()
    summary = run_seed(scenario)
    return summary, time.process_time() - started


def nothing(seed: int) -> int:
    """A task that does no work: what remains of its wall time is scheduling."""
    return seed


def timed(
    tasks: Sequence[Task[T]], executor: Executor | None, options: SweepOptions
) -> tuple[float, SweepResult[T]]:
    started = time.perf_counter()
    result = sweep(tasks, executor, options=options)
    return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch", type=int, default=10, help="the batched Dask row's batch")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (best kept)")
    parser.add_argument("--paper-seeds", type=int, default=1_000_000)
    parser.add_argument("--paper-workers", type=int, default=100)
    args = parser.parse_args()
    scenario = Scenario(
        nodes=args.nodes, crashes=2, partitions=1, pauses=1, loss=0.02,
        duration=args.duration, updates=False,
    )  # fmt: skip
    work = [Task(run_timed, (attrs.evolve(scenario, seed=s),), s) for s in range(args.runs)]
    empty = [Task(nothing, (seed,), seed) for seed in range(args.runs)]
    before = os.getloadavg()
    print(f"Python {sys.version.split()[0]}, nproc {os.cpu_count()}, {args.jobs} workers, "
          f"load before {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}")  # fmt: skip
    print(f"{args.runs} runs of {scenario.nodes} nodes, {scenario.duration:g} simulated s, "
          f"2 crashes, 1 partition, 1 pause, 2% loss\n")  # fmt: skip
    best: dict[str, tuple[float, float, float, float, float]] = {}
    reference: list[SeedSummary] | None = None
    load_distributed()  # no Dask: say so now, not after the first two sweeps
    batched = SweepOptions(batch=args.batch)
    plans: list[tuple[str, str, list[tuple[str, SweepOptions]]]] = [
        ("local", "in-process", [("", DEFAULTS)]),
        ("processes", f"process pool ({args.jobs})", [("", DEFAULTS)]),
        ("dask", f"Dask LocalCluster ({args.jobs} workers)",
         [("", DEFAULTS), (f", batch {args.batch}", batched)]),
    ]  # fmt: skip
    # Rounds interleave the executors, so that a change of load on a shared machine hits them
    # all; each row keeps its fastest round.
    for round_ in range(1, args.rounds + 1):
        for kind, label, variants in plans:
            started = time.perf_counter()
            with open_executor(kind, jobs=args.jobs) as executor:
                startup = time.perf_counter() - started
                if executor is not None:
                    sweep(empty[: args.jobs * 4], executor)  # warm the workers up
                for suffix, options in variants:
                    wall, result = timed(work, executor, options)
                    overhead, _ = timed(empty, executor, options)
                    summaries = [summary for summary, _ in result.values()]
                    cpu = sum(seconds for _, seconds in result.values())
                    if reference is None:
                        reference = summaries
                    same = "yes" if summaries == reference else "NO"
                    load = os.getloadavg()[0]
                    name = label + suffix
                    if name not in best or wall < best[name][0]:
                        best[name] = (wall, overhead / args.runs, startup, load, cpu)
                    print(f"round {round_}, {name}: {wall:.1f} s, {cpu:.1f} CPU s in the runs, "
                          f"no-op tasks {overhead / args.runs * 1e3:.2f} ms each, same results: "
                          f"{same}, load {load:.2f}", flush=True)  # fmt: skip
    rows = [(name, *figures) for name, figures in best.items()]
    base = rows[0][1]
    print(
        "\n| executor | sweep wall (best round) | ratio to in-process | CPU s in the runs "
        "| cores obtained | overhead per task | start-up | load (1 min) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, wall, per_task, startup, load, cpu in rows:
        print(f"| {name} | {wall:.1f} s | {wall / base:.2f} | {cpu:.1f} | {cpu / wall:.2f} "
              f"| {per_task * 1e3:.2f} ms | {startup:.1f} s | {load:.1f} |")  # fmt: skip
    per_run = rows[0][5] / args.runs  # CPU per run: what a dedicated worker core would take
    seeds, workers = args.paper_seeds, args.paper_workers
    compute = seeds * per_run / workers
    print(
        f"\nCPU per run: {per_run * 1e3:.0f} ms; on paper, {seeds:,} seeds on "
        f"{workers} workers: compute {compute / 3600:.2f} h (runs x per run / workers)"
    )
    for name, _, per_task, _, _, _ in rows[2:]:
        scheduler = seeds * per_task
        print(f"  {name}: scheduling {per_task * 1e3:.2f} ms per run -> {scheduler / 3600:.2f} h "
              f"if serial; total {max(compute, scheduler) / 3600:.2f} h (overlapped) to "
              f"{(compute + scheduler) / 3600:.2f} h (not)")  # fmt: skip
    after = os.getloadavg()
    print(f"load after {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
