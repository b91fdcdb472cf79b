"""``benchmarks/bench_departures.py`` end to end on a small table: one row per size, table kind
and tree, each from a run whose node ended with the right leader (the figures themselves are
benchmarks, not asserted)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_departures.py"


def test_every_kind_of_table_in_both_trees(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "runs.json"
    command = [sys.executable, str(SCRIPT), "--sizes", "200,300", "--base", str(ROOT)]
    command += ["--json", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split("|")[1:4] for line in done.stdout.splitlines() if re.match(r"\| \d", line)]
    assert [[cell.strip() for cell in row] for row in rows] == [
        [size, kind, tree]
        for size in ("200", "300")
        for kind in ("MemberTable", "SharingTable")
        for tree in ("this tree", "base")
    ]
    runs = json.loads(out.read_text())
    assert len(runs) == 8
    assert all(run["first_ms"] > 0 and run["returns_full"] >= 0 for run in runs)
