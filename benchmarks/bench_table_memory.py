"""What one row of a member table costs: traced bytes per (node, known member) pair.

A simulated cluster of N nodes that joined one by one through a seed (no shared roster: every
node learns every member from news, as real members do, and every node after the first in the
process shares the records of the news it holds alike with the others, as real members in one
process do: ``swimcore.members.SharingTable``), run until converged and then 60 s more.
Everything the process allocated is traced (``tracemalloc``) and divided by N^2; the largest
allocation sites are listed the same way.  The simulation is deterministic, so the figures
repeat exactly on any machine with the same Python (no timing involved).

    PYTHONPATH=. python benchmarks/bench_table_memory.py --nodes 200 500
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def measure(nodes: int, top: int) -> None:
    from swimcore.transports.sim import SimCluster  # noqa: PLC0415

    tracemalloc.start(1)
    cluster = SimCluster(nodes, seed=1, bootstrap=False, trace=False)
    cluster.run_for(30.0)
    while not cluster.converged():
        cluster.run_for(5.0)
    cluster.run_for(60.0)
    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    rows = nodes * nodes
    sites = snapshot.statistics("lineno")
    total = sum(site.size for site in sites)
    print(f"{nodes} nodes: {total / 2**20:.1f} MiB traced, {total / rows:.0f} bytes per row")
    root = str(Path(__file__).resolve().parent.parent) + os.sep
    for site in sites[:top]:
        frame = site.traceback[0]
        print(
            f"  {site.size / rows:6.1f} B/row  {site.count:8d} blocks  "
            f"{frame.filename.removeprefix(root)}:{frame.lineno}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[200])
    parser.add_argument("--top", type=int, default=8, help="allocation sites listed")
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, deterministic (no timing)")
    for nodes in args.nodes:
        measure(nodes, args.top)


if __name__ == "__main__":
    main()
