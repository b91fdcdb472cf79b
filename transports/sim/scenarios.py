"""Canned experiments on the simulator, shared by tests, benchmarks and the tuner.

:func:`stalled_cluster_trial` is the Lifeguard paper's setting: a cluster where a few members
are starved of CPU (they handle everything late, in bursts), the network drops packets, and a
few healthy members really crash.  It returns the run's :class:`Report`: false suspicions and
false deaths (of members that never crashed, the starved ones included) and the detection
latency of the real crashes.
"""

from __future__ import annotations

import functools

import attrs

from swimcore import Config
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.faults import LinkFaults
from swimcore.transports.sim.metrics import Recorder, Report
from swimcore.transports.sim.ops import Crash, Pause
from swimcore.transports.sim.rng import derive_rng


@attrs.frozen(slots=True, kw_only=True)
class StallScenario:
    """The knobs of :func:`stalled_cluster_trial` (defaults: issue 5's setting)."""

    nodes: int = 50
    #: Fraction of the members that are starved for the whole run.
    stalled_fraction: float = 0.05
    #: Each stall lasts uniformly between these many seconds ...
    stall_min: float = 0.5
    stall_max: float = 2.5
    #: ... and the starved member then runs for this long (uniform) before the next one.
    run_min: float = 0.2
    run_max: float = 1.0
    loss: float = 0.05
    latency: float = 0.001
    jitter: float = 0.002
    #: Healthy members that crash, spread over the run after ``warmup``.
    crashes: int = 2
    warmup: float = 10.0
    duration: float = 120.0

    def stalled(self) -> int:
        return max(1, round(self.nodes * self.stalled_fraction)) if self.stalled_fraction else 0


def lifeguard_off(config: Config) -> Config:
    """``config`` with every Lifeguard extension switched off: plain SWIM + suspicion."""
    return attrs.evolve(
        config,
        lifeguard_awareness=False,
        lifeguard_dynamic_suspicion=False,
        lifeguard_buddy=False,
    )


def stalled_cluster_trial(seed: int, config: Config, scenario: StallScenario) -> Report:
    """One run of ``scenario`` with ``config`` under master ``seed``."""
    faults = LinkFaults(latency=scenario.latency, jitter=scenario.jitter, loss=scenario.loss)
    cluster = SimCluster(scenario.nodes, seed=seed, config=config, faults=faults, trace=False)
    recorder = Recorder(cluster, updates=False)
    rng = derive_rng(seed, "stall-scenario")
    order = list(range(scenario.nodes))
    rng.shuffle(order)
    stalled = order[: scenario.stalled()]
    doomed = order[len(stalled) : len(stalled) + scenario.crashes]
    end = scenario.duration

    def stall(index: int) -> None:
        length = rng.uniform(scenario.stall_min, scenario.stall_max)
        cluster.apply(Pause(index, length))
        gap = length + rng.uniform(scenario.run_min, scenario.run_max)
        if cluster.now + gap < end:
            cluster.net.at(cluster.now + gap, functools.partial(stall, index))

    for index in stalled:
        first = rng.uniform(0.0, scenario.stall_max)
        cluster.net.at(first, functools.partial(stall, index))
    span = max(1.0, end - scenario.warmup - 40.0)
    plan = sorted((scenario.warmup + rng.uniform(0.0, span), index) for index in doomed)
    cluster.schedule((when, Crash(index)) for when, index in plan)
    cluster.run_until(end)
    return recorder.report()
