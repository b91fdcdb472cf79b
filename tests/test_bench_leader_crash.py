"""``benchmarks/bench_leader_crash.py`` end to end on a small cluster: one row per member
crashed and tree, each from a run in which every survivor declared the crashed member dead and
agreed on one leader (the figures themselves are benchmarks, not asserted)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_leader_crash.py"


def test_the_leader_and_another_member_in_both_trees(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "runs.json"
    command = [sys.executable, str(SCRIPT), "--sizes", "100", "--window", "20"]
    command += ["--base", str(ROOT), "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split("|")[1:4] for line in done.stdout.splitlines() if re.match(r"\| \d", line)]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["100", which, tree] for which in ("leader", "middle") for tree in ("this tree", "base")
    ]
    runs = json.loads(out.read_text())
    assert len(runs) == 4
    assert all(run["settled_s"] is not None and 0 < run["settled_s"] <= 20 for run in runs)
    assert all(run["rss_after"] >= run["rss_before"] > 0 for run in runs)
