"""Resident memory of ``import swimcore`` over the bare interpreter, and what it is made of.

Each case runs in a fresh interpreter (``python -c``) that reads its own ``VmRSS`` from
``/proc/self/status`` after the statement; a case's cost is its RSS minus that of ``pass`` in the
same round (same interpreter, same ``site``).  Prints the median of ``--runs`` rounds, in MiB.
Modules are read from bytecode, as from an installed wheel: each tree gets its own
``PYTHONPYCACHEPREFIX`` (filled by a first, unmeasured round) and ``PYTHONDONTWRITEBYTECODE`` is
dropped, since compiling sources at every import leaves megabytes of freed heap behind.
``--compare TREE`` also measures another source tree (first on ``PYTHONPATH``) in the same
rounds.  Linux only.  From the repository root::

    .venv/bin/python benchmarks/bench_import_rss.py --compare /tmp/base-tree
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

NODE = (
    "n = swimcore.Node(swimcore.Config.lan(wire={wire!r}), swimcore.Address('127.0.0.1', 7946), "
    "name='a', seed=1); n.start(0.0)"
)
#: One member on loopback (port 0), alone, measured after 2 s of running.  The process leaves
#: through ``os._exit`` after the probe (see PROBE; the asyncio case probes inside its loop), so
#: the running member is not closed.
THREAD_MEMBER = (
    "import swimcore, time\nfrom swimcore.transports.thread import ThreadMember\n"
    "m = ThreadMember(swimcore.Config.lan(), name='a')\nm.start()\ntime.sleep(2)"
)
ASYNCIO_MEMBER = (
    "import swimcore, asyncio\nfrom swimcore.transports.asyncio import AsyncioMember\n"
    "async def run():\n    m = AsyncioMember(swimcore.Config.lan(), name='a')\n"
    "    await m.start()\n    await asyncio.sleep(2)\n"
    "    print(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
    "    sys.stdout.flush()\n    os._exit(0)\n"
    "import os, re, sys\nasyncio.run(run())"
)
#: (label, statement): what each case imports or builds.
CASES = [
    ("bare interpreter (`pass`)", "pass"),
    ("`import attrs` (the one dependency)", "import attrs"),
    (
        "`import attrs` and the standard modules swimcore uses",
        "import attrs, enum, heapq, ipaddress, math, random, struct, zlib",
    ),
    ("`import swimcore`", "import swimcore"),
    (
        "`import swimcore`, then glibc's `malloc_trim(0)` (freed heap given back)",
        "import swimcore, ctypes\nctypes.CDLL('libc.so.6').malloc_trim(0)",
    ),
    ("`import ctypes` (what the line above adds itself)", "import ctypes"),
    ("`import swimcore` + a native-wire node", "import swimcore\n" + NODE.format(wire="native")),
    (
        "`import swimcore` + a memberlist-wire node",
        "import swimcore\n" + NODE.format(wire="memberlist"),
    ),
    ("`import asyncio` (for scale)", "import asyncio"),
    ("`import swimcore.transports.thread`", "import swimcore.transports.thread"),
    ("`import swimcore.transports.asyncio`", "import swimcore.transports.asyncio"),
    ("a started `ThreadMember` (loopback, 2 s)", THREAD_MEMBER),
    ("a started `AsyncioMember` (loopback, 2 s)", ASYNCIO_MEMBER),
]
PROBE = (
    "\nimport re\nprint(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
    "\nimport os, sys\nsys.stdout.flush()\nos._exit(0)"
)


CACHE = Path(tempfile.mkdtemp(prefix="bench-import-rss-"))
atexit.register(shutil.rmtree, CACHE, ignore_errors=True)


def rss_kib(statement: str, tree: Path) -> int:
    """VmRSS (KiB) of a fresh interpreter after ``statement``, with ``tree`` first on the path."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(CACHE / str(abs(hash(str(tree)))))
    out = subprocess.run(
        [sys.executable, "-c", statement + PROBE],
        env=env,
        cwd=CACHE,  # ``python -c`` puts the working directory first on the path
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return int(out.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--compare", type=Path, help="another source tree to measure too")
    args = parser.parse_args()
    trees = {"this tree": ROOT}
    if args.compare is not None:
        trees["other tree"] = args.compare.resolve()
    # samples[tree][case] = costs over the bare interpreter, one per round (KiB)
    samples: dict[str, dict[str, list[int]]] = {t: {c: [] for c, _ in CASES} for t in trees}
    bare: list[int] = []
    for tree in trees.values():  # compile every module once, into the tree's cache
        for _, statement in CASES:
            rss_kib(statement, tree)
    for _ in range(args.runs):
        for name, tree in trees.items():
            base = rss_kib("pass", tree)
            bare.append(base)
            for label, statement in CASES:
                samples[name][label].append(rss_kib(statement, tree) - base)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(
        f"Python {platform.python_version()}, nproc {os.cpu_count()}, load {load}; median of "
        f"{args.runs} rounds; bare interpreter {statistics.median(bare) / 1024:.1f} MiB"
    )
    print()
    print("| case | " + " | ".join(f"{t} (MiB over bare)" for t in trees) + " |")
    print("|---|" + "---:|" * len(trees))
    for label, _ in CASES[1:]:
        cells = [f"{statistics.median(samples[t][label]) / 1024:+.1f}" for t in trees]
        print(f"| {label} | " + " | ".join(cells) + " |")
    for name, tree in trees.items():
        print(f"\n{name}: {tree}")


if __name__ == "__main__":
    main()
