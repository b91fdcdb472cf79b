"""One simulated run from a handful of knobs: what ``swimcore simulate`` and the benchmarks use.

A :class:`Scenario` says how big the cluster is, how it forms (bootstrapped, or joining
through seeds until every view is complete), what the links do (latency, loss) and how many
crashes, partitions and pauses strike at random times in the first half of the run.
:func:`run_scenario` builds it, runs it with a progress callback and returns a
:class:`Outcome`: the :class:`~swimcore.transports.sim.metrics.Report` plus wall and CPU time, peak
memory and the trace digest.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from typing import Any

import attrs

from swimcore import Config
from swimcore.transports.sim.checkers import SafetyChecker
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.faults import LinkFaults
from swimcore.transports.sim.metrics import Recorder, Report
from swimcore.transports.sim.ops import Crash, Op, Partition, Pause
from swimcore.transports.sim.rng import derive_rng

#: Called with (simulated seconds done, simulated seconds in all, datagrams sent so far).
Progress = Callable[[float, float, int], None]


@attrs.frozen(slots=True, kw_only=True)
class Scenario:
    """What to simulate.  Times in seconds, ``latency`` and ``jitter`` too."""

    nodes: int = 100
    preset: str = "lan"
    loss: float = 0.0
    latency: float = 0.001
    jitter: float = 0.0
    crashes: int = 1
    partitions: int = 0
    pauses: int = 0
    #: Simulated seconds after the cluster formed.
    duration: float = 60.0
    seed: int = 0
    #: Bootstrapped (everyone knows everyone) or joining through ``seeds`` seeds.
    bootstrap: bool = True
    seeds: int = 3
    #: Seconds between two joins when not bootstrapped.
    join_spread: float = 0.01
    #: Longest wait for a joining cluster to converge before the faults start.
    form_limit: float = 600.0
    #: Run the safety checkers on every transition (costs little; sweeps are not run).
    check: bool = True
    #: Hash every datagram and event (needed for the digest; about 10% slower).
    trace: bool = True
    #: Record every update's dissemination (not only the crashes').
    updates: bool = True
    #: Config fields changed from the preset, as (name, value) pairs.
    overrides: tuple[tuple[str, Any], ...] = ()

    def config(self) -> Config:
        return Config.preset(self.preset, **dict(self.overrides))

    def faults(self) -> LinkFaults:
        return LinkFaults(latency=self.latency, jitter=self.jitter, loss=self.loss)


@attrs.frozen(slots=True)
class Outcome:
    """A finished run: its measurements and what it cost."""

    scenario: Scenario
    report: Report
    plan: tuple[tuple[float, Op], ...]
    #: Simulated seconds the joining cluster took to converge (0 when bootstrapped).
    formed_in: float | None
    formed_wall: float
    wall: float
    cpu: float
    peak_rss_mb: float
    converged: bool
    violations: tuple[str, ...]
    digest: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "scenario": attrs.asdict(self.scenario),
            "plan": [[when, type(op).__name__, attrs.asdict(op)] for when, op in self.plan],
            "formed_in": self.formed_in,
            "formed_wall": self.formed_wall,
            "wall": self.wall,
            "cpu": self.cpu,
            "peak_rss_mb": self.peak_rss_mb,
            "converged": self.converged,
            "violations": list(self.violations),
            "digest": self.digest,
            "report": self.report.to_dict(),
        }


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fault_plan(scenario: Scenario, start: float) -> list[tuple[float, Op]]:
    """Crashes, partitions and pauses at random times in the first half of the run."""
    rng = derive_rng(scenario.seed, "scenario")
    size = scenario.nodes
    window = (start + 1.0, start + max(1.0, scenario.duration / 2))
    plan: list[tuple[float, Op]] = []
    victims = rng.sample(range(size), min(scenario.crashes, max(0, size - 1)))
    for victim in victims:
        plan.append((round(rng.uniform(*window), 3), Crash(victim)))
    for _ in range(scenario.partitions):
        side = rng.sample(range(size), max(1, rng.randint(1, max(1, size // 3))))
        duration = round(rng.uniform(5.0, 15.0), 3)
        plan.append(
            (round(rng.uniform(*window), 3), Partition(tuple(sorted(side)), True, duration))
        )
    for _ in range(scenario.pauses):
        pause = Pause(rng.randrange(size), round(rng.uniform(1.0, 5.0), 3))
        plan.append((round(rng.uniform(*window), 3), pause))
    plan.sort(key=lambda item: item[0])
    return plan


def run_scenario(
    scenario: Scenario,
    progress: Progress | None = None,
    building: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Build, form, fault, run and measure one scenario.

    ``progress(simulated, duration, datagrams)`` is called once a simulated second;
    ``building(nodes, size)`` while the cluster is built (see :class:`SimCluster`).
    """
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    cluster = SimCluster(
        scenario.nodes,
        seed=scenario.seed,
        config=scenario.config(),
        faults=scenario.faults(),
        bootstrap=scenario.bootstrap,
        seeds=scenario.seeds,
        join_spread=scenario.join_spread,
        trace=scenario.trace,
        building=building,
    )
    checker = SafetyChecker(cluster.net) if scenario.check else None
    formed_in: float | None = 0.0
    if not scenario.bootstrap:
        formed_in = _form(cluster, scenario.form_limit)
    formed_wall = time.perf_counter() - started_wall
    start = cluster.now
    recorder = Recorder(cluster, updates=scenario.updates)
    plan = fault_plan(scenario, start)
    cluster.schedule(plan)
    end = start + scenario.duration
    sent = cluster.net.counts
    while cluster.now < end:
        cluster.run_until(min(end, cluster.now + 1.0))
        if progress is not None:
            progress(cluster.now - start, scenario.duration, sent.get("sent", 0))
    report = recorder.report()
    return Outcome(
        scenario=scenario,
        report=report,
        plan=tuple(plan),
        formed_in=formed_in,
        formed_wall=formed_wall,
        wall=time.perf_counter() - started_wall,
        cpu=time.process_time() - started_cpu,
        peak_rss_mb=peak_rss_mb(),
        converged=cluster.converged(),
        violations=tuple(str(v) for v in checker.violations[:50]) if checker else (),
        digest=cluster.net.trace_digest if scenario.trace else "",
    )


def _form(cluster: SimCluster, limit: float) -> float | None:
    """Run until every node lists every node; the simulated time it took, or ``None``."""
    start = cluster.now
    everyone = frozenset(h.node.name for h in cluster.hosts)
    while cluster.now - start < limit:
        cluster.run_for(cluster.config.probe_interval)
        if all(h.node.members_are(everyone) for h in cluster.hosts):
            return cluster.now - start
    return None
