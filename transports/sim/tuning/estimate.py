"""From trials to predictions: pooled statistics, extrapolation to the target size, intervals.

Given the :class:`~transports.sim.tuning.trial.TrialResult` of every seed of one candidate, this
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

**Uncertainty.**  Every statistic is recomputed on bootstrap resamples of the seeds (whole
trials; times are smoothed by a normal kernel of Silverman's width, so that the range of a high
percentile of a few dozen crashes is not capped at the largest one seen).  ``low`` and ``high``
are ``value -+ 1.96 * sqrt(2) * se``: the 95% range in which a repeat of the simulation with as
many fresh seeds lands (the repeat's own noise is the second half of the sqrt(2)).  Rare events
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

import attrs

from swimcore import Config
from swimcore.suspicion import min_timeout
from transports.sim.tuning.model import SECONDS_PER_DAY, NetworkModel
from transports.sim.tuning.trial import StallSample, TrialResult, scale_ratio

Z95 = 1.959964
#: Bootstrap resamples per candidate.
RESAMPLES = 200

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


def limit(retransmit_mult: int, nodes: int) -> int:
    """How many times each member retransmits each update in a cluster of ``nodes``."""
    return retransmit_mult * math.ceil(math.log10(nodes + 1))


def push_pull_interval(config: Config, nodes: int) -> float:
    """The node's anti-entropy period in a cluster of ``nodes`` (Node._push_pull_interval)."""
    scale = 1 if nodes <= 32 else math.ceil(math.log2(nodes) - math.log2(32)) + 1
    return config.push_pull_interval * scale


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

    @property
    def ratio(self) -> float:
        return scale_ratio(self.nodes, self.target)

    @property
    def traffic_scale(self) -> float:
        if self.target <= self.nodes:
            return 1.0
        mult = self.config.retransmit_mult
        return (self.target * limit(mult, self.target)) / (self.nodes * limit(mult, self.nodes))


def _times(trials: Sequence[TrialResult], ctx: _Context) -> dict[str, list[float]]:
    """Per crash, extrapolated: every survivor declared it dead, the first did, the news
    reached every survivor after the first heard it."""
    ratio = ctx.ratio
    out: dict[str, list[float]] = {"detect": [], "first": [], "spread": []}
    for trial in trials:
        for crash in trial.crashes:
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
    trials: Sequence[TrialResult],
    ctx: _Context,
    smoothing: tuple[dict[str, float], random.Random] | None = None,
) -> dict[str, float]:
    """Every metric from ``trials`` (pooled).  With ``smoothing`` (kernel widths and a random
    source), each time is jittered by a normal draw of its width: a smoothed bootstrap, whose
    high quantiles can exceed the largest time seen (a plain bootstrap's never do)."""
    times = _times(trials, ctx)
    if smoothing is not None:
        widths, rng = smoothing
        times = {
            key: [max(0.0, v + rng.gauss(0.0, widths[key])) for v in values]
            for key, values in times.items()
        }
    detect, first, spread = times["detect"], times["first"], times["spread"]
    exposure = sum(t.background_member_seconds for t in trials)
    days = max(exposure, 1e-9) / SECONDS_PER_DAY
    stalls = [s for t in trials for s in t.stalls]
    per_day = ctx.network.stalls_per_member_day if ctx.network.stalls else 0.0
    count = max(1, len(stalls))
    stall_susp = sum(s.weight * s.suspicions for s in stalls) / count
    shift = _stall_shift(trials, ctx)
    stall_deaths = sum(_death_weight(s, ctx, shift) * s.deaths for s in stalls) / count
    bg_susp = sum(t.background_suspicions for t in trials)
    bg_deaths = sum(t.background_deaths for t in trials)
    return {
        "detect_median": quantile(detect, 0.5),
        "detect_p99": quantile(detect, 0.99),
        "first_dead_median": quantile(first, 0.5),
        "dissemination_median": quantile(spread, 0.5),
        "false_suspicions": bg_susp / days + per_day * stall_susp,
        "false_deaths": bg_deaths / days + per_day * stall_deaths,
        "bytes_per_second": _bytes(trials, ctx, bg_susp, exposure),
    }


def _stall_shift(trials: Sequence[TrialResult], ctx: _Context) -> float:
    """How much longer a real stall at the target size must be to end as a simulated one did:
    ``(r - 1) * tau``, ``tau`` being the suspicion timer measured on the crashes (first
    declaration minus first suspicion, less the last-chance probe), since the timer is the
    part that grows with the size.  0 without extrapolation, and for fixed-length stalls (not
    importance-sampled, so their false deaths are the simulated size's: an overestimate)."""
    if ctx.ratio == 1.0 or ctx.network.stall_shape == "fixed":
        return 0.0
    config = ctx.config
    floor = min_timeout(config.suspicion_mult, ctx.nodes, config.probe_interval)
    timers = [
        c.first_dead - c.first_suspicion
        for t in trials
        for c in t.crashes
        if c.first_dead is not None and c.first_suspicion is not None
    ]
    timer = quantile(timers, 0.5) - config.probe_timeout if timers else floor
    return (ctx.ratio - 1.0) * max(timer, floor)


def _death_weight(sample: StallSample, ctx: _Context, shift: float) -> float:
    """``sample``'s weight as a stall ``shift`` seconds longer in the real, larger cluster."""
    if shift == 0.0 or sample.density <= 0.0:
        return sample.weight
    return ctx.network.stall_density(sample.length + shift) / sample.density


def _bytes(
    trials: Sequence[TrialResult], ctx: _Context, bg_suspicions: int, exposure: float
) -> float:
    """Bytes per member per second at the target size (see the module docstring)."""
    gap_seconds = sum(t.gap_member_seconds for t in trials)
    steady = sum(t.gap_bytes for t in trials) / max(gap_seconds, 1e-9)
    extras = []
    weighted = 0.0
    samples = [s for t in trials for s in t.stalls]
    for sample in samples:
        extra = max(0.0, sample.bytes - steady * sample.member_seconds)
        weighted += sample.weight * extra
        if sample.suspicions and not sample.deaths:
            extras.append(extra)
    per_stall = weighted / max(1, len(samples))
    first = trials[0]
    if extras:
        per_episode = statistics.fmean(extras)
    else:  # no refuted suspicion seen: every member sends suspect and alive `limit` times
        per_episode = (
            2.0
            * ctx.nodes
            * limit(ctx.config.retransmit_mult, ctx.nodes)
            * (first.update_bytes + first.packet_overhead)
        )
    episodes_per_member_second = bg_suspicions / max(exposure, 1e-9)
    stalls_per_member_second = ctx.network.stall_rate / 3600.0 if ctx.network.stalls else 0.0
    # The steady rate already holds the background episodes at the simulated size: add their
    # growth only; the stalls' cost (measured apart from the gaps) comes in whole.
    scale = ctx.traffic_scale
    background = episodes_per_member_second * per_episode * (scale - 1.0)
    stalls = stalls_per_member_second * per_stall * scale
    config = ctx.config
    cap = (config.gossip_nodes / max(config.gossip_interval, 1e-9) + 4.0) * config.max_packet
    datagrams = min(cap, steady + background + stalls)
    state = first.exchange_overhead + ctx.target * first.exchange_row
    exchanges = (
        2.0 * state / push_pull_interval(config, ctx.target) if config.push_pull_interval else 0.0
    )
    return datagrams + exchanges


def _stall_bound(trials: Sequence[TrialResult], ctx: _Context) -> float:
    """Upper bound (95%, rule of three over the effective number of stalls) on the stall part
    of the false-death rate when no simulated stall was fatal; 0 otherwise."""
    stalls = [s for t in trials for s in t.stalls]
    if not stalls or not ctx.network.stalls or any(s.deaths for s in stalls):
        return 0.0
    weights = [s.weight for s in stalls]
    squares = sum(w * w for w in weights)
    effective = sum(weights) ** 2 / squares if squares else 0.0
    return ctx.network.stalls_per_member_day * 3.0 / max(effective, 1.0)


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
    ctx = _Context(config, network, trials[0].nodes, target)
    point = _statistics(trials, ctx)
    widths = _bandwidths(_times(trials, ctx))
    draws: dict[str, list[float]] = {name: [] for name in METRICS}
    if len(trials) > 1:
        for _ in range(resamples):
            sample = [trials[rng.randrange(len(trials))] for _ in trials]
            for name, value in _statistics(sample, ctx, (widths, rng)).items():
                draws[name].append(value)
    intervals: dict[str, Interval] = {}
    for name in METRICS:
        spread = statistics.pstdev(draws[name]) if len(draws[name]) > 1 else 0.0
        half = Z95 * math.sqrt(2.0) * spread
        value = point[name]
        intervals[name] = Interval(value, max(0.0, value - half), value + half)
    crashes = [c for t in trials for c in t.crashes]
    stalls = [s for t in trials for s in t.stalls]
    exposure = sum(t.background_member_seconds for t in trials)
    return Prediction(
        **intervals,
        crashes=len(crashes),
        incomplete=sum(1 for c in crashes if not c.complete),
        stalls=len(stalls),
        background_suspicions=sum(t.background_suspicions for t in trials),
        background_deaths=sum(t.background_deaths for t in trials),
        stall_deaths=sum(s.deaths for s in stalls),
        member_days=exposure / SECONDS_PER_DAY,
        false_deaths_resolution=_stall_bound(trials, ctx),
    )
