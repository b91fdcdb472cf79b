"""The pure-Python and the compiled build side by side: the same decisions, and the speed.

Runs the same simulations (30 and 150 members on each wire: loss, duplicates, reordering, a
crash, a partition; then 1,000 members for 60 simulated seconds) once with this checkout's
source (pure Python) and once with another interpreter whose installed swimcore is the
compiled build, each in a fresh process started outside the checkout.  Exits 1 if any trace
digest differs or if the second interpreter does not load a compiled core.  ``make
test-compiled`` runs it::

    python benchmarks/compare_builds.py .venv-compiled/bin/python
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Run in each child: prints one JSON object.
CHILD = """
import json, time
import attrs
from swimcore import Config
from swimcore._build import build_kind
from swimcore.transports.sim import LinkFaults, SimCluster
from swimcore.transports.sim.ops import Crash

wires = ["native"]
try:
    import msgpack  # noqa: F401
    wires.append("memberlist")
except ImportError:
    pass
digests = {}
faults = LinkFaults(latency=0.002, jitter=0.003, loss=0.05, duplicate=0.01, reorder=0.02)
for wire in wires:
    for size, bootstrap in ((30, False), (150, True)):
        cluster = SimCluster(
            size, seed=3, config=attrs.evolve(Config.lan(), wire=wire), faults=faults,
            bootstrap=bootstrap,
        )
        cluster.run_for(20)
        cluster.apply(Crash(size // 2))
        cluster.run_for(20)
        hosts = cluster.hosts
        cluster.net.partition(
            [h.node for h in hosts[: size // 3]], [h.node for h in hosts[size // 3 :]]
        )
        cluster.run_for(15)
        cluster.net.heal()
        cluster.run_for(40)
        digests[f"{wire} {size}"] = cluster.net.trace_digest
cluster = SimCluster(1000, seed=1, config=Config.lan())
cluster.apply(Crash(500))
start = time.process_time()
cluster.run_for(60)
seconds = time.process_time() - start
digests["native 1000"] = cluster.net.trace_digest
print(json.dumps({"build": build_kind(), "digests": digests, "seconds": seconds}))
"""


def run(python: str, path: str | None) -> dict[str, object]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if path is not None:
        env["PYTHONPATH"] = path
    with tempfile.TemporaryDirectory() as outside:  # never the checkout by accident
        done = subprocess.run(
            [python, "-c", CHILD],
            env=env,
            cwd=outside,
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    pure = run(sys.executable, str(ROOT))
    compiled = run(os.path.abspath(sys.argv[1]), None)
    print(
        f"# nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(f"pure: {pure['build']}; other: {compiled['build']}")
    failed = False
    if pure["build"] != "pure Python" or not str(compiled["build"]).startswith("compiled"):
        print("expected this checkout pure and the other interpreter compiled")
        failed = True
    digests_a, digests_b = pure["digests"], compiled["digests"]
    assert isinstance(digests_a, dict) and isinstance(digests_b, dict)
    for key, digest in digests_a.items():
        same = digests_b.get(key) == digest
        failed |= not same
        print(f"{key}: {'same' if same else 'DIFFERENT'} digest ({digest[:16]})")
    a, b = float(str(pure["seconds"])), float(str(compiled["seconds"]))
    print(f"1,000 members x 60 s: pure {a:.1f} s CPU, compiled {b:.1f} s CPU ({a / b:.2f}x)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
