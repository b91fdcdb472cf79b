"""One benchmark cell in a fresh interpreter, on a given source tree.

A benchmark that compares this checkout with an older one (``--base``) runs each cell as
``python SCRIPT --child ARGS`` with the tree first on ``PYTHONPATH``, so both trees are
measured in processes alike (fresh heap, fresh imports) under the same machine load, and reads
the cell's result as JSON from its standard output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_child(script: str, tree: Path, child: str) -> dict[str, Any]:
    """``script --child child`` on ``tree``: its JSON result (exits with its error output)."""
    command = [sys.executable, script, "--child", child]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tree}, --child {child} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result
