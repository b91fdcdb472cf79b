"""What losing the leader costs a bootstrapped simulation, against losing any other member.

A :class:`~swimcore.transports.sim.SimCluster` of N members (the simulator's roster start, the
way it reaches 10,000) runs 2 simulated seconds, then one member crashes: the leader (the
highest address) or one halfway down.  Reported, for the next ``--window`` simulated seconds:
the CPU the process spent, its peak RSS before the crash and at the end, and when every
survivor had declared the crashed member dead and agreed on one leader.  Losing the leader
makes every survivor find the next one at about the same moment; an index of its own per
node (every member ranked) made that cost grow with N^2.

With ``--join`` the members join one by one instead (``bootstrap=False``; 40 simulated s to
join): every node after the first then has a ``SharingTable``, which has no roster to share.

Each (tree, member crashed, size) is a fresh process; with ``--base`` the same runs on an
older checkout alternate with this tree's, so both see the same machine load.

    python benchmarks/bench_leader_crash.py --sizes 1000,2000,5000 --base /tmp/base
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
WHICH = ("leader", "middle")


def child(size: int, which: str, window: float, join: bool) -> dict[str, Any]:
    """One cluster of ``size`` members in this process (the tree on ``sys.path[0]``)."""
    import resource  # noqa: PLC0415
    import time  # noqa: PLC0415

    from swimcore.messages import State  # noqa: PLC0415
    from swimcore.transports.sim import SimCluster  # noqa: PLC0415
    from swimcore.transports.sim.ops import Crash  # noqa: PLC0415

    def peak_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    cluster = SimCluster(size, seed=1, trace=False, bootstrap=not join)
    cluster.run_for(40.0 if join else 2.0)
    hosts = cluster.net.host_list
    top = max(range(size), key=lambda i: hosts[i].node.address.leader_key())
    index = top if which == "leader" else (top + size // 2) % size
    crashed = hosts[index].node.name
    before = peak_mib()
    began = time.process_time()
    cluster.apply(Crash(index))
    settled = None
    step = 0.5
    elapsed = 0.0
    while elapsed < window:
        cluster.run_for(step)
        elapsed += step
        if settled is None and _settled(cluster, index, crashed, State):
            settled = elapsed
    return {
        "size": size,
        "which": which,
        "cpu_s": time.process_time() - began,
        "rss_before": before,
        "rss_after": peak_mib(),
        "settled_s": settled,
    }


def _settled(cluster: Any, index: int, crashed: str, state: Any) -> bool:
    """Every survivor holds ``crashed`` dead (or forgot it) and names the same leader."""
    leaders = set()
    for i in cluster.running():
        node = cluster.node(i)
        member = node.member(crashed)
        if member is not None and member.state in (state.ALIVE, state.SUSPECT):
            return False
        leader = node.leader
        leaders.add(leader.name if leader is not None else None)
    return len(leaders) == 1 and crashed not in leaders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,2000,5000")
    parser.add_argument("--window", type=float, default=30.0, help="simulated s after the crash")
    parser.add_argument("--join", action="store_true", help="members join one by one")
    parser.add_argument("--base", type=Path, help="an older checkout, run alternately")
    parser.add_argument("--json", type=Path, help="write every run here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        size, which, window, join = args.child.split(",")
        print(json.dumps(child(int(size), which, float(window), join == "1")))
        return
    trees = [("this tree", ROOT)] + ([("base", args.base)] if args.base else [])
    print(
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}"
    )
    start = "joined one by one" if args.join else "bootstrapped"
    print(f"{start}; one crash, then {args.window:g} simulated s\n")
    print("| members | crashed | tree | CPU s | peak RSS before, MiB | after, MiB | settled, s |")
    print("|---|---|---|---|---|---|---|")
    runs = []
    for size in (int(s) for s in args.sizes.split(",")):
        for which in WHICH:
            for label, tree in trees:
                r = run_child(__file__, tree, f"{size},{which},{args.window},{int(args.join)}")
                runs.append({**r, "tree": label})
                settled = "-" if r["settled_s"] is None else f"{r['settled_s']:g}"
                print(
                    f"| {size} | {which} | {label} | {r['cpu_s']:.1f} | {r['rss_before']:.0f} "
                    f"| {r['rss_after']:.0f} | {settled} |",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
