"""A last-writer-wins key-value store kept in sync by the full-state exchanges.

memberlist's ``LocalState``/``MergeRemoteState`` delegates, which key-value stores such as
Cortex's and Loki's build on: each member gives its whole store as bytes to every push-pull
(``local_state``) and merges what a peer's exchange carried (``merge_state``).  A write is kept
where its (time, writer) is the latest, so every member ends with the same value whatever order
the exchanges came in.  :meth:`LwwStore.hooks` gives the two callables as options for any
driver (``AsyncioMember(config, **store.hooks())``) or for a :class:`~swimcore.Node`.

The state is a JSON array of ``[key, [stamp, writer, value]]`` sorted by key, as
``json.dumps`` writes it; the Go test peer (``tests/memberlist_peer/kv.go``, flag ``-kv``) keeps
the same store with the same bytes and rule, so on the memberlist wire Go nodes and swimcore
members share one store.  Stamps are wall-clock seconds (the simulator's clock in the demo):
last-writer-wins trusts the writers' clocks to agree.

    python examples/kv_store.py [MEMBERS]                 # 50 members on the simulator
    python examples/kv_store.py --driver asyncio          # 3 members on loopback
    python examples/kv_store.py --driver thread --wire memberlist --join 127.0.0.1:7946
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import threading
import time
from typing import Any

from swimcore import Address, Config, Node
from swimcore.transports import AsyncioMember, BridgedMember
from swimcore.transports.sim import SimNetwork

#: key -> (time, writer, value); the largest (time, writer) wins.
Entry = tuple[float, str, str]


class LwwStore:
    """One member's copy of the store (safe to write from one thread while the thread driver
    exchanges it on another)."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.items: dict[str, Entry] = {}
        self._lock = threading.Lock()

    def set(self, key: str, value: str, now: float | None = None) -> Entry:
        """Write ``key`` as this store's owner at ``now`` (default: the wall clock)."""
        entry = (time.time() if now is None else now, self.owner, value)
        with self._lock:
            self._keep(key, entry)
        return entry

    def snapshot(self) -> dict[str, Entry]:
        with self._lock:
            return dict(self.items)

    def _keep(self, key: str, entry: Entry) -> None:
        current = self.items.get(key)
        if current is None or entry[:2] > current[:2]:
            self.items[key] = entry

    def local_state(self, join: bool) -> bytes:
        """The whole store, as sorted JSON (the same store gives the same bytes)."""
        with self._lock:
            return json.dumps(sorted(self.items.items())).encode()

    def merge_state(self, data: bytes, join: bool) -> None:
        """Keep each key's latest entry.  A state of any other shape is refused whole and
        raises (the node counts it in ``state_errors``)."""
        doc = json.loads(data)
        if not isinstance(doc, list):
            raise ValueError("the state is not a JSON array")
        rows = [_entry(row) for row in doc]
        with self._lock:
            for key, entry in rows:
                self._keep(key, entry)

    def hooks(self) -> dict[str, Any]:
        """The member options that keep this store in sync: ``Driver(config, **store.hooks())``
        or ``Node(..., **store.hooks())``."""
        return {"local_state": self.local_state, "merge_state": self.merge_state}


def _entry(row: object) -> tuple[str, Entry]:
    """``[key, [stamp, writer, value]]``: strings (that UTF-8 can carry) and a finite stamp."""
    if isinstance(row, list) and len(row) == 2 and isinstance(row[1], list) and len(row[1]) == 3:
        key, (stamp, writer, value) = row
        if _text(key) and _text(writer) and _text(value) and _finite(stamp):
            return key, (float(stamp), writer, value)
    raise ValueError(f"not a [key, [stamp, writer, value]] row: {row!r:.80}")


def _text(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode()  # a lone surrogate (from a "\ud800" escape) is refused, as Go refuses it
    except UnicodeEncodeError:
        return False
    return True


def _finite(value: object) -> bool:
    # NaN would never compare larger nor smaller: the member that saw it first would keep it.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def main(members: int = 50, seed: int = 1) -> list[LwwStore]:
    """The simulated demo: ``members`` members, writes at three of them, until all agree."""
    net = SimNetwork(seed=seed)
    config = Config.lan(push_pull_interval=2.0)
    stores: list[LwwStore] = []
    nodes: list[Node] = []
    for i in range(members):
        store = LwwStore(f"m{i}")
        node = Node(config, Address("10.0.0.1", 7000 + i), name=store.owner, seed=seed * 1000 + i,
                    **store.hooks())  # fmt: skip
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


async def live(
    driver: str, members: int, *, join: list[str], wire: str, seconds: float
) -> list[LwwStore]:
    """``members`` members on loopback (the asyncio or the thread driver), joined to each other
    and to ``join``; each writes one key before it starts, then they run until every store is
    the same and has not changed for three exchange intervals (or ``seconds`` passed)."""
    config = Config.local(wire=wire, push_pull_interval=0.5)
    kind: Any = BridgedMember if driver == "thread" else AsyncioMember
    stores = [LwwStore(f"kv{i}") for i in range(members)]
    started: list[Any] = []
    try:
        for store in stores:
            store.set(f"written-by-{store.owner}", "hello")
            seeds = join or [str(m.address) for m in started[:1]]
            member = kind(config, "127.0.0.1:0", name=store.owner, seeds=seeds,
                          **store.hooks())  # fmt: skip
            await member.__aenter__()
            started.append(member)
        deadline = time.monotonic() + seconds
        settled, last = time.monotonic(), stores[0].snapshot()
        while time.monotonic() < deadline and time.monotonic() - settled < 1.5:
            await asyncio.sleep(0.1)
            now = stores[0].snapshot()
            if now != last or any(s.snapshot() != now for s in stores):
                settled, last = time.monotonic(), now
    finally:
        for member in reversed(started):
            await member.__aexit__(None, None, None)
    same = all(s.snapshot() == stores[0].snapshot() for s in stores)
    print(f"{members} members ({driver}), {'all the same' if same else 'NOT the same'}:")
    for key, (stamp, writer, value) in sorted(stores[0].snapshot().items()):
        print(f"  {key} = {value!r} (written by {writer} at {stamp:.3f})")
    return stores


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("members", nargs="?", type=int, help="default: 50 simulated, 3 live")
    parser.add_argument("--driver", choices=("sim", "asyncio", "thread"), default="sim")
    parser.add_argument("--wire", choices=("native", "memberlist"), default="native")
    parser.add_argument("--join", action="append", default=[], metavar="HOST:PORT")
    parser.add_argument("--seconds", type=float, default=20.0, help="live: give up after")
    options = parser.parse_args()
    if options.driver == "sim":
        main(options.members or 50)
        sys.exit(0)
    asyncio.run(live(options.driver, options.members or 3, join=options.join,
                     wire=options.wire, seconds=options.seconds))  # fmt: skip
