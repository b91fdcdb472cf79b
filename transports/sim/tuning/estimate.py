"""From trials to predictions: pooled statistics, extrapolation to the target size, intervals.

Given the :class:`~swimcore.transports.sim.tuning.trial.TrialResult` of every seed of one
candidate, this
module predicts what a cluster of ``target`` members on the described network would see, and how
sure that is.

**Detection and dissemination.**  Per crash, the time until every survivor has declared the
crashed member dead, and the time from the first survivor hearing of the failure until every
survivor has.  Beyond the simulated size ``n`` they are extrapolated to the target ``N``: the
first suspicion (some member probing the dead one and failing) does not depend on the size,
and everything after it grows like log n (the suspicion timeout is ``suspicion_mult * log10 n *
probe_interval``, and infection-style dissemination takes O(log n) rounds), so a crash measured
at ``t_s + d`` predicts ``t_s + d * log N / log n`` (for ``n >= 10``; below, log10 n is taken
as 1, as the timeout formula does).

**False suspicions and false deaths per member-day.**  The background rate (episodes that start
in quiet gaps: loss and jitter) is measured per simulated member-day; the stall part is the
user's stalls per member-day times the importance-weighted mean number of episodes per stall.
Beyond the simulated size, a suspicion still starts as soon as a stalled member misses a probe,
but it takes longer to turn into a death: a simulated stall of length ``L`` ends like a real
stall of ``L + (r - 1) * tau`` at the target, ``r`` being the log ratio above and ``tau`` the
suspicion timer measured on the crashes; false deaths are re-weighted accordingly.

**Bytes per member per second.**  Datagrams: the steady rate measured in quiet gaps (probes,
acks and the background suspicions of the simulated size), plus the extra bytes of each stall
episode over that rate at the user's stall rate, with the update traffic scaled to the target
by ``N * limit(N) / (n * limit(n))``, ``limit(x) = retransmit_mult * ceil(log10(x + 1))``:
every member retransmits every update that many times, and there are N members' worth of
updates.  Anti-entropy: one full-state exchange per member per push-pull interval (scaled with
n as the node does), each carrying a state of ``N`` rows both ways, over TCP.

**Uncertainty.**  Every statistic is recomputed on bootstrap resamples, two ways: of the
episodes (the crashes, stalls and quiet gaps of all seeds, each kind on its own: episodes run
one at a time on a settled cluster, so they are close to independent, and a few dozen of them
pin a spread down better than a handful of seeds) and of the seeds (whole trials, which keeps
whatever the episodes of one seed share); the larger spread is taken.  Times are smoothed by a
normal kernel of Silverman's width, so that the range of a high percentile of a few dozen
crashes is not capped at the largest one seen.  ``low`` and ``high`` are ``value -+ sqrt(2) *
t * se``: the 95% range in which a repeat of the simulation with as many fresh seeds lands
(the repeat's own noise is the second half of the sqrt(2); ``t`` is Student's for k - 1
degrees of freedom and ``se`` the bootstrap's spread times ``sqrt(k / (k - 1))``, k being the
number of units resampled).  Rare events
have a floor the bootstrap cannot see: when no simulated stall was fatal,
``false_deaths_resolution`` is the stall-caused rate that could still hide behind that zero
(rule of three over the effective number of stalls).  False deaths from loss alone (a member
that answers but whose answers keep getting lost for a whole suspicion timeout) are far rarer
than the member-days any simulation covers; the prediction reports how many it saw in how many
member-days instead of pretending to bound them.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from typing import Any

import attrs

from swimcore import Config
from swimcore.timing import push_pull_interval, retransmit_limit, suspicion_min
from swimcore.transports.sim.tuning.model import SECONDS_PER_DAY, NetworkModel
from swimcore.transports.sim.tuning.trial import (
    CrashSample,
    GapSample,
    StallSample,
    TrialResult,
    scale_ratio,
)

Z95 = 1.959964
#: Student's t, two-sided 95%, for 1 to 30 degrees of freedom (standard table values).
T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
#: Bootstrap resamples per candidate.
RESAMPLES = 150

METRICS = (
    "detect_median",
    "detect_p99",
    "first_dead_median",
    "dissemination_median",
    "false_suspicions",
    "false_deaths",
    "bytes_per_second",
)


@attrs.frozen(slots=True)
class Interval:
    """A predicted value and the range a repeat with fresh seeds lands in (95%)."""

    value: float
    low: float
    high: float

    def contains(self, other: float) -> bool:
        return self.low <= other <= self.high

    def half_width(self) -> float:
        return max(self.value - self.low, self.high - self.value)


@attrs.frozen(slots=True, kw_only=True)
class Prediction:
    """What one candidate is predicted to do at the target size."""

    detect_median: Interval
    detect_p99: Interval
    first_dead_median: Interval
    dissemination_median: Interval
    false_suspicions: Interval
    false_deaths: Interval
    bytes_per_second: Interval
    #: Crashes simulated, and those not detected by every survivor before the cap (counted at
    #: the cap, so the detection figures are pessimistic then).
    crashes: int
    incomplete: int
    stalls: int
    #: Raw counts behind the rates.
    background_suspicions: int
    background_deaths: int
    stall_deaths: int
    member_days: float
    #: When no simulated stall was fatal, the stall-caused rate that could still go unseen
    #: (95%, rule of three over the effective number of stalls); else 0.
    false_deaths_resolution: float

    def metric(self, name: str) -> Interval:
        value: Interval = getattr(self, name)
        return value


def t95(freedom: int) -> float:
    """Two-sided 95% quantile of Student's t with ``freedom`` degrees of freedom."""
    if freedom < 1:
        raise ValueError("t needs at least one degree of freedom")
    if freedom <= len(T95):
        return T95[freedom - 1]
    z = Z95  # Cornish-Fisher expansion beyond the table
    return z + (z**3 + z) / (4 * freedom) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * freedom**2)


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile of ``values`` (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@attrs.frozen(slots=True)
class _Context:
    config: Config
    network: NetworkModel
    nodes: int
    target: int
    #: Sizes measured in the trials (the same in every trial of a candidate).
    exchange_overhead: int
    exchange_row: float
    update_bytes: int
    packet_overhead: int

    @property
    def ratio(self) -> float:
        return scale_ratio(self.nodes, self.target)

    @property
    def traffic_scale(self) -> float:
        if self.target <= self.nodes:
            return 1.0
        mult = self.config.retransmit_mult
        target = self.target * retransmit_limit(mult, self.target)
        return target / (self.nodes * retransmit_limit(mult, self.nodes))


@attrs.frozen(slots=True)
class _Pools:
    """Every episode of every trial, by kind: the units the bootstrap resamples."""

    crashes: tuple[CrashSample, ...]
    stalls: tuple[StallSample, ...]
    gaps: tuple[GapSample, ...]

    @classmethod
    def of(cls, trials: Sequence[TrialResult]) -> _Pools:
        return cls(
            tuple(c for t in trials for c in t.crashes),
            tuple(s for t in trials for s in t.stalls),
            tuple(g for t in trials for g in t.gaps),
        )

    def resample(self, rng: random.Random) -> _Pools:
        def draw(items: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(items[rng.randrange(len(items))] for _ in items) if items else ()

        return _Pools(draw(self.crashes), draw(self.stalls), draw(self.gaps))


def _times(crashes: Sequence[CrashSample], ctx: _Context) -> dict[str, list[float]]:
    """Per crash, extrapolated: every survivor declared it dead, the first did, the news
    reached every survivor after the first heard it."""
    ratio = ctx.ratio
    out: dict[str, list[float]] = {"detect": [], "first": [], "spread": []}
    for crash in crashes:
        start = crash.first_suspicion or 0.0
        out["detect"].append(start + ratio * (crash.all_dead - start))
        if crash.first_dead is not None:
            out["first"].append(start + ratio * (crash.first_dead - start))
        informed = crash.informed_all if crash.informed_all is not None else crash.all_dead
        out["spread"].append(ratio * max(0.0, informed - start))
    return out


def _bandwidths(times: dict[str, list[float]]) -> dict[str, float]:
    """Silverman's rule-of-thumb kernel width for each list of times (0 for fewer than 2)."""
    return {
        key: 1.06 * statistics.stdev(values) * len(values) ** -0.2 if len(values) > 1 else 0.0
        for key, values in times.items()
    }


def _statistics(
    pools: _Pools,
    ctx: _Context,
    smoothing: tuple[dict[str, float], random.Random] | None = None,
) -> dict[str, float]:
    """Every metric from ``pools``.  With ``smoothing`` (kernel widths and a random source),
    each time is jittered by a normal draw of its width: a smoothed bootstrap, whose high
    quantiles can exceed the largest time seen (a plain bootstrap's never do)."""
    times = _times(pools.crashes, ctx)
    if smoothing is not None:
        widths, rng = smoothing
        times = {
            key: [max(0.0, v + rng.gauss(0.0, widths[key])) for v in values]
            for key, values in times.items()
        }
    gaps, stalls = pools.gaps, pools.stalls
    exposure = sum(g.member_seconds for g in gaps)
    days = max(exposure, 1e-9) / SECONDS_PER_DAY
    per_day = ctx.network.stalls_per_member_day if ctx.network.stalls else 0.0
    count = max(1, len(stalls))
    shift = _stall_shift(pools.crashes, ctx)
    stall_susp = sum(s.weight * s.suspicions for s in stalls) / count
    stall_deaths = sum(_death_weight(s, ctx, shift) * s.deaths for s in stalls) / count
    return {
        "detect_median": quantile(times["detect"], 0.5),
        "detect_p99": quantile(times["detect"], 0.99),
        "first_dead_median": quantile(times["first"], 0.5),
        "dissemination_median": quantile(times["spread"], 0.5),
        "false_suspicions": sum(g.suspicions for g in gaps) / days + per_day * stall_susp,
        "false_deaths": sum(g.deaths for g in gaps) / days + per_day * stall_deaths,
        "bytes_per_second": _bytes(pools, ctx),
    }


def _stall_shift(crashes: Sequence[CrashSample], ctx: _Context) -> float:
    """How much longer a real stall at the target size must be to end as a simulated one did:
    ``(r - 1) * tau``, ``tau`` being the suspicion timer measured on the crashes (first
    declaration minus first suspicion, less the last-chance probe), since the timer is the
    part that grows with the size.  0 without extrapolation, and for fixed-length stalls (not
    importance-sampled, so their false deaths are the simulated size's: an overestimate)."""
    if ctx.ratio == 1.0 or ctx.network.stall_shape == "fixed":
        return 0.0
    config = ctx.config
    floor = suspicion_min(config.suspicion_mult, ctx.nodes, config.probe_interval)
    timers = [
        c.first_dead - c.first_suspicion
        for c in crashes
        if c.first_dead is not None and c.first_suspicion is not None
    ]
    timer = quantile(timers, 0.5) - config.probe_timeout if timers else floor
    return (ctx.ratio - 1.0) * max(timer, floor)


def _death_weight(sample: StallSample, ctx: _Context, shift: float) -> float:
    """``sample``'s weight as a stall ``shift`` seconds longer in the real, larger cluster."""
    if shift == 0.0 or sample.density <= 0.0:
        return sample.weight
    return ctx.network.stall_density(sample.length + shift) / sample.density


def _bytes(pools: _Pools, ctx: _Context) -> float:
    """Bytes per member per second at the target size (see the module docstring)."""
    gaps = pools.gaps
    exposure = sum(g.member_seconds for g in gaps)
    steady = sum(g.bytes for g in gaps) / max(exposure, 1e-9)
    extras = []
    weighted = 0.0
    for sample in pools.stalls:
        extra = max(0.0, sample.bytes - steady * sample.member_seconds)
        weighted += sample.weight * extra
        if sample.suspicions and not sample.deaths:
            extras.append(extra)
    per_stall = weighted / max(1, len(pools.stalls))
    if extras:
        per_episode = statistics.fmean(extras)
    else:  # no refuted suspicion seen: every member sends suspect and alive `limit` times
        per_episode = (
            2.0
            * ctx.nodes
            * retransmit_limit(ctx.config.retransmit_mult, ctx.nodes)
            * (ctx.update_bytes + ctx.packet_overhead)
        )
    episodes_per_member_second = sum(g.suspicions for g in gaps) / max(exposure, 1e-9)
    stalls_per_member_second = ctx.network.stall_rate / 3600.0 if ctx.network.stalls else 0.0
    # The steady rate already holds the background episodes at the simulated size: add their
    # growth only; the stalls' cost (measured apart from the gaps) comes in whole.
    scale = ctx.traffic_scale
    background = episodes_per_member_second * per_episode * (scale - 1.0)
    stalls = stalls_per_member_second * per_stall * scale
    config = ctx.config
    cap = (config.gossip_nodes / max(config.gossip_interval, 1e-9) + 4.0) * config.max_packet
    datagrams = min(cap, steady + background + stalls)
    state = ctx.exchange_overhead + ctx.target * ctx.exchange_row
    exchanges = (
        2.0 * state / push_pull_interval(config, ctx.target) if config.push_pull_interval else 0.0
    )
    return datagrams + exchanges


def _stall_bound(stalls: Sequence[StallSample], ctx: _Context) -> float:
    """Upper bound (95%, rule of three over the effective number of stalls) on the stall part
    of the false-death rate when no simulated stall was fatal; 0 otherwise."""
    if not stalls or not ctx.network.stalls or any(s.deaths for s in stalls):
        return 0.0
    weights = [s.weight for s in stalls]
    squares = sum(w * w for w in weights)
    effective = sum(weights) ** 2 / squares if squares else 0.0
    return ctx.network.stalls_per_member_day * 3.0 / max(effective, 1.0)


def _spread(draws: Sequence[float], units: int) -> float:
    """``t * se`` from bootstrap ``draws`` over ``units`` resampled units: the bootstrap's
    spread is sqrt((k - 1) / k) too small for k units and is itself estimated from them, hence
    the correction and Student's t with k - 1 degrees of freedom rather than the normal."""
    if units < 2 or len(draws) < 2:
        return 0.0
    return t95(units - 1) * math.sqrt(units / (units - 1)) * statistics.pstdev(draws)


#: Which episodes each metric is estimated from (its degrees of freedom follow their number).
_UNITS = {
    "detect_median": "crashes",
    "detect_p99": "crashes",
    "first_dead_median": "crashes",
    "dissemination_median": "crashes",
    "false_suspicions": "gaps",
    "false_deaths": "stalls",
    "bytes_per_second": "gaps",
}


def predict(
    trials: Sequence[TrialResult],
    config: Config,
    network: NetworkModel,
    target: int,
    *,
    rng: random.Random,
    resamples: int = RESAMPLES,
) -> Prediction:
    """The prediction for ``config`` from its ``trials`` (one per seed), at ``target`` members.

    ``rng`` draws the bootstrap resamples (the tuner passes one derived from its seed, so the
    intervals are reproducible too).
    """
    if not trials:
        raise ValueError("no trials to predict from")
    first = trials[0]
    ctx = _Context(
        config,
        network,
        first.nodes,
        target,
        first.exchange_overhead,
        first.exchange_row,
        first.update_bytes,
        first.packet_overhead,
    )
    pools = _Pools.of(trials)
    point = _statistics(pools, ctx)
    widths = _bandwidths(_times(pools.crashes, ctx))
    by_episode: dict[str, list[float]] = {name: [] for name in METRICS}
    by_seed: dict[str, list[float]] = {name: [] for name in METRICS}
    for _ in range(resamples):
        for name, value in _statistics(pools.resample(rng), ctx, (widths, rng)).items():
            by_episode[name].append(value)
        seeds = _Pools.of([trials[rng.randrange(len(trials))] for _ in trials])
        for name, value in _statistics(seeds, ctx, (widths, rng)).items():
            by_seed[name].append(value)
    intervals: dict[str, Interval] = {}
    for name in METRICS:
        units = len(getattr(pools, _UNITS[name]))
        half = math.sqrt(2.0) * max(
            _spread(by_episode[name], units), _spread(by_seed[name], len(trials))
        )
        value = point[name]
        intervals[name] = Interval(value, max(0.0, value - half), value + half)
    gaps = pools.gaps
    return Prediction(
        **intervals,
        crashes=len(pools.crashes),
        incomplete=sum(1 for c in pools.crashes if not c.complete),
        stalls=len(pools.stalls),
        background_suspicions=sum(g.suspicions for g in gaps),
        background_deaths=sum(g.deaths for g in gaps),
        stall_deaths=sum(s.deaths for s in pools.stalls),
        member_days=sum(g.member_seconds for g in gaps) / SECONDS_PER_DAY,
        false_deaths_resolution=_stall_bound(pools.stalls, ctx),
    )
