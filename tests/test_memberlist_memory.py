"""The memberlist profile remembers each member's version bytes, within the node's bounds.

They are read before the node decides whether to take the member, so a flood of names a full
table refuses must not be remembered instead: at most twice ``max_members`` are, and no name
longer than a node's own may be.
"""

from __future__ import annotations

import random
import tracemalloc

import pytest

from swimcore import Address, Config, Node
from swimcore.messages import Alive, Gossip
from swimcore.wire.loading import for_node

HERE = Address("127.0.0.1", 7001)
SOURCE = Address("127.0.0.1", 7002)


@pytest.mark.parametrize("name_bytes", [40, 1300])
def test_names_a_full_table_refuses_are_not_remembered(name_bytes: int) -> None:
    config = Config.local(wire="memberlist", max_members=10)
    node = Node(config, HERE)
    wire = for_node(config, "flood", SOURCE, None, random.Random(0))

    def flood(start: int, count: int) -> None:
        for i in range(start, start + count):
            name = f"{i:08d}".ljust(name_bytes, "x")
            update = wire.encode_update(Alive(name, Address("127.0.0.2", 1000 + i % 60000), 1, b""))
            data = wire.assemble(wire.header, wire.encode_message(Gossip()), [update])
            node.receive(data, SOURCE, 1.0)

    flood(0, 200)  # the table fills, and everything in reach is allocated once
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    flood(200, 3000)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(node.all_members()) == 10
    assert node.counters()["dropped.table_full"] >= 3000
    assert grown < 100_000, f"{grown} bytes kept for 3,000 names the table refused"
