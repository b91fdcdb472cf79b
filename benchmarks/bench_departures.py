"""What one datagram of deaths, or of returns, holds a node for, by table size and kind.

A node knows N members (addresses rising with the name, so the last names lead).  It then
receives three datagrams, each declaring the 60 highest alive addresses dead, highest first
(each death unseats the leader: the first datagram also builds the index of the next ones),
and one datagram bringing 20 of them back.  Reported: the CPU each datagram held the node
(``time.process_time``), and the collections of the oldest generation that ran inside it.
Both kinds of table: the first node of a process gets a ``MemberTable``, every later one a
``SharingTable`` (what the drivers and the simulator run when a process holds several).

Each (tree, kind, size) is a fresh process; with ``--base`` the same runs on an older checkout
alternate with this tree's, so both see the same machine load.

    python benchmarks/bench_departures.py --sizes 1000,10000,50000 --base /tmp/base
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

from trees import run_child

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("MemberTable", "SharingTable")


def child(size: int, kind: str) -> dict[str, Any]:
    """One node of ``size`` members in this process (the tree on ``sys.path[0]``)."""
    import gc  # noqa: PLC0415
    import time  # noqa: PLC0415

    from swimcore import Address, Config, Node, members  # noqa: PLC0415
    from swimcore.messages import Alive, Dead, Gossip, Packet  # noqa: PLC0415
    from swimcore.wire.native import codec  # noqa: PLC0415

    members._TABLES = 0 if kind == "MemberTable" else 1  # the next table made is of this kind
    node = Node(Config.lan(), Address("10.9.0.1", 7946), seed=1)
    assert type(node._table).__name__ == kind
    node.start(
        0.0,
        [
            (f"m{i}", Address(f"10.{10 + i // 65536}.{i // 256 % 256}.{i % 256}", 7946))
            for i in range(size)
        ],
    )
    sender = Address("10.8.0.1", 7946)
    full = 0

    def count(phase: str, info: dict[str, int]) -> None:
        nonlocal full
        if phase == "start" and info["generation"] == 2:
            full += 1

    def held(data: bytes, now: float) -> tuple[float, int]:
        nonlocal full
        full = 0
        began = time.process_time()
        node.receive(data, sender, now)
        return (time.process_time() - began) * 1000, full

    gc.callbacks.append(count)
    top = size - 1
    deaths = []
    for round_ in range(3):
        names = [f"m{top - i}" for i in range(60)]
        data = codec.encode_packet(Packet("", Gossip(), tuple(Dead(n, 0, "m0") for n in names)))
        deaths.append(held(data, 1.0 + round_))
        top -= 60
    back = [Alive(f"m{size - 1 - i}", _address(node, f"m{size - 1 - i}"), 1) for i in range(20)]
    returns = held(codec.encode_packet(Packet("", Gossip(), tuple(back))), 5.0)
    assert node.leader is not None and node.leader.name == f"m{size - 1}"
    return {
        "size": size,
        "kind": kind,
        "first_ms": deaths[0][0],
        "first_full": deaths[0][1],
        "later_ms": max(d[0] for d in deaths[1:]),
        "later_full": sum(d[1] for d in deaths[1:]),
        "returns_ms": returns[0],
        "returns_full": returns[1],
    }


def _address(node: Any, name: str) -> Any:
    member = node.member(name)
    assert member is not None
    return member.address


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--base", type=Path, help="an older checkout, run alternately")
    parser.add_argument("--json", type=Path, help="write every run here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        size, kind = args.child.split(",")
        print(json.dumps(child(int(size), kind)))
        return
    trees = [("this tree", ROOT)] + ([("base", args.base)] if args.base else [])
    print(
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}"
    )
    print("CPU ms a datagram held the node (full collections inside it)\n")
    print("| members | table | tree | 60 deaths, first | 60 deaths, later | 20 returns |")
    print("|---|---|---|---|---|---|")
    runs = []
    for size in (int(s) for s in args.sizes.split(",")):
        for kind in KINDS:
            for label, tree in trees:
                r = run_child(__file__, tree, f"{size},{kind}")
                runs.append({**r, "tree": label})
                print(
                    f"| {size} | {kind} | {label} | {r['first_ms']:.1f} ({r['first_full']}) "
                    f"| {r['later_ms']:.1f} ({r['later_full']}) "
                    f"| {r['returns_ms']:.1f} ({r['returns_full']}) |",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
