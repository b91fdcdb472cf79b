"""``benchmarks/bench_kill.py`` end to end at 3 members and 1 kill: the report's structure, and
that every survivor detected the kill (the figures themselves are benchmarks, not asserted).

swimcore always; memberlist only where the Go peer binary is built (it is not built here: the
interop tests build it, ``tests/memberlist_peer/build.sh``).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest
from memberlist_peer.harness import BINARY

# Real processes for 10-20 s against a clock: run alone.
pytestmark = pytest.mark.exclusive

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_kill.py"


def run_bench(*kinds: str) -> dict[str, Any]:
    command = [sys.executable, str(SCRIPT), "--sizes", "3", "--kills", "1", "--settle", "1"]
    command += ["--timeout", "60", "--kinds", *kinds, "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def check(report: dict[str, Any], kinds: tuple[str, ...]) -> None:
    assert set(report) >= {"command", "clock", "host", "settings", "configs", "runs", "summary"}
    assert report["host"]["nproc"] >= 1 and report["host"]["python"]
    assert set(report["configs"]) == set(kinds)
    settings = {row["setting"]: row for row in report["settings"]}
    for kind in kinds:
        assert settings["probe interval (s)"][kind] == 1.0
        assert settings["probe timeout (s)"][kind] == 0.5
        assert settings["suspicion multiplier"][kind] == 4
    assert [run["kind"] for run in report["runs"]] == list(kinds)  # taking turns, in order
    for run in report["runs"]:
        assert run["size"] == 3 and run["missed"] == []
        assert run["victim"] not in run["detection_s"]
        assert len(run["detection_s"]) == 2  # every survivor, the seed included
        assert all(t is not None and 0 < t < 60 for t in run["detection_s"].values())
        if run["kind"] == "swimcore":  # counters over the survivors, kill to detection
            counters = run["counters"]
            assert counters["probes"] > 0 and counters["suspicions"] >= 1
            assert isinstance(counters["unhealthy_at_kill"], list)
        else:
            assert run["counters"] is None  # the Go peer has none
    rows = report["summary"]["rows"]
    assert [(row["size"], row["kind"], row["kills"]) for row in rows] == [(3, k, 1) for k in kinds]
    for row in rows:
        assert row["detections"] == 2 and row["missed"] == 0
        assert 0 < row["first_median_s"] <= row["median_s"] <= row["p90_s"] <= row["max_s"]
    ratios = report["summary"]["ratios"]
    if len(kinds) == 2:
        assert len(ratios) == 1 and ratios[0]["ratio"] > 0
    else:
        assert ratios == []


def test_bench_kill_swimcore_detects_at_every_survivor() -> None:
    check(run_bench("swimcore"), ("swimcore",))


@pytest.mark.slow  # the same kills on both implementations: CI's make test-slow runs it
def test_bench_kill_side_by_side_with_memberlist() -> None:
    if not BINARY.exists():
        pytest.skip(f"no memberlist peer at {BINARY} (tests/memberlist_peer/build.sh builds it)")
    check(run_bench("swimcore", "memberlist"), ("swimcore", "memberlist"))
