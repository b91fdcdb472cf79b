"""Figures of a simulated run (matplotlib, the ``plot`` extra): dissemination and detection.

The left panel shows, for each crash, the fraction of survivors that had heard the failure news
(suspect or dead) after each protocol period, beside a few other updates' curves; the right
panel shows the distribution of declaration latencies over every survivor of every crash, with
each crash's first suspicion and the SWIM paper's expectation for it, e/(e-1) protocol periods.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

from swimcore.transports.sim.metrics import Report


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def _pyplot() -> Any:
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        raise PlotUnavailable("plotting needs matplotlib: pip install 'swimcore[plot]'") from None
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def plot_report(report: Report, path: str, *, title: str = "") -> None:
    """Draw ``report``'s dissemination curves and detection latencies into ``path`` (PNG)."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    period = report.probe_interval
    others = [u for u in report.updates if u.kind in ("suspect", "dead", "alive")][:30]
    for update in others:
        left.plot(range(len(update.curve)), update.curve, color="0.8", linewidth=0.8)
    for detection in report.detections:
        left.plot(
            range(len(detection.curve)),
            detection.curve,
            marker="o",
            markersize=3,
            label=f"crash of {detection.name}",
        )
    left.set_xlabel("protocol periods since the crash (or the update appeared)")
    left.set_ylabel("fraction of nodes informed")
    left.set_ylim(0, 1.05)
    left.set_title("dissemination (grey: other updates)")
    if report.detections and len(report.detections) <= 8:
        left.legend(fontsize=7, loc="lower right")
    latencies = [t / period for d in report.detections for t in d.latencies]
    if latencies:
        right.hist(latencies, bins=min(50, max(5, int(math.sqrt(len(latencies))))))
    expected = math.e / (math.e - 1)
    right.axvline(expected, color="k", linestyle="--", label="SWIM: first suspicion, e/(e-1)")
    firsts = [d.first_suspicion / period for d in report.detections if d.first_suspicion]
    for first in firsts:
        right.axvline(first, color="tab:red", linewidth=0.8)
    right.set_xlabel("declared dead after (protocol periods)")
    right.set_ylabel("survivors")
    right.set_title("detection latency (red: first suspicion of each crash)")
    right.legend(fontsize=7)
    figure.suptitle(title or f"{report.nodes} nodes, {report.duration:.0f} s simulated")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
