"""A simulated 20-node cluster: nodes join through one seed, one crashes, everyone notices.

Runs on the deterministic simulator (virtual time), so it finishes in about a second and
prints the same story for the same seed.  Run it with ``python examples/sim_demo.py [SEED]``.
"""

from __future__ import annotations

import sys

from swimcore import Action, Address, Config, MemberFailed, MemberSuspected, Node
from swimcore.transports.sim import SimNetwork

NODES = 20


def main(seed: int = 1) -> None:
    net = SimNetwork(seed=seed)
    nodes = [
        Node(Config.lan(), Address("10.0.0.1", 7946 + i), seed=seed * 1000 + i)
        for i in range(NODES)
    ]
    for node in nodes:
        net.add(node)
    net.start(nodes[0])
    for node in nodes[1:]:
        net.join(node, [nodes[0].address])
    net.run_for(5.0)
    sizes = sorted({len(n.members()) for n in nodes})
    print(f"t={net.now:5.1f}s  {NODES} nodes joined; every node lists {sizes} members")

    victim = nodes[NODES // 2]
    crashed_at = net.now
    failed: list[tuple[float, str]] = []
    suspected: list[str] = []

    def watch(now: float, node: Node, action: Action) -> None:
        if not isinstance(action, MemberSuspected | MemberFailed):
            return
        if action.member.name != victim.name:
            return
        if isinstance(action, MemberSuspected):
            suspected.append(node.name)
            if len(suspected) == 1:
                print(f"t={now:5.1f}s  {node.name} suspects {victim.name} first")
            return
        failed.append((now, node.name))
        if len(failed) in (1, NODES - 1):
            print(f"t={now:5.1f}s  {node.name} declares {victim.name} dead ({len(failed)} so far)")

    net.observers.append(watch)
    print(f"t={net.now:5.1f}s  crashing {victim.name}")
    net.crash(victim)
    net.run_for(30.0)
    survivors = [n for n in nodes if n is not victim]
    print(
        f"detected by {len(failed)}/{len(survivors)} survivors; first after "
        f"{failed[0][0] - crashed_at:.1f}s, all after {failed[-1][0] - crashed_at:.1f}s "
        f"(simulated); views now list {sorted({len(n.members()) for n in survivors})} members"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
