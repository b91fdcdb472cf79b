"""The tuner's report as text: the candidates table, the recommendation, the code to paste.

Everything here is a pure function of the
:class:`~swimcore.transports.sim.tuning.search.TuneResult`,
with fixed number formats, so the same seed prints the same report byte for byte.
"""

from __future__ import annotations

from swimcore.transports.sim.tuning.estimate import Interval
from swimcore.transports.sim.tuning.model import Goals, NetworkModel
from swimcore.transports.sim.tuning.search import Scored, TuneResult

_GOAL_NAMES = {
    "detect_within": "detection p99",
    "false_deaths": "false deaths",
    "bandwidth": "bandwidth",
}


def number(value: float) -> str:
    """Three significant figures; whole numbers from 1,000 up; exponents only below 0.001."""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:.0f}"
    if abs(value) < 0.001:
        return f"{value:.1e}"
    return f"{value:.3g}"


def pm(interval: Interval) -> str:
    """``value ±half`` (the half-width of the repeat range, two significant figures)."""
    half = interval.high - interval.value
    text = f"{half:.2g}" if 0.001 <= half < 100 else number(half)
    return f"{number(interval.value)} ±{text}"


def describe_network(network: NetworkModel) -> str:
    rtt = f"rtt {number(network.rtt * 1000)} ms"
    if network.rtt_spread:
        rtt += f" ±{number(network.rtt_spread * 1000)} ms"
    parts = [rtt, f"loss {number(network.loss * 100)}%"]
    if network.stalls:
        shape = "on average, exponential" if network.stall_shape == "exp" else "each"
        parts.append(
            f"stalls {number(network.stall_rate)} per member-hour, "
            f"{number(network.stall_length)} s long ({shape})"
        )
    else:
        parts.append("no stalls")
    return ", ".join(parts)


def describe_goals(goals: Goals) -> str:
    parts = []
    if goals.detect_within is not None:
        parts.append(f"every member knows of a crash within {number(goals.detect_within)} s (p99)")
    if goals.false_deaths_per_member_day is not None:
        parts.append(
            f"at most {number(goals.false_deaths_per_member_day)} false deaths per member-day"
        )
    if goals.bandwidth is not None:
        parts.append(f"at most {number(goals.bandwidth)} bytes/s per member")
    return "; ".join(parts) if parts else "none given (the fastest detection wins)"


def _row(position: int, scored: Scored, best: bool) -> list[str]:
    config = scored.candidate.config
    p = scored.prediction
    missed = ", ".join(_GOAL_NAMES[name] for name in scored.misses)
    return [
        f"{'*' if best else ' '}{position}",
        f"{number(config.probe_interval)} s",
        f"{number(config.probe_timeout)} s",
        str(config.suspicion_mult),
        str(config.indirect_checks),
        str(config.retransmit_mult),
        pm(p.detect_median),
        pm(p.detect_p99),
        pm(p.dissemination_median),
        pm(p.false_suspicions),
        pm(p.false_deaths),
        pm(p.bytes_per_second),
        "yes" if scored.meets else f"no: {missed}",
    ]


_HEADER = [
    "#",
    "interval",
    "timeout",
    "mult",
    "k",
    "rt",
    "detect p50 (s)",
    "detect p99 (s)",
    "dissem. p50 (s)",
    "false susp./day",
    "false deaths/day",
    "bytes/s",
    "meets goals",
]
_RIGHT = {1, 2, 3, 4, 5}


def table(result: TuneResult) -> str:
    """The candidates table (the recommendation starred)."""
    rows = [_HEADER] + [_row(i + 1, s, i == result.best) for i, s in enumerate(result.scored)]
    widths = [max(len(r[c]) for r in rows) for c in range(len(_HEADER))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            cell.rjust(widths[c]) if c in _RIGHT else cell.ljust(widths[c])
            for c, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def legend(result: TuneResult) -> str:
    request = result.request
    seeds = request.seeds
    first = result.scored[0].prediction
    text = [
        "interval/timeout: probe_interval/probe_timeout; mult: suspicion_mult; "
        "k: indirect_checks; rt: retransmit_mult.",
        f"detect: seconds from a crash until every member has declared it dead "
        f"({first.crashes} crashes per candidate; p99 of so few is close to the worst seen); "
        "dissem.: from the first member hearing of the failure until every member has.",
        "false susp./deaths: episodes per member-day of a live member suspected / declared dead "
        "(loss and stalls); bytes/s: sent per member (datagrams and anti-entropy exchanges).",
        f"±: the 95% range in which a repeat of the simulation with {seeds} fresh seeds lands.",
    ]
    refined = [str(i + 1) for i, s in enumerate(result.scored) if s.candidate.kind == "refined"]
    if refined:
        text.append(
            f"#{', #'.join(refined)}: a second look, halfway in suspicion_mult between the first "
            "choice and its neighbours."
        )
    if request.simulated() < request.nodes:
        text.append(
            f"Simulated {request.simulated()} members and extrapolated to {request.nodes}: "
            "after the first suspicion, detection and dissemination grow like log n (the "
            "suspicion timeout is suspicion_mult * log10(n) * probe_interval; gossip spreads in "
            "O(log n) rounds); stalls are mapped to the longer timeouts; update traffic grows "
            "like n * retransmit_mult * ceil(log10(n + 1)) and anti-entropy like the state size."
        )
    return "\n".join(text)


def recommendation(result: TuneResult, out: str | None = None) -> str:
    """The recommendation: why, what it predicts, the code to paste, the file written."""
    best = result.recommended
    p = best.prediction
    meeting = sum(1 for s in result.scored if s.meets)
    position = result.best + 1
    goals = result.request.goals
    lines = []
    if best.meets:
        lines.append(
            f"Recommended: #{position}, the fastest median detection among the {meeting} "
            f"candidate(s) that meet every goal."
        )
    else:
        lines.append(
            f"No candidate meets every goal. Closest: #{position}, which misses "
            + "; ".join(
                f"{_GOAL_NAMES[name]} ({number(value)} against {number(goal)})"
                for name, (value, goal) in best.misses.items()
            )
            + ". Loosen a goal, or see the table for the trade-off."
        )
    lines.append(
        f"  detection: median {number(p.detect_median.value)} s "
        f"({number(p.detect_median.low)}-{number(p.detect_median.high)}), "
        f"p99 {number(p.detect_p99.value)} s "
        f"({number(p.detect_p99.low)}-{number(p.detect_p99.high)}); "
        f"dissemination {number(p.dissemination_median.value)} s"
    )
    lines.append(
        f"  false suspicions {number(p.false_suspicions.value)} per member-day; "
        f"false deaths {number(p.false_deaths.value)} per member-day "
        f"({number(p.false_deaths.low)}-{number(p.false_deaths.high)})"
    )
    lines.append(
        f"    from stalls: {p.stall_deaths} of {p.stalls} simulated stalls ended in a false death "
        "(long stalls are over-sampled and weighted back to the real distribution)"
    )
    lines.append(
        f"    from loss and jitter alone: {p.background_deaths} in {number(p.member_days)} "
        "member-days simulated"
    )
    budget = goals.false_deaths_per_member_day
    if p.stalls and not p.stall_deaths and result.request.network.stalls:
        lines.append(
            "  note: no simulated stall was fatal; up to "
            f"{number(p.false_deaths_resolution)} false deaths per member-day could go unseen"
            + (
                " (more than the budget: add --seeds)"
                if budget is not None and p.false_deaths_resolution > budget
                else ""
            )
        )
    if p.incomplete:
        lines.append(
            f"  note: {p.incomplete} of {p.crashes} crashes were not detected by every member "
            "before the simulation gave up; their detection time counts as that cap"
        )
    lines.append(f"  bytes: {number(p.bytes_per_second.value)} per member per second")
    lines.append("")
    lines.append("Paste:")
    lines.append("    from swimcore import Config")
    lines.append(f"    config = {best.candidate.python()}")
    if out is not None:
        lines.append("")
        lines.append(f"Written to {out}; load it with:")
        lines.append("    from swimcore.config_file import load_config")
        lines.append(f"    config = load_config({out!r})")
    return "\n".join(lines)


def report(result: TuneResult, out: str | None = None) -> str:
    """The whole text report."""
    request = result.request
    how = (
        f"{request.nodes} members"
        if request.simulated() == request.nodes
        else f"{request.nodes} members (simulated {request.simulated()}, extrapolated)"
    )
    header = [
        f"swimcore tune: {how}, {len(result.scored)} candidates x {request.seeds} seeds, "
        f"seed {request.seed}",
        f"network: {describe_network(request.network)}",
        f"goals: {describe_goals(request.goals)}",
    ]
    return "\n\n".join(
        ["\n".join(header), table(result), legend(result), recommendation(result, out)]
    )
