"""The search: every candidate on every seed, then the recommendation.

:func:`tune` runs one trial per (candidate, seed) as one sweep
(:func:`~swimcore.transports.sim.sweep.sweep`: here, on a process pool when ``jobs > 1``, or on
any executor it is handed, a Dask cluster's included); results come back in (candidate, seed)
order, so the outcome never depends on where or in which order the trials ran; then it turns
each candidate's trials into a
:class:`~swimcore.transports.sim.tuning.estimate.Prediction` and picks the recommendation:

* a candidate *meets* the goals when its predicted 99th-percentile detection time is within
  ``detect_within``, its false deaths per member-day within the budget and its bytes per member
  per second within the bandwidth (point predictions; goals left out always hold);
* among those that meet them, the one with the fastest median detection wins (then p99, then
  fewer bytes);
* if none does, the closest one is recommended — the smallest sum of relative excesses over the
  goals — and the result says which goals it misses and by how much;
* then the suspicion multipliers halfway between that choice and its grid neighbours are tried
  too (``candidates.refinements``), and the choice is made again among everything.

Trial seeds are the same for every candidate (common random numbers), so differences between
candidates are not drowned in seed-to-seed noise.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from swimcore import Config, ConfigError
from swimcore.transports.sim.rng import derive_rng, derive_seed
from swimcore.transports.sim.sweep import DEFAULTS, SweepOptions, Task, sweep
from swimcore.transports.sim.tuning.candidates import Candidate, grid, refinements
from swimcore.transports.sim.tuning.estimate import Prediction, predict
from swimcore.transports.sim.tuning.model import Goals, NetworkModel
from swimcore.transports.sim.tuning.trial import TrialPlan, TrialResult, run_trial

#: Largest cluster simulated by default; bigger targets are extrapolated (see estimate).
DEFAULT_SIM_NODES = 32
#: Called with (trials done, trials in all).
Progress = Callable[[int, int], None]


@attrs.frozen(slots=True, kw_only=True)
class TuneRequest:
    """Everything that decides a tuning run's result (and nothing that does not)."""

    nodes: int
    network: NetworkModel
    goals: Goals = attrs.field(factory=Goals)
    seeds: int = 8
    seed: int = 0
    #: Members simulated (default: ``nodes``, at most :data:`DEFAULT_SIM_NODES`).
    sim_nodes: int | None = None
    #: Base preset ("lan", "wan" or "local"; default: from the round-trip time).
    preset: str | None = None
    crashes: int = 3
    stalls: int = 16

    def __attrs_post_init__(self) -> None:
        if self.nodes < 3:
            raise ConfigError(f"tuning needs a cluster of at least 3 members, got {self.nodes}")
        if self.seeds < 1:
            raise ConfigError(f"seeds must be at least 1, got {self.seeds}")
        if self.sim_nodes is not None and not 3 <= self.sim_nodes <= self.nodes:
            raise ConfigError(f"sim_nodes must be within 3..{self.nodes}, got {self.sim_nodes}")

    def simulated(self) -> int:
        return self.sim_nodes or min(self.nodes, DEFAULT_SIM_NODES)

    def plan(self) -> TrialPlan:
        return TrialPlan(
            nodes=self.simulated(),
            target_nodes=self.nodes,
            crashes=self.crashes,
            stalls=self.stalls,
        )

    def trial_seeds(self) -> list[int]:
        return [derive_seed(self.seed, "tune-trial", k) for k in range(self.seeds)]


@attrs.frozen(slots=True)
class Scored:
    """One candidate with its prediction and how it stands against the goals."""

    candidate: Candidate
    prediction: Prediction
    #: Goals missed: name -> (predicted, goal).
    misses: dict[str, tuple[float, float]]

    @property
    def meets(self) -> bool:
        return not self.misses

    def excess(self) -> float:
        return sum((value - goal) / max(goal, 1e-9) for value, goal in self.misses.values())


@attrs.frozen(slots=True)
class TuneResult:
    request: TuneRequest
    scored: tuple[Scored, ...]
    #: Index into ``scored`` of the recommendation.
    best: int

    @property
    def recommended(self) -> Scored:
        return self.scored[self.best]


def run_trials(
    configs: Sequence[Config],
    network: NetworkModel,
    plan: TrialPlan,
    seeds: Sequence[int],
    *,
    jobs: int = 1,
    executor: concurrent.futures.Executor | None = None,
    progress: Progress | None = None,
    options: SweepOptions = DEFAULTS,
) -> list[list[TrialResult]]:
    """Every config on every seed: ``result[c][s]``, the same whatever runs it.

    On ``executor`` when given, else on a pool of ``jobs`` processes (here when ``jobs`` is 1).
    ``options`` bound every wait (see ``sweep``).  A trial that fails twice raises
    :class:`~swimcore.transports.sim.sweep.SweepError` naming its seed.
    """
    tasks = [
        Task(run_trial, (config, network, plan, seed), seed, f"candidate {c}")
        for c, config in enumerate(configs)
        for seed in seeds
    ]
    with contextlib.ExitStack() as stack:
        if executor is None and jobs > 1:
            executor = stack.enter_context(concurrent.futures.ProcessPoolExecutor(jobs))
        flat = sweep(tasks, executor, progress=progress, options=options).values()
    width = len(seeds)
    return [flat[c * width : (c + 1) * width] for c in range(len(configs))]


def evaluate(
    config: Config,
    request: TuneRequest,
    seeds: Sequence[int],
    *,
    jobs: int = 1,
    executor: concurrent.futures.Executor | None = None,
    progress: Progress | None = None,
    stream: str = "evaluate",
) -> Prediction:
    """Predict ``config`` alone with trials under ``seeds`` (an independent check of a tuning
    run uses seeds the run did not)."""
    trials = run_trials([config], request.network, request.plan(), seeds, jobs=jobs,
                        executor=executor, progress=progress)[0]  # fmt: skip
    rng = derive_rng(request.seed, "tune-bootstrap", stream)
    return predict(trials, config, request.network, request.nodes, rng=rng)


def _misses(prediction: Prediction, goals: Goals) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    checks = (
        ("detect_within", prediction.detect_p99.value, goals.detect_within),
        ("false_deaths", prediction.false_deaths.value, goals.false_deaths_per_member_day),
        ("bandwidth", prediction.bytes_per_second.value, goals.bandwidth),
    )
    for name, value, goal in checks:
        if goal is not None and value > goal:
            out[name] = (value, goal)
    return out


def choose(scored: Sequence[Scored]) -> int:
    """Index of the recommendation among ``scored`` (see the module's rules)."""

    def speed(i: int) -> tuple[float, float, float, int]:
        p = scored[i].prediction
        return (p.detect_median.value, p.detect_p99.value, p.bytes_per_second.value, i)

    meeting = [i for i, s in enumerate(scored) if s.meets]
    if meeting:
        return min(meeting, key=speed)
    return min(range(len(scored)), key=lambda i: (round(scored[i].excess(), 9), *speed(i)))


def tune(
    request: TuneRequest,
    *,
    jobs: int = 1,
    executor: concurrent.futures.Executor | None = None,
    progress: Progress | None = None,
    candidates: Sequence[Candidate] | None = None,
    refine: bool = True,
    options: SweepOptions = DEFAULTS,
) -> TuneResult:
    """Simulate every candidate (default: :func:`grid`), then (with ``refine``) the suspicion
    multipliers halfway to the best one's neighbours, and recommend one.  Trials run on
    ``executor`` when given, else on ``jobs`` processes."""
    tried = list(candidates) if candidates is not None else grid(request.network, request.preset)
    if not tried:
        raise ConfigError("no candidate configuration fits this network (round trips too long?)")
    first = len(tried) * request.seeds

    def stage(offset: int, total: int) -> Progress | None:
        if progress is None:
            return None
        report = progress
        return lambda done, _: report(offset + done, total)

    with contextlib.ExitStack() as stack:
        if executor is None and jobs > 1:
            executor = stack.enter_context(concurrent.futures.ProcessPoolExecutor(jobs))
        score = functools.partial(_score, executor=executor, options=options)
        scored = score(request, tried, 0, progress=stage(0, first))
        extra = refinements(tried[choose(scored)], tried) if refine else []
        if extra:
            total = first + len(extra) * request.seeds
            scored += score(request, extra, len(tried), progress=stage(first, total))
    return TuneResult(request, tuple(scored), choose(scored))


def _score(
    request: TuneRequest,
    candidates: Sequence[Candidate],
    offset: int,
    *,
    executor: concurrent.futures.Executor | None,
    progress: Progress | None,
    options: SweepOptions,
) -> list[Scored]:
    results = run_trials(
        [c.config for c in candidates],
        request.network,
        request.plan(),
        request.trial_seeds(),
        executor=executor,
        progress=progress,
        options=options,
    )
    scored = []
    for index, (candidate, trials) in enumerate(zip(candidates, results, strict=True)):
        rng = derive_rng(request.seed, "tune-bootstrap", offset + index)
        prediction = predict(trials, candidate.config, request.network, request.nodes, rng=rng)
        scored.append(Scored(candidate, prediction, _misses(prediction, request.goals)))
    return scored


def finite(value: float) -> float | None:
    """``value`` for JSON (``None`` when not finite)."""
    return value if math.isfinite(value) else None


def to_dict(result: TuneResult) -> dict[str, Any]:
    """A JSON-ready description of ``result``."""
    request = result.request
    return {
        "request": attrs.asdict(request),
        "simulated_nodes": request.simulated(),
        "candidates": [
            {
                "preset": s.candidate.preset,
                "kind": s.candidate.kind,
                "changes": s.candidate.changes(),
                "prediction": attrs.asdict(s.prediction),
                "meets": s.meets,
                "misses": {k: list(v) for k, v in s.misses.items()},
            }
            for s in result.scored
        ],
        "recommended": result.best,
    }
