"""``examples/rtt_table.py``: every member measures a round trip to every other, on each driver
the example offers (asyncio, and the thread driver under asyncio)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("driver", ["asyncio", "thread"])
def test_the_rtt_table_is_full(driver: str) -> None:
    done = subprocess.run(
        [sys.executable, "examples/rtt_table.py", "--driver", driver, "--members", "3",
         "--seconds", "3"],
        check=False, capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.strip().splitlines()
    assert header.split()[-3:] == ["m0", "m1", "m2"]
    for index, row in enumerate(rows):
        cells = row.split()[1:]
        assert cells[index] == "-"
        others = [float(cell) for i, cell in enumerate(cells) if i != index]
        assert len(others) == 2 and all(value >= 0 for value in others), row
