"""Many seeds of one scenario: what ``swimcore simulate --seeds N`` runs and reports.

:func:`seed_tasks` turns a scenario and a list of seeds into sweep tasks; each runs
:func:`run_seed` (on whatever executor the sweep is given) and returns a :class:`SeedSummary`:
small, picklable, and free of wall-clock figures, so the same sweep gives the same bytes on
one process or a cluster.  :func:`sweep_report` folds the summaries into percentiles (detection
time, false deaths, traffic) and the seeds that broke something:

* an **invariant** (the safety checkers' violations), or
* a **liveness deadline**: a crash that was not restarted and that some survivor had not
  declared dead :func:`~swimcore.transports.sim.checkers.detection_deadline` seconds after the
  crash or after the last partition or pause ended (whichever is later), when the run lasted
  that long; a cluster that joined through seeds and never formed; a cluster whose views still
  differ at the end although the run went on :func:`~swimcore.transports.sim.checkers.
  convergence_deadline` seconds after the last fault.

Each listed seed replays alone with ``swimcore simulate --seed N`` and the same options.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import attrs

from swimcore.timing import detection_deadline
from swimcore.transports.sim.checkers import convergence_deadline
from swimcore.transports.sim.ops import Op, Partition, Pause
from swimcore.transports.sim.scenario import Outcome, Scenario, run_scenario
from swimcore.transports.sim.sweep import Failure, Task

#: Percentiles reported for every measure.
PERCENTILES = (50, 90, 99)


@attrs.frozen(slots=True)
class SeedSummary:
    """What one seed of a sweep measured (no wall-clock figures: the same bytes anywhere)."""

    seed: int
    #: Per crash that was not restarted: seconds until every survivor declared it dead.
    detections: tuple[float | None, ...]
    #: Per crash: seconds until the first survivor suspected it.
    first_suspicions: tuple[float | None, ...]
    false_suspicions: int
    false_deaths: int
    datagrams_per_node_period: float
    bytes_per_node_period: float
    converged: bool
    #: Safety-checker violations (the first few).
    violations: tuple[str, ...]
    #: Liveness deadlines missed, in words.
    missed: tuple[str, ...]
    digest: str

    @property
    def broken(self) -> bool:
        return bool(self.violations or self.missed)


def seed_tasks(scenario: Scenario, seeds: Sequence[int]) -> list[Task[SeedSummary]]:
    """One task per seed: ``scenario`` with that seed."""
    return [Task(run_seed, (attrs.evolve(scenario, seed=seed),), seed) for seed in seeds]


def run_seed(scenario: Scenario) -> SeedSummary:
    """Run ``scenario`` and summarise it (the function a sweep's workers call)."""
    return summarize(run_scenario(scenario))


def summarize(outcome: Outcome) -> SeedSummary:
    """The :class:`SeedSummary` of one finished run."""
    scenario, report = outcome.scenario, outcome.report
    return SeedSummary(
        seed=scenario.seed,
        detections=tuple(d.all for d in report.detections if d.restarted_at is None),
        first_suspicions=tuple(d.first_suspicion for d in report.detections),
        false_suspicions=report.false_suspicions,
        false_deaths=report.false_deaths,
        datagrams_per_node_period=report.datagrams_per_node_period,
        bytes_per_node_period=report.bytes_per_node_period,
        converged=outcome.converged,
        violations=outcome.violations[:5],
        missed=tuple(missed_deadlines(outcome)),
        digest=outcome.digest,
    )


def faults_end(plan: Sequence[tuple[float, Op]]) -> float:
    """When the last partition or pause of ``plan`` ends (0 when there is none)."""
    ends = [0.0]
    for when, op in plan:
        if isinstance(op, Pause):
            ends.append(when + op.duration)
        elif isinstance(op, Partition):
            ends.append(when + (op.duration if op.duration is not None else math.inf))
    return max(ends)


def missed_deadlines(outcome: Outcome) -> list[str]:
    """The liveness deadlines ``outcome`` missed, in words (see the module's rules)."""
    scenario, report = outcome.scenario, outcome.report
    if outcome.formed_in is None:
        return [f"did not form within {scenario.form_limit:g} s"]
    config = scenario.config()
    end = outcome.formed_in + report.duration
    quiet = faults_end(outcome.plan)
    deadline = detection_deadline(config, scenario.nodes)
    missed = []
    for d in report.detections:
        if d.restarted_at is not None:
            continue
        due = max(d.crashed_at, quiet) + deadline
        declared_by = d.crashed_at + d.all if d.all is not None else math.inf
        if due <= end and declared_by > due:
            missed.append(
                f"crash of {d.name} at {d.crashed_at:.1f} s declared by {d.detected_by}/"
                f"{d.survivors} survivors by {due:.1f} s"
            )
    settled = quiet + convergence_deadline(config, scenario.nodes)
    if not outcome.converged and settled <= end:
        missed.append(f"views still differ at {end:.1f} s (deadline {settled:.1f} s)")
    return missed


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) of ``values``, linear between ranks; ``None`` if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: Sequence[float]) -> dict[str, float | None]:
    """``{"p50": ..., "p90": ..., "p99": ..., "max": ...}`` of ``values``."""
    out: dict[str, float | None] = {f"p{q}": percentile(values, q) for q in PERCENTILES}
    out["max"] = max(values) if values else None
    return out


def sweep_report(
    scenario: Scenario,
    summaries: Sequence[SeedSummary | None],
    failures: Sequence[Failure] = (),
) -> dict[str, Any]:
    """Percentiles over the seeds and the seeds that broke something (JSON-ready, no wall
    times: the same sweep gives the same report wherever it ran).  ``digest`` hashes every
    summary, trace digests included."""
    done = [s for s in summaries if s is not None]
    detections = [d for s in done for d in s.detections if d is not None]
    undetected = sum(d is None for s in done for d in s.detections)
    suspicions = [d for s in done for d in s.first_suspicions if d is not None]
    return {
        "scenario": attrs.asdict(attrs.evolve(scenario, seed=0)) | {"seed": None},
        "seeds": sorted([s.seed for s in done] + [f.seed for f in failures]),
        "runs": len(done),
        "detection_all": spread(detections) | {"undetected": undetected},
        "first_suspicion": spread(suspicions),
        "false_deaths": spread([float(s.false_deaths) for s in done])
        | {"total": sum(s.false_deaths for s in done)},
        "false_suspicions": spread([float(s.false_suspicions) for s in done]),
        "bytes_per_node_period": spread([s.bytes_per_node_period for s in done]),
        "datagrams_per_node_period": spread([s.datagrams_per_node_period for s in done]),
        "not_converged": sum(not s.converged for s in done),
        "broken": [
            {"seed": s.seed, "violations": list(s.violations), "missed": list(s.missed)}
            for s in done
            if s.broken
        ],
        "failed": [{"seed": f.seed, "error": f.error, "attempts": f.attempts} for f in failures],
        "digest": hashlib.sha256(repr(done).encode()).hexdigest(),
        "per_seed": [attrs.asdict(s) for s in done],
    }
