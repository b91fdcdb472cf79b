"""Stability of views under Rapid's partial-failure classes (issue 18): one row per fault.

    python benchmarks/bench_stability.py --nodes 100 --minutes 2 [--faulty 1] [--seed 1]
        [FAULT ...]

Each row is :meth:`swimcore.transports.sim.stability.StabilityReport.row` for one run of
:func:`~swimcore.transports.sim.stability.run_stability` on ``Config.lan()``.
"""

from __future__ import annotations

import argparse
import time

from swimcore.transports.sim.stability import FAULTS, run_stability

HEADER = (
    "| fault | members | faulty | changes/pair/min (median) | (max) | healthy suspected |"
    " healthy dead | faulty out of every view after | stayed out | views differ |\n"
    "|---|---:|---:|---:|---:|---:|---:|---|---|---:|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("faults", nargs="*", metavar="FAULT", help=f"any of {', '.join(FAULTS)}")
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--faulty", type=int, default=None, help="default: 1% of the members")
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=0.8, help="loss rate of the lossy faults")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    unknown = [f for f in args.faults if f not in FAULTS]
    if unknown:
        parser.error(f"unknown fault {unknown[0]!r}: choose from {', '.join(FAULTS)}")
    faulty = args.faulty if args.faulty is not None else max(1, args.nodes // 100)
    print(HEADER)
    for fault in args.faults or FAULTS:
        start = time.perf_counter()
        report = run_stability(
            args.nodes, fault, faulty=faulty, rate=args.rate, minutes=args.minutes, seed=args.seed
        )
        print(report.row(), f"<!-- {time.perf_counter() - start:.0f} s wall -->", flush=True)


if __name__ == "__main__":
    main()
