"""The tuner's figure: detection time against false-death rate, one point per candidate.

Needs matplotlib (the ``plot`` extra); :func:`plot_tuning` raises
:class:`~swimcore.transports.sim.plot.PlotUnavailable` without it.  The x axis is symmetric-log so
that
candidates with no false death at all still show (at 0); error bars are the repeat ranges the
table prints; dashed lines are the goals; the recommendation is the red star.
"""

from __future__ import annotations

from swimcore.transports.sim.plot import _pyplot
from swimcore.transports.sim.tuning.search import TuneResult


def plot_tuning(result: TuneResult, path: str) -> None:
    """Draw ``result`` into ``path`` (PNG)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 5.2))
    goals = result.request.goals
    smallest = min(
        (s.prediction.false_deaths.value for s in result.scored if s.prediction.false_deaths.value),
        default=0.01,
    )
    for i, scored in enumerate(result.scored):
        p = scored.prediction
        x, y = p.false_deaths, p.detect_p99
        best = i == result.best
        axes.errorbar(
            [x.value],
            [y.value],
            xerr=[[x.value - x.low], [x.high - x.value]],
            yerr=[[y.value - y.low], [y.high - y.value]],
            fmt="*" if best else "o",
            markersize=16 if best else 6,
            color="tab:red" if best else ("tab:blue" if scored.meets else "0.55"),
            ecolor="0.75",
            capsize=2,
            zorder=3 if best else 2,
        )
        axes.annotate(
            f"#{i + 1}", (x.value, y.value), textcoords="offset points", xytext=(5, 4), fontsize=8
        )
    if goals.detect_within is not None:
        axes.axhline(goals.detect_within, color="k", linestyle="--", linewidth=0.8)
    if goals.false_deaths_per_member_day is not None:
        axes.axvline(goals.false_deaths_per_member_day, color="k", linestyle="--", linewidth=0.8)
    # Below a millionth per member-day, rates are as good as zero: keep the axis readable.
    linthresh = max(1e-6, min(smallest, goals.false_deaths_per_member_day or 1.0))
    axes.set_xscale("symlog", linthresh=linthresh)
    largest = max(s.prediction.false_deaths.high for s in result.scored)
    axes.set_xlim(left=0.0, right=max(largest, goals.false_deaths_per_member_day or 0.0) * 2 or 1)
    axes.set_xlabel("false deaths per member-day (symmetric log scale)")
    axes.set_ylabel("seconds until every member knows of a crash (p99)")
    request = result.request
    axes.set_title(
        f"swimcore tune: {request.nodes} members, seed {request.seed} "
        f"(red star: recommended #{result.best + 1}; blue: meets the goals; dashed: goals)",
        fontsize=9,
    )
    axes.grid(True, linewidth=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
