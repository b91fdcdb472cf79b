"""Stability of views under Rapid's partial-failure classes (issue 18): one row per run.

    python benchmarks/bench_stability.py --nodes 100 --minutes 10 [--faulty 1] [--seeds 1,2]
        [--settings plain,previous,new] [--set FIELD=VALUE ...] [--jobs 1] [FAULT ...]

``--seeds`` takes numbers and ranges (``1,4-6``).  After the rows, one line counts the runs in
which a healthy member was reported suspect, unstable or dead.

Each row is :meth:`swimcore.transports.sim.stability.StabilityReport.row` for one run of
:func:`~swimcore.transports.sim.stability.run_stability`.  Settings: ``plain`` is SWIM with
suspicion and no Lifeguard (nor the last-chance probe), ``previous`` is ``Config.lan()`` with
every stability mechanism off (the defaults before issue 18), ``new`` is ``Config.lan()`` as it
is now; ``all`` is ``previous`` with the three mechanisms on (gate, corroborate, damp);
``gate``, ``corroborate``, ``damp`` and ``hold`` are ``previous`` with one mechanism on.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from typing import Any

import attrs

from swimcore import Config
from swimcore.transports.sim.scenarios import lifeguard_off
from swimcore.transports.sim.stability import FAULTS, header, run_stability

#: Every stability mechanism off: the defaults before issue 18.
OFF: dict[str, Any] = {
    "stability_health_gate": False,
    "stability_accusers": 1,
    "stability_damping": False,
    "stability_suspect_hold": 0.0,
}


def settings() -> dict[str, Config]:
    """The configurations a row may run, by label."""
    new = Config.lan()
    previous = Config.lan(**OFF)
    return {
        "plain": lifeguard_off(attrs.evolve(previous, verify_before_death=False)),
        "previous": previous,
        "new": new,
        "gate": attrs.evolve(previous, stability_health_gate=True),
        "corroborate": attrs.evolve(previous, stability_accusers=2),
        "damp": attrs.evolve(previous, stability_damping=True),
        "hold": attrs.evolve(previous, stability_suspect_hold=new.probe_interval * 3),
        "all": attrs.evolve(
            previous, stability_health_gate=True, stability_accusers=2, stability_damping=True
        ),
        "full": attrs.evolve(
            previous,
            stability_health_gate=True,
            stability_accusers=2,
            stability_damping=True,
            stability_suspect_hold=new.probe_interval * 3,
        ),
    }


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def run(
    task: tuple[str, str, int, int, int, float, float, tuple[tuple[str, Any], ...]],
) -> tuple[str, bool]:
    """One row of the table, and whether a healthy member was reported suspect, unstable or
    dead in that run."""
    setting, fault, nodes, faulty, seed, rate, minutes, changes = task
    config = attrs.evolve(settings()[setting], **dict(changes))
    start = time.perf_counter()
    report = run_stability(
        nodes,
        fault,
        faulty=faulty,
        rate=rate,
        minutes=minutes,
        seed=seed,
        config=config,
        setting=setting,
    )
    row = f"{report.row()} seed {seed} <!-- {time.perf_counter() - start:.0f} s wall -->"
    harmed = report.healthy_suspicions or report.healthy_unstable or report.healthy_deaths
    return row, bool(harmed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("faults", nargs="*", metavar="FAULT", help=f"any of {', '.join(FAULTS)}")
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--faulty", type=int, default=None, help="default: 1%% of the members")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=0.8, help="loss rate of the lossy faults")
    parser.add_argument("--seeds", default="1", help="comma-separated seeds and ranges (1,4-6)")
    parser.add_argument("--settings", default="previous,new", help="comma-separated labels")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    unknown = [f for f in args.faults if f not in FAULTS]
    if unknown:
        parser.error(f"unknown fault {unknown[0]!r}: choose from {', '.join(FAULTS)}")
    labels = args.settings.split(",")
    if any(label not in settings() for label in labels):
        parser.error(f"settings: choose from {', '.join(settings())}")
    changes = tuple((k, _value(v)) for k, _, v in (s.partition("=") for s in args.set))
    faulty = args.faulty if args.faulty is not None else max(1, args.nodes // 100)
    tasks = [
        (label, fault, args.nodes, faulty, int(seed), args.rate, args.minutes, changes)
        for fault in args.faults or FAULTS
        for seed in seeds(args.seeds)
        for label in labels
    ]
    print(header(setting=True))
    pool = multiprocessing.Pool(args.jobs) if args.jobs > 1 else None
    harmed = 0
    for row, harm in pool.imap(run, tasks) if pool is not None else map(run, tasks):
        print(row, flush=True)
        harmed += harm
    if pool is not None:
        pool.close()
    print(f"{len(tasks)} runs; a healthy member reported suspect, unstable or dead in {harmed}")


def seeds(text: str) -> list[int]:
    """``"1,4-6"`` -> ``[1, 4, 5, 6]``."""
    found: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        found += range(int(low), int(high or low) + 1)
    return found


if __name__ == "__main__":
    main()
