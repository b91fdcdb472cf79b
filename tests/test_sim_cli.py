"""``swimcore simulate``: the command line over the simulator."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from swimcore.cli import main
from swimcore.transports.sim import seed_sweep


def test_simulate_prints_a_summary_with_detection(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", "--nodes", "30", "--crashes", "2", "--duration", "40", "--seed", "4"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.count("crash 10.0.0.") == 2
    assert "28/28 survivors" in out
    assert "invariant violations   0" in out
    assert "40.0/40 s simulated" in err  # the progress bar went to stderr


def test_simulate_json_is_complete_and_replays(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--nodes", "20", "--join", "--join-seeds", "3", "--loss", "0.05"]
    argv += ["--pauses", "1", "--partitions", "1", "--duration", "30", "--json", "--quiet"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["digest"] == second["digest"] != ""
    assert first["formed_in"] is not None and first["formed_in"] > 0
    assert first["scenario"]["loss"] == 0.05 and first["scenario"]["latency"] == 0.001
    report = first["report"]
    assert report["nodes"] == 20 and len(report["detections"]) == 1
    assert report["network"]["pauses"] == 1 and report["network"]["partitions"] == 1
    assert report["network"]["dropped.loss"] > 0
    assert sorted(kind for _, kind, _ in first["plan"]) == ["Crash", "Partition", "Pause"]


def test_plot_without_matplotlib_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    real = importlib.import_module

    def no_matplotlib(name: str, *args: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_matplotlib)
    target = tmp_path / "run.png"
    code = main(["simulate", "--nodes", "5", "--duration", "5", "--plot", str(target)])
    assert code == 2
    assert "pip install 'swimcore[plot]'" in capsys.readouterr().err
    assert not target.exists()


def test_plot_draws_the_figure(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "run.png"
    argv = ["simulate", "--nodes", "40", "--crashes", "2", "--duration", "30", "--quiet"]
    assert main([*argv, "--plot", str(target)]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "bad", [["--nodes", "0"], ["--loss", "1.5"], ["--latency", "-1"], ["--duration", "0"]]
)
def test_bad_arguments_are_rejected(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", *bad]) == 2
    assert f"argument {bad[0]}: want" in capsys.readouterr().err


def test_set_changes_the_preset(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--nodes", "10", "--crashes", "0", "--duration", "10", "--json", "--quiet"]
    assert main([*argv, "--set", "push_pull_interval=0", "--set", "probe_interval=0.5"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["scenario"]["overrides"] == [["push_pull_interval", 0.0], ["probe_interval", 0.5]]
    assert run["report"]["probe_interval"] == 0.5
    assert run["report"]["network"].get("exchanges", 0) == 0  # no anti-entropy at all
    assert main(["simulate", "--set", "probe_timeout=5", "--quiet"]) == 2
    assert "must not exceed probe_interval" in capsys.readouterr().err


SWEEP = ["simulate", "--nodes", "12", "--crashes", "1", "--pauses", "1", "--duration", "20"]


def test_seeds_sweeps_and_reports_percentiles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SWEEP, "--seeds", "5", "--seed", "10", "--executor", "local", "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["seeds"] == [10, 11, 12, 13, 14] and data["runs"] == 5
    assert [s["seed"] for s in data["per_seed"]] == data["seeds"]
    assert data["detection_all"]["p50"] is not None
    assert data["detection_all"]["p50"] <= data["detection_all"]["p99"]
    assert data["detection_all"]["p99"] <= data["detection_all"]["max"]
    assert data["broken"] == [] and data["failed"] == []
    assert "5/5 runs" in err and "5 runs in" in err  # progress and wall time on stderr only


def test_a_broken_seed_is_listed_and_replays_alone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = seed_sweep.missed_deadlines

    def seed_12_is_late(outcome: Any) -> list[str]:
        late = ["made-up deadline"] if outcome.scenario.seed == 12 else []
        return real(outcome) + late

    monkeypatch.setattr(seed_sweep, "missed_deadlines", seed_12_is_late)
    argv = [*SWEEP, "--seeds", "4", "--seed", "10", "--executor", "local", "--quiet"]
    assert main(argv) == 1
    text = capsys.readouterr().out
    assert "broken seeds           12\n" in text
    assert "  seed 12: made-up deadline" in text
    replay = next(line for line in text.splitlines() if line.startswith("replay one: "))
    command = replay.removeprefix("replay one: swimcore ").split()
    assert command[-2:] == ["--seed", "12"]
    assert main([*argv, "--json"]) == 1
    swept = json.loads(capsys.readouterr().out)["per_seed"][2]
    assert main([*command, "--json", "--quiet"]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert alone["digest"] == swept["digest"] != ""
    assert alone["report"]["false_deaths"] == swept["false_deaths"]


def test_dask_without_the_extra_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.import_module

    def no_dask(name: str, *args: Any) -> Any:
        if name.startswith(("dask", "distributed")):
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_dask)
    assert main([*SWEEP, "--seeds", "3", "--executor", "dask", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == "swimcore simulate: --executor dask needs Dask: pip install 'swimcore[dask]'\n"


def test_scheduler_needs_the_dask_executor(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*SWEEP, "--seeds", "2", "--executor", "processes", "--scheduler", "tcp://x:1"]
    assert main(argv) == 2
    assert "--scheduler goes with --executor dask" in capsys.readouterr().err


def test_plot_draws_one_run_not_a_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SWEEP, "--seeds", "2", "--plot", "x.png"]) == 2
    assert "leave out --seeds" in capsys.readouterr().err


def test_progress_shows_from_the_start_while_the_cluster_is_built(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 19, item 6: a large simulation says what it does from its first second."""
    # 1,500 nodes: progress is shown every 1,000 nodes built, so this is the smallest kind of
    # run with a step on the way and a last step that is not a multiple of 1,000 (as 2,500 was).
    assert main(["simulate", "--nodes", "1500", "--duration", "1", "--crashes", "0"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "building 1,500 nodes ..."
    built = [i for i, line in enumerate(lines) if "nodes built" in line]
    simulated = [i for i, line in enumerate(lines) if "s simulated" in line]
    assert "1,000/1,500 nodes built" in lines[built[0]]
    assert "1,500/1,500 nodes built" in lines[built[-1]]
    assert built and simulated and built[-1] < simulated[0]


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["simulate", "--plot", "{missing}/run.png"], "--plot"),
        (["simulate", "--plot", "{tmp}/run.txt"], "--plot"),
        (["simulate", "--plot", "{tmp}"], "--plot"),
        (["tune", "--plot", "{missing}/tuning.png"], "--plot"),
        (["tune", "--out", "{missing}/tuned.toml"], "--out"),
    ],
)
def test_an_output_file_that_cannot_be_written_is_refused_before_the_run(
    argv: list[str], option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Refused at once, in one line naming the option, not after minutes of simulation.
    filled = [a.format(tmp=tmp_path, missing=tmp_path / "missing") for a in argv]
    assert main([*filled, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"argument {option}: " in err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


FAULT = ["simulate", "--nodes", "10", "--duration", "5", "--quiet", "--fault", "one-way"]
TAKES = "--fault (it runs the partial failure alone and takes"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # --fault ran its partial failure and ignored the scenario's network and faults.
        ([*FAULT, "--loss", "0.3"], f"--loss does not apply with {TAKES}"),
        (
            [
                *FAULT,
                "--loss",
                "0.3",
                "--latency",
                "50",
                "--crashes",
                "3",
                "--partitions",
                "2",
                "--pauses",
                "3",
                "--join",
            ],
            f"--loss, --latency, --crashes, --partitions, --pauses, --join do not apply with "
            f"{TAKES}",
        ),
        ([*FAULT, "--jitter", "5", "--join-seeds", "2"], "--jitter, --join-seeds do not apply"),
        ([*FAULT, "--jobs", "2"], f"--jobs does not apply with {TAKES}"),
        ([*FAULT, "--fault-rate", "0.5"], "--fault-rate is the loss of --fault ingress-loss"),
        # Without --fault, --faulty and --fault-rate were ignored.
        (
            ["simulate", "--faulty", "3", "--fault-rate", "0.5"],
            "--faulty, --fault-rate do not apply without --fault CLASS",
        ),
        # One run ignored where runs go; a sweep refused --scheduler without --executor dask.
        (
            ["simulate", "--scheduler", "tcp://127.0.0.1:1"],
            "--scheduler does not apply to one "
            "run: --executor, --scheduler, --jobs, --batch and --task-timeout place the runs of "
            "--seeds N",
        ),
        (
            ["simulate", "--executor", "processes", "--batch", "2"],
            "--executor, --batch do not apply to one run",
        ),
    ],
)
def test_options_the_mode_does_not_use_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"swimcore simulate: {message}"), err
    assert len(err.strip().splitlines()) == 1


def test_fault_takes_the_preset_set_and_the_rate_of_a_lossy_class(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["simulate", "--nodes", "10", "--duration", "5", "--quiet", "--json"]
    extra = ["--preset", "local", "--set", "probe_interval=0.5", "--faulty", "2", "--seed", "3"]
    assert main([*argv, "--fault", "ingress-loss", "--fault-rate", "0.5", *extra]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["fault"] == "ingress-loss" and data["faulty"] == 2
