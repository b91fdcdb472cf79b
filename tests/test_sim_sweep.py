"""Seed sweeps: many small clusters under random fault plans, each checked end to end.

Every run draws a plan of random faults (crashes with restarts, leaves, joins, pauses, one- and
two-way partitions, loss bursts, one-way loss, corruption, duplication and reordering) from its
seed, checks the safety invariants on every transition and every period, then stops the faults
and requires convergence within the deadline derived from the config and the detection of each
crash (not followed by a restart) by every survivor.  A failing seed is named in the message
and replays exactly: ``run_seed(seed)``.

The default suite sweeps 100 seeds of 12 nodes, 20 simulated seconds of faults (about 15 s of
CPU); ``SWIMCORE_SLOW=1`` (CI's ``make test-slow``) 100 more, and ``SWIMCORE_LONG=1`` 2,000 seeds
of 16 nodes under three times the fault rates.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sim_helpers import FAST, settle, sweep_every_period

from swimcore.cli import main
from swimcore.transports.sim.checkers import SafetyChecker, view_differences
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.executors import load_distributed, local_cluster
from swimcore.transports.sim.metrics import Recorder
from swimcore.transports.sim.plan import FaultRates, random_plan
from swimcore.transports.sim.rng import derive_rng
from swimcore.transports.sim.scenario import Scenario
from swimcore.transports.sim.seed_sweep import seed_tasks
from swimcore.transports.sim.sweep import SweepError, SweepOptions, Task, sweep

RATES = FaultRates(
    crash=0.1,
    pause=0.1,
    partition=0.05,
    loss_burst=0.1,
    join=0.03,
    leave=0.02,
    one_way_loss=0.05,
    corruption=0.05,
    chaos=0.05,
)
HARSH = FaultRates(
    crash=0.3,
    pause=0.3,
    partition=0.15,
    loss_burst=0.3,
    join=0.09,
    leave=0.06,
    one_way_loss=0.15,
    corruption=0.15,
    chaos=0.15,
)


def run_seed(
    seed: int, size: int = 12, window: float = 20.0, rates: FaultRates = RATES
) -> list[str]:
    """One checked run; returns what went wrong (empty when all is well)."""
    cluster = SimCluster(size, seed=seed, config=FAST)
    checker = SafetyChecker(cluster.net)
    recorder = Recorder(cluster, updates=False)
    sweep_every_period(cluster, checker)
    cluster.schedule(random_plan(derive_rng(seed, "plan"), size, 1.0, 1.0 + window, rates))
    cluster.run_until(1.0 + window)
    problems = [f"seed {seed}: {v}" for v in checker.violations[:5]]
    if settle(cluster) == float("inf"):
        problems.append(
            f"seed {seed}: no convergence: "
            f"{view_differences(cluster.views(), cluster.expected_view())[:3]}"
        )
    problems += [
        f"seed {seed}: crash of {d.name} declared by {d.detected_by}/{d.survivors}"
        for d in recorder.report().detections
        if d.restarted_at is None and d.detected_by < d.survivors
    ]
    return problems


def sweep_seeds(
    seeds: range, executor: concurrent.futures.Executor | None = None, **knobs: Any
) -> list[str]:
    """``run_seed`` over ``seeds`` through the sweep layer: every problem, and every seed whose
    run raised (twice), named."""
    tasks = [Task(functools.partial(run_seed, **knobs), (seed,), seed) for seed in seeds]
    result = sweep(tasks, executor)
    problems = [p for found in result.results if found is not None for p in found]
    return problems + [f"seed {f.seed}: {f.error}" for f in result.failures]


@pytest.mark.parametrize(
    "first",
    [
        pytest.param(first, marks=[pytest.mark.slow] if first >= 100 else [])
        for first in range(0, 200, 25)
    ],
)
def test_200_seeds_of_random_faults(first: int) -> None:
    assert sweep_seeds(range(first, first + 25)) == []


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.parametrize("first", range(10_000, 12_000, 100))
def test_2000_seeds_of_harsh_faults(first: int) -> None:
    with concurrent.futures.ProcessPoolExecutor(os.cpu_count()) as pool:
        found = sweep_seeds(range(first, first + 100), pool, size=16, window=40.0, rates=HARSH)
    assert found == []


def test_a_seed_that_raises_is_named_not_lost() -> None:
    found = sweep_seeds(range(3), size=0)  # a cluster of no nodes cannot even be built
    assert [p.split(":")[0] for p in found] == ["seed 0", "seed 1", "seed 2"]


def test_a_plan_replays_exactly() -> None:
    plans = [random_plan(derive_rng(9, "plan"), 12, 1.0, 21.0, RATES) for _ in range(2)]
    assert plans[0] == plans[1]
    assert len(plans[0]) > 10
    assert random_plan(derive_rng(10, "plan"), 12, 1.0, 21.0, RATES) != plans[0]


def test_no_rates_no_faults() -> None:
    assert random_plan(derive_rng(0, "plan"), 12, 0.0, 100.0, FaultRates.none()) == []


# --- the sweep layer (swimcore.transports.sim.sweep) ------------------------------------------


def _square_after(seed: int, delay: float) -> tuple[int, int]:
    time.sleep(delay)
    return seed, seed * seed


def _flaky(seed: int, marker: str) -> int:
    """Fails the first time it runs for ``marker`` (a file), succeeds the second time."""
    path = Path(marker)
    if not path.exists():
        path.write_text("failed once")
        raise RuntimeError(f"first attempt of seed {seed}")
    return seed


def _always_fails(seed: int) -> NoReturn:
    raise ValueError(f"seed {seed} is cursed")


def _hang(seed: int) -> int:
    time.sleep(4.0)  # far longer than the stall timeout below
    return seed


def _die(seed: int) -> NoReturn:
    os._exit(3)


@pytest.mark.parametrize("batch", [1, 4])
def test_results_come_back_in_task_order_whatever_finishes_first(batch: int) -> None:
    # Later tasks finish first on the pool; the results are still in task order.
    tasks = [Task(_square_after, (seed, 0.05 * (6 - seed)), seed) for seed in range(6)]
    progress: list[tuple[int, int]] = []
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        pooled = sweep(
            tasks,
            pool,
            progress=lambda d, t: progress.append((d, t)),
            options=SweepOptions(batch=batch),
        )
    here = sweep(tasks)
    assert pooled == here
    assert pooled.values() == [(s, s * s) for s in range(6)]
    assert progress == [(k, 6) for k in range(7)]


def test_a_failed_task_is_retried_once(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    result = sweep([Task(_flaky, (4, str(marker)), 4)])
    assert result.values() == [4] and result.failures == ()
    assert marker.read_text() == "failed once"


@pytest.mark.parametrize("pooled", [False, True])
def test_a_task_that_fails_twice_is_reported_with_its_seed(pooled: bool) -> None:
    tasks: list[Task[tuple[int, int]]] = [
        Task(_square_after, (1, 0.0), 1),
        Task(_always_fails, (7,), 7, "scenario x"),
    ]
    with concurrent.futures.ProcessPoolExecutor(1) as pool:
        result = sweep(tasks, pool if pooled else None)
    assert result.results == ((1, 1), None)
    (failure,) = result.failures
    assert (failure.index, failure.seed, failure.attempts) == (1, 7, 2)
    assert failure.error == "ValueError: seed 7 is cursed"
    assert result.failed_seeds() == [7]
    with pytest.raises(SweepError, match="scenario x seed 7: ValueError"):
        result.values()


def test_a_failing_run_does_not_take_its_batch_mates_with_it() -> None:
    tasks = [Task(_square_after, (s, 0.0), s) for s in range(5)]
    tasks[2] = Task(_always_fails, (2,), 2)
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        result = sweep(tasks, pool, options=SweepOptions(batch=3))
    assert result.results == ((0, 0), (1, 1), None, (3, 9), (4, 16))
    assert [(f.seed, f.attempts, f.error) for f in result.failures] == [
        (2, 2, "ValueError: seed 2 is cursed")
    ]


@pytest.mark.parametrize("bad", [{"batch": 0}, {"retries": -1}, {"stall_timeout": 0.0}])
def test_sweep_options_are_checked(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        SweepOptions(**bad)


def test_a_stalled_worker_cannot_hang_the_sweep() -> None:
    tasks: list[Task[tuple[int, int] | int]] = [
        Task(_square_after, (0, 0.0), 0),
        Task(_hang, (5,), 5),
    ]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        result = sweep(tasks, pool, options=SweepOptions(stall_timeout=0.5))
        assert time.monotonic() - started < 3.0  # two bounded waits, not the task's 8 s
        assert result.results[0] == (0, 0)
        (failure,) = result.failures
        assert failure.seed == 5 and failure.attempts == 2
        assert "no result within 0.5 s" in failure.error


def test_a_dead_process_pool_is_a_clear_failure_not_a_hang() -> None:
    tasks: list[Task[tuple[int, int]]] = [
        Task(_die, (3,), 3),
        *(Task(_square_after, (s, 0.0), s) for s in range(4)),
    ]
    with concurrent.futures.ProcessPoolExecutor(1) as pool:
        result = sweep(tasks, pool, options=SweepOptions(stall_timeout=30.0))
    assert 3 in result.failed_seeds()
    assert all("BrokenProcessPool" in f.error for f in result.failures)
    assert len(result.failures) + sum(r is not None for r in result.results) == 5


# --- the same sweep in-process, on a process pool and on a Dask cluster ------------------------

#: A fault scenario over many seeds: the default variant is small, the slow one is 200 seeds of
#: 100 nodes.  The default's point is byte equality across executors, not the cluster's size: 12
#: nodes for 20 s (a quarter of the work of 30 nodes for 30 s) still crash, partition, pause and
#: detect on every seed, and 16 seeds on two processes still finish out of order.
FAULTS = ["--crashes", "2", "--partitions", "1", "--pauses", "1", "--loss", "0.02"]
SIM_SWEEP = ["simulate", "--nodes", "12", *FAULTS, "--duration", "20", "--seeds", "16"]
SIM_SWEEP_SLOW = ["simulate", "--nodes", "100", *FAULTS, "--duration", "15", "--seeds", "200"]
#: The README's LAN of 10 (the slow variant with the README's 8 seeds per candidate).
LAN10 = ["tune", "--nodes", "10", "--rtt", "0.5", "--rtt-spread", "0.3", "--loss", "0.005"]
LAN10 += ["--stall-rate", "1", "--stall-length", "0.5", "--detect-within", "5"]
LAN10 += ["--false-deaths-per-member-day", "0.02", "--bandwidth", "2000"]
#: The default variant's trials are smaller (5 simulated members, one crash and four stalls per
#: trial, a sixth of the work): the whole grid and its refinements still run as separate tasks on
#: every executor; the slow variant keeps the README's full trials.
SMALL_TRIALS = ["--sim-nodes", "5", "--crashes", "1", "--stalls", "4"]


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    """A Dask LocalCluster of two worker processes, started by the test itself."""
    with local_cluster(2) as cluster:
        yield cluster.scheduler_address


def _everywhere(argv: list[str], scheduler: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """``argv``'s stdout in-process, on two processes and on the Dask cluster."""
    outputs = []
    for where in (
        ["--executor", "local"],
        ["--executor", "processes", "--jobs", "2"],
        ["--executor", "dask", "--scheduler", scheduler],
    ):
        main([*argv, "--quiet", *where])
        outputs.append(capsys.readouterr().out)
    return outputs


def _check_simulate_sweep(outputs: list[str], runs: int) -> None:
    assert outputs[0] == outputs[1] == outputs[2]
    assert f": {runs} runs, 0 failed" in outputs[0]
    assert "crash known to all     p50 " in outputs[0]
    assert "sweep digest" in outputs[0]


def test_a_seed_sweep_gives_the_same_bytes_on_every_executor(
    dask_scheduler: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = _everywhere(SIM_SWEEP, dask_scheduler, capsys)
    _check_simulate_sweep(outputs, 16)
    # Not vacuous: other seeds give another report.
    main([*SIM_SWEEP, "--seed", "100", "--quiet", "--executor", "local"])
    assert capsys.readouterr().out != outputs[0]


@pytest.mark.slow
def test_200_seeds_of_100_nodes_give_the_same_bytes_on_every_executor(
    dask_scheduler: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _check_simulate_sweep(_everywhere(SIM_SWEEP_SLOW, dask_scheduler, capsys), 200)


@pytest.mark.parametrize(
    "search",
    [
        pytest.param(["--seeds", "2", *SMALL_TRIALS], id="2"),
        pytest.param(["--seeds", "8"], id="8", marks=pytest.mark.slow),
    ],
)
def test_tune_gives_the_same_bytes_on_every_executor(
    search: list[str], dask_scheduler: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = _everywhere([*LAN10, *search], dask_scheduler, capsys)
    assert outputs[0] == outputs[1] == outputs[2]
    assert "config = Config.lan(" in outputs[0]


def test_a_killed_dask_worker_changes_nothing_and_hangs_nothing(dask_scheduler: str) -> None:
    distributed = load_distributed()
    scenario = Scenario(nodes=30, crashes=2, loss=0.02, duration=20.0, updates=False)
    tasks = seed_tasks(scenario, range(12))
    here = sweep(tasks)
    killed: list[int] = []
    with distributed.Client(dask_scheduler, timeout=60) as client:
        client.wait_for_workers(2, timeout=120)
        pids = sorted(client.run(os.getpid).values())

        def kill_one(done: int, total: int) -> None:
            if done == 3 and not killed:  # both single-threaded workers are busy now
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        options = SweepOptions(stall_timeout=120.0)
        remote = sweep(tasks, client.get_executor(), progress=kill_one, options=options)
        client.wait_for_workers(2, timeout=120)  # the nanny restarted the dead one
        after = sorted(client.run(os.getpid).values())
    assert killed == [pids[0]] and pids[0] not in after
    assert remote.failures == ()
    assert remote == here
    assert all(not s.broken for s in remote.values())
