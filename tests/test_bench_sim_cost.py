"""``benchmarks/bench_sim_cost.py`` end to end on tiny clusters: repeated runs of one tree are
the same simulation (equal digests), the row shows the median run, and the last lines give
the growth from the smallest size to the largest (the figures themselves are benchmarks, not
asserted)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_sim_cost.py"


def test_repeated_runs_show_the_median_and_the_growth(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "runs.json"
    command = [sys.executable, str(SCRIPT), "--sizes", "8,16", "--duration", "3"]
    command += ["--warmup", "1", "--crash-at", "1", "--repeat", "3", "--json", str(out)]
    command += ["--base", str(ROOT), "--base-max", "8"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads(out.read_text())
    assert [run["nodes"] for run in runs] == [8] * 6 + [16] * 3
    for size in (8, 16):
        assert len({run["digest"] for run in runs if run["nodes"] == size}) == 1
    rows = [line for line in done.stdout.splitlines() if re.match(r"\| \d", line)]
    assert len(rows) == 2
    median = sorted(run["cpu_us_per_member_second"] for run in runs[:3])[1]
    assert rows[0].split("|")[4].strip() == f"{median:.0f}"  # the median of three
    assert rows[0].split("|")[-2].strip() == "yes"  # the same digest in the base tree
    growth = re.search(r"16 members against 8: (\d+\.\d\d)x", done.stdout)
    assert growth is not None
    large = sorted(run["cpu_us_per_member_second"] for run in runs[6:])[1]
    assert abs(float(growth.group(1)) - large / median) <= 0.006


def test_windows_split_the_same_run_and_show_the_crash_over_the_steady_one(
    tmp_path: pathlib.Path,
) -> None:
    runs = {}
    for windows in (None, "1"):
        out = tmp_path / f"{windows}.json"
        command = [sys.executable, str(SCRIPT), "--sizes", "12", "--duration", "4"]
        command += ["--warmup", "1", "--crash-at", "1", "--json", str(out)]
        command += ["--windows", windows] if windows else []
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=300, check=False, env=env
        )
        assert done.returncode == 0, done.stderr[-3000:]
        (runs[windows],) = json.loads(out.read_text())
    whole, split = runs[None], runs["1"]
    assert split["digest"] == whole["digest"]  # stepping the run changes nothing in it
    windows = split["windows"]
    assert [w["from"] for w in windows] == [1.0, 2.0, 3.0, 4.0]
    sent = sum(w["datagrams"] for w in windows)
    assert sent == round(split["datagrams_per_member_second"] * 12 * 4)
    rows = [line for line in done.stdout.splitlines() if re.match(r"\| 12 \| \d ", line)]
    assert [int(row.split("|")[4].replace(",", "")) for row in rows] == [
        w["datagrams"] for w in windows
    ]
    extra = sum(w["datagrams"] - min(v["datagrams"] for v in windows) for w in windows)
    summary = re.search(
        r"12 members: over the steady window, .* and ([\d,]+) datagrams", done.stdout
    )
    assert summary is not None and int(summary.group(1).replace(",", "")) == extra
