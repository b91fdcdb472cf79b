"""Draw the protocol page's figures from the simulator (matplotlib: the ``plot`` extra).

Run from the repository root; the PNGs are committed beside this file::

    python docs/figures/make_figures.py            # about two minutes on 2 cores

1. ``dissemination-detection.png``: 1,000 members on the LAN preset, three crashes: how news of
   each crash spreads (fraction informed per protocol period) and the detection latencies.
2. ``lifeguard.png``: 50 members, 5% of them starved of CPU in bursts, 5% loss (the Lifeguard
   paper's setting), 10 seeds: false suspicions and false deaths with plain SWIM, with
   Lifeguard, and with swimcore's defaults (Lifeguard plus the last-chance probe).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from swimcore import Config
from swimcore.transports.sim.plot import plot_report
from swimcore.transports.sim.scenario import Scenario, run_scenario
from swimcore.transports.sim.scenarios import StallScenario, lifeguard_off, stalled_cluster_trial

HERE = Path(__file__).resolve().parent
SEEDS = range(1, 11)
SETTINGS = {
    "plain SWIM": lifeguard_off(Config.lan(verify_before_death=False)),
    "Lifeguard": Config.lan(verify_before_death=False),
    "swimcore defaults": Config.lan(),
}


def dissemination() -> None:
    outcome = run_scenario(Scenario(nodes=1000, crashes=3, seed=7))
    plot_report(
        outcome.report,
        str(HERE / "dissemination-detection.png"),
        title="1,000 members, LAN preset, 3 crashes (swimcore simulate --nodes 1000 --crashes 3)",
    )


def lifeguard() -> None:
    suspicions, deaths = [], []
    for config in SETTINGS.values():
        reports = [stalled_cluster_trial(seed, config, StallScenario()) for seed in SEEDS]
        suspicions.append(sum(r.false_suspicions for r in reports) / len(reports))
        deaths.append(sum(r.false_deaths for r in reports) / len(reports))
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    names = list(SETTINGS)
    left.bar(names, suspicions, color="tab:orange")
    left.set_title("false suspicions per run")
    right.bar(names, deaths, color="tab:red")
    right.set_title("false deaths per run")
    figure.suptitle(f"50 members, 5% starved of CPU, 5% loss, 120 s; mean of {len(SEEDS)} seeds")
    figure.tight_layout()
    figure.savefig(HERE / "lifeguard.png", dpi=110)
    for name, s, d in zip(names, suspicions, deaths, strict=True):
        print(f"{name}: {s:.1f} false suspicions, {d:.2f} false deaths per run")


if __name__ == "__main__":
    dissemination()
    lifeguard()
