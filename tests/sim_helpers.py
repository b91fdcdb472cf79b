"""Helpers shared by the simulator tests (tests/test_sim_*.py): sweeps, settling, scenarios."""

from __future__ import annotations

import math

from swimcore import Config
from swimcore.transports.sim.checkers import SafetyChecker, convergence_deadline
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.metrics import Recorder
from swimcore.transports.sim.ops import (
    Chaos,
    Corruption,
    Crash,
    Join,
    Leave,
    LossBurst,
    OneWayLoss,
    Op,
    Partition,
    Pause,
    Restart,
)

#: LAN timing with quicker anti-entropy, so partitions heal within short simulated runs.
FAST = Config.lan(push_pull_interval=10.0, gossip_to_the_dead_time=15.0, reclaim_time=30.0)


def sweep_every_period(cluster: SimCluster, checker: SafetyChecker) -> None:
    """Run ``checker.sweep()`` once per protocol period from now on."""
    period = cluster.config.probe_interval

    def again() -> None:
        checker.sweep()
        cluster.net.at(cluster.now + period, again)

    cluster.net.at(cluster.now + period, again)


def settle(cluster: SimCluster, limit: float | None = None) -> float:
    """Stop every fault, then run until all views equal the running nodes.

    Returns the simulated time it took, ``inf`` when ``limit`` (default: the convergence
    deadline derived from the config) passed first.
    """
    cluster.quiesce()
    if limit is None:
        limit = convergence_deadline(cluster.config, cluster.size)
    start = cluster.now
    step = cluster.config.probe_interval
    while not cluster.converged():
        if cluster.now - start >= limit:
            return math.inf
        cluster.run_for(step)
    return cluster.now - start


def every_fault(size: int) -> list[tuple[float, Op]]:
    """A script that uses every fault kind once, within the first 30 simulated seconds."""
    return [
        (3.0, Crash(1)),
        (4.0, Pause(2, 3.0)),
        (5.0, Partition((3, 4), both_ways=False, duration=6.0)),
        (6.0, LossBurst(0.3, 3.0)),
        (7.0, Corruption(0.05, 4.0)),
        (7.0, Chaos(0.2, 4.0)),
        (8.0, OneWayLoss(5, 0.5, 4.0)),
        (9.0, Partition((6,), duration=5.0)),
        (12.0, Leave(size - 1)),
        (14.0, Join()),
        (20.0, Restart(1)),
        (22.0, Crash(7)),
        (26.0, Restart(7, bump=True)),
    ]


def run_every_fault(seed: int, size: int = 12) -> tuple[SimCluster, SafetyChecker, Recorder]:
    """A bootstrapped cluster through :func:`every_fault`, checked and measured, then settled."""
    cluster = SimCluster(size, seed=seed, config=FAST)
    checker = SafetyChecker(cluster.net)
    recorder = Recorder(cluster)
    sweep_every_period(cluster, checker)
    cluster.schedule(every_fault(size))
    cluster.run_until(32.0)
    return cluster, checker, recorder
