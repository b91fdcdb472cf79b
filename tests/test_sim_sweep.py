"""Seed sweeps: many small clusters under random fault plans, each checked end to end.

Every run draws a plan of random faults (crashes with restarts, leaves, joins, pauses, one- and
two-way partitions, loss bursts, one-way loss, corruption, duplication and reordering) from its
seed, checks the safety invariants on every transition and every period, then stops the faults
and requires convergence within the deadline derived from the config and the detection of each
crash (not followed by a restart) by every survivor.  A failing seed is named in the message
and replays exactly: ``run_seed(seed)``.

The default sweep (200 seeds of 12 nodes, 20 simulated seconds of faults) takes well under a
minute; ``SWIMCORE_SLOW=1`` adds 2,000 seeds of 16 nodes under three times the fault rates.
"""

from __future__ import annotations

import pytest
from sim_helpers import FAST, settle, sweep_every_period

from swimcore.transports.sim.checkers import SafetyChecker, view_differences
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.metrics import Recorder
from swimcore.transports.sim.plan import FaultRates, random_plan
from swimcore.transports.sim.rng import derive_rng

RATES = FaultRates(
    crash=0.1,
    pause=0.1,
    partition=0.05,
    loss_burst=0.1,
    join=0.03,
    leave=0.02,
    one_way_loss=0.05,
    corruption=0.05,
    chaos=0.05,
)
HARSH = FaultRates(
    crash=0.3,
    pause=0.3,
    partition=0.15,
    loss_burst=0.3,
    join=0.09,
    leave=0.06,
    one_way_loss=0.15,
    corruption=0.15,
    chaos=0.15,
)


def run_seed(
    seed: int, size: int = 12, window: float = 20.0, rates: FaultRates = RATES
) -> list[str]:
    """One checked run; returns what went wrong (empty when all is well)."""
    cluster = SimCluster(size, seed=seed, config=FAST)
    checker = SafetyChecker(cluster.net)
    recorder = Recorder(cluster, updates=False)
    sweep_every_period(cluster, checker)
    cluster.schedule(random_plan(derive_rng(seed, "plan"), size, 1.0, 1.0 + window, rates))
    cluster.run_until(1.0 + window)
    problems = [f"seed {seed}: {v}" for v in checker.violations[:5]]
    if settle(cluster) == float("inf"):
        problems.append(
            f"seed {seed}: no convergence: "
            f"{view_differences(cluster.views(), cluster.expected_view())[:3]}"
        )
    problems += [
        f"seed {seed}: crash of {d.name} declared by {d.detected_by}/{d.survivors}"
        for d in recorder.report().detections
        if d.restarted_at is None and d.detected_by < d.survivors
    ]
    return problems


@pytest.mark.parametrize("first", range(0, 200, 25))
def test_200_seeds_of_random_faults(first: int) -> None:
    problems = [p for seed in range(first, first + 25) for p in run_seed(seed)]
    assert problems == []


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.parametrize("first", range(10_000, 12_000, 100))
def test_2000_seeds_of_harsh_faults(first: int) -> None:
    problems = [
        p
        for seed in range(first, first + 100)
        for p in run_seed(seed, size=16, window=40.0, rates=HARSH)
    ]
    assert problems == []


def test_a_plan_replays_exactly() -> None:
    plans = [random_plan(derive_rng(9, "plan"), 12, 1.0, 21.0, RATES) for _ in range(2)]
    assert plans[0] == plans[1]
    assert len(plans[0]) > 10
    assert random_plan(derive_rng(10, "plan"), 12, 1.0, 21.0, RATES) != plans[0]


def test_no_rates_no_faults() -> None:
    assert random_plan(derive_rng(0, "plan"), 12, 0.0, 100.0, FaultRates.none()) == []
