"""``benchmarks/bench_crash_traffic.py`` end to end on small clusters: one row per size, each
showing the crash it caused (every survivor saw one death; the retransmission limit at that
size; the crash's updates costing each member at least one limit's worth)."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

from swimcore import Config
from swimcore.timing import retransmit_limit

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_crash_traffic.py"


def test_one_row_per_size_with_the_crash_it_measured() -> None:
    command = [sys.executable, str(SCRIPT), "--sizes", "9,10", "--duration", "40"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [
        [cell.strip().replace(",", "") for cell in line.split("|")[1:-1]]
        for line in done.stdout.splitlines()
        if re.match(r"\| \d", line)
    ]
    assert [row[0] for row in rows] == ["9", "10"]
    mult = Config.lan().retransmit_mult
    # The limit steps up between 9 and 10 members: ceil(log10(n + 1)).
    assert [int(row[1]) for row in rows] == [retransmit_limit(mult, 9), retransmit_limit(mult, 10)]
    assert retransmit_limit(mult, 9) < retransmit_limit(mult, 10)
    for row in rows:
        limit, steady, crash, extra, _, extra_updates, _, deaths = map(float, row[1:])
        assert deaths == 1.0
        assert extra > 0 and abs(crash - steady - extra) <= 0.1  # rounded to 0.1
        assert extra_updates >= limit
