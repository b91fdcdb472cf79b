"""Lifeguard against plain SWIM on the same seeds, in a cluster with starved members and loss.

The setting is issue 5's: 50 members, 5% of them handling everything 0.5 to 2.5 s late, 5%
packet loss, two real crashes per run.  ``SWIMCORE_SLOW=1`` (CI's ``make test-slow``) runs a
handful of seeds; the full sweep (100 seeds per setting, the figures in benchmarks/README.md)
runs with ``SWIMCORE_LONG=1``.
"""

from __future__ import annotations

import concurrent.futures
import os
import statistics

import pytest

from swimcore import Config
from swimcore.transports.sim.scenarios import StallScenario, lifeguard_off, stalled_cluster_trial
from swimcore.transports.sim.sweep import Task, sweep

PLAIN = lifeguard_off(Config.lan(verify_before_death=False))
DEFAULT = Config.lan()


def _sweep(
    config: Config, seeds: range, executor: concurrent.futures.Executor | None = None
) -> tuple[int, list[float]]:
    """Total false deaths and every first detection over ``seeds`` (one sweep; a run that
    raises twice fails the test with its seed)."""
    tasks = [Task(stalled_cluster_trial, (seed, config, StallScenario()), seed) for seed in seeds]
    deaths, detections = 0, []
    for report in sweep(tasks, executor).values():
        deaths += report.false_deaths
        detections += [d.first for d in report.detections if d.first is not None]
    return deaths, detections


@pytest.mark.slow  # a sweep: 50 s of CPU, too much for the default suite
def test_lifeguard_cuts_false_deaths_on_a_few_seeds() -> None:
    seeds = range(8)
    plain_deaths, plain_times = _sweep(PLAIN, seeds)
    ours_deaths, ours_times = _sweep(DEFAULT, seeds)
    print(
        f"\nfalse deaths over {len(seeds)} runs: plain SWIM {plain_deaths}, swimcore "
        f"{ours_deaths}; median detection {statistics.median(plain_times):.2f} s vs "
        f"{statistics.median(ours_times):.2f} s"
    )
    assert plain_deaths > 0, "the scenario must stress plain SWIM, or it shows nothing"
    assert ours_deaths * 5 <= plain_deaths
    assert statistics.median(ours_times) <= 1.2 * statistics.median(plain_times)


@pytest.mark.long
@pytest.mark.slow
def test_lifeguard_sweep_of_a_hundred_seeds_per_setting() -> None:
    seeds = range(100)
    with concurrent.futures.ProcessPoolExecutor(os.cpu_count()) as pool:
        plain_deaths, plain_times = _sweep(PLAIN, seeds, pool)
        ours_deaths, ours_times = _sweep(DEFAULT, seeds, pool)
    print(
        f"\nfalse deaths over 100 runs: plain SWIM {plain_deaths}, swimcore {ours_deaths}; "
        f"median detection {statistics.median(plain_times):.2f} s vs "
        f"{statistics.median(ours_times):.2f} s"
    )
    # Goal: at least 50 times fewer false deaths, detection within 20% of plain SWIM's.
    assert ours_deaths * 50 <= plain_deaths
    assert statistics.median(ours_times) <= 1.2 * statistics.median(plain_times)
