"""A last-writer-wins key-value store kept in sync by the full-state exchanges.

memberlist's ``LocalState``/``MergeRemoteState`` delegates, which key-value stores such as
Cortex's and Loki's build on: each member gives its whole store as bytes to every push-pull
(``Node(local_state=...)``) and merges what a peer's exchange carried
(``Node(merge_state=...)``).  A write is kept where its (time, writer) is the latest, so every
member ends with the same value whatever order the exchanges came in.  Here 50 members on the
deterministic simulator take writes at a few of them and converge.

    python examples/kv_store.py [MEMBERS]
"""

from __future__ import annotations

import json
import sys

from swimcore import Address, Config, Node
from swimcore.transports.sim import SimNetwork

#: key -> (time, writer, value); the largest (time, writer) wins.
Entry = tuple[float, str, str]


class LwwStore:
    """One member's copy of the store."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.items: dict[str, Entry] = {}

    def set(self, key: str, value: str, now: float) -> None:
        self._keep(key, (now, self.owner, value))

    def _keep(self, key: str, entry: Entry) -> None:
        current = self.items.get(key)
        if current is None or entry[:2] > current[:2]:
            self.items[key] = entry

    def local_state(self, join: bool) -> bytes:
        """The whole store, as sorted JSON (the same store gives the same bytes)."""
        return json.dumps(sorted(self.items.items())).encode()

    def merge_state(self, data: bytes, join: bool) -> None:
        """Keep each key's latest entry; malformed input raises (the node counts it)."""
        for key, (stamp, writer, value) in json.loads(data):
            if isinstance(key, str) and isinstance(writer, str) and isinstance(value, str):
                self._keep(key, (float(stamp), writer, value))


def main(members: int = 50, seed: int = 1) -> list[LwwStore]:
    net = SimNetwork(seed=seed)
    config = Config.lan(push_pull_interval=2.0)
    stores: list[LwwStore] = []
    nodes: list[Node] = []
    for i in range(members):
        store = LwwStore(f"m{i}")
        node = Node(config, Address("10.0.0.1", 7000 + i), name=store.owner, seed=seed * 1000 + i,
                    local_state=store.local_state, merge_state=store.merge_state)  # fmt: skip
        stores.append(store)
        nodes.append(node)
        net.add(node)
    net.start(nodes[0])
    for node in nodes[1:]:
        net.join(node, [nodes[0].address])
    net.run_for(5.0)
    stores[3].set("color", "red", net.now)
    stores[len(stores) // 2].set("size", "L", net.now)
    net.run_for(1.0)
    stores[-1].set("color", "blue", net.now)  # later: wins everywhere
    waited = 0
    while waited < 120 and not all(s.items == stores[0].items for s in stores):
        net.run_for(1.0)
        waited += 1
    values = {key: entry[2] for key, entry in sorted(stores[0].items.items())}
    same = all(s.items == stores[0].items for s in stores)
    print(f"{members} members, {'all the same' if same else 'NOT converged'} {waited} s after the "
          f"last write "
          f"(simulated): {values}")  # fmt: skip
    return stores


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
