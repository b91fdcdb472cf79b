"""The memberlist codec alone: encoding and decoding datagrams and push-pull streams.

Times the functions every version of the memberlist wire has had (``packet.encode_datagram``,
``packet.decode_datagram``, ``stream.encode_stream``, ``stream.open_stream`` with its rows taken),
so that two source trees can be compared in one run: ``--compare TREE`` runs this script once per
round with each tree first on ``PYTHONPATH``, alternating, and prints each tree's best round and
the ratio (this machine is shared: read ratios, and the load printed beside them).  From the
repository root::

    .venv/bin/python benchmarks/bench_memberlist_codec.py --compare /tmp/base-tree
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _time(fn: Callable[[], object], rounds: int) -> float:
    """Microseconds per call, the best of three batches."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, (time.perf_counter() - start) / rounds)
    return best * 1e6


def measure(rounds: int) -> dict[str, float]:
    """Microseconds per operation on the swimcore found first on the path."""
    from swimcore.wire.memberlist import packet, stream  # noqa: PLC0415
    from swimcore.wire.memberlist.messages import (  # noqa: PLC0415
        MlAlive,
        MlPing,
        MlPushNodeState,
        MlPushPull,
        NodeState,
        vsn_bytes,
    )

    ip = bytes([10, 0, 0, 1])
    gossip = [MlPing(7, "subject", ip, 7946, "peer")] + [
        MlAlive(i + 1, f"member-{i:04d}", ip, 7000 + i, b"", vsn_bytes()) for i in range(8)
    ]
    datagram = packet.encode_datagram(gossip)
    rows = tuple(
        MlPushNodeState(f"member-{i:04d}", ip, 7000 + i, b"", i, NodeState.ALIVE, vsn_bytes())
        for i in range(1000)
    )
    push_pull = MlPushPull(False, rows, b"")
    state = stream.encode_stream(push_pull)

    def open_rows() -> None:
        opened = stream.open_stream(state)
        assert not isinstance(opened, MlPushPull)
        opened.take(len(rows))  # type: ignore[union-attr]

    assert packet.decode_datagram(datagram) == gossip
    return {
        "datagram encode (ping + 8 alive)": _time(lambda: packet.encode_datagram(gossip), rounds),
        "datagram decode (ping + 8 alive)": _time(lambda: packet.decode_datagram(datagram), rounds),
        "push-pull encode (1,000 rows)": _time(lambda: stream.encode_stream(push_pull), 20),
        "push-pull decode (1,000 rows)": _time(open_rows, 20),
    }


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def compare(other: Path, runs: int, rounds: int) -> None:
    trees = {"this tree": ROOT, "other tree": other.resolve()}
    best: dict[str, dict[str, float]] = {name: {} for name in trees}
    loads = [_load()]
    for _ in range(runs):
        for name, tree in trees.items():
            env = dict(os.environ, PYTHONPATH=str(tree))
            out = subprocess.run(
                [sys.executable, __file__, "--json", "--rounds", str(rounds)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            for op, us in json.loads(out).items():
                best[name][op] = min(best[name].get(op, float("inf")), us)
        loads.append(_load())
    print(
        f"Python {platform.python_version()}, nproc {os.cpu_count()}, best of {runs} alternating "
        f"runs; load average during the run: {', '.join(loads)}"
    )
    print(f"this tree: {ROOT}; other tree: {other}")
    print()
    print("| operation | other tree (us) | this tree (us) | speed-up |")
    print("|---|---:|---:|---:|")
    for op, mine in best["this tree"].items():
        theirs = best["other tree"][op]
        print(f"| {op} | {theirs:,.1f} | {mine:,.1f} | {theirs / mine:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compare", type=Path, help="another source tree to time against")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare is not None:
        compare(args.compare, args.runs, args.rounds)
    elif args.json:
        print(json.dumps(measure(args.rounds)))
    else:
        print(f"Python {platform.python_version()}, nproc {os.cpu_count()}, load {_load()}")
        for op, us in measure(args.rounds).items():
            print(f"{op}: {us:,.1f} us")


if __name__ == "__main__":
    main()
