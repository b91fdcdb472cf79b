"""A node's push-pull is encoded from its table's records as they stand (no copy of each
first): what it sends decodes to its table, row for row, on every wire profile."""

from __future__ import annotations

import random

import pytest

from swimcore import Address, Config, ExchangeRequest, Node
from swimcore.messages import Alive, Dead, Gossip, Left, MemberState, PushPull, State
from swimcore.wire.loading import for_node

WIRES = ["native", "memberlist", "memberlist+lzw"]


def _node(wire: str) -> Node:
    node = Node(
        Config.lan(wire=wire, label="blue"), Address("127.0.0.1", 7001), seed=1, meta=b"role=db"
    )
    peers = [(name, Address("127.0.0.2", 8000 + i)) for i, name in enumerate(NAMES)]
    node.start(0.0, peers)
    wire_of = for_node(node.config, "p0", peers[0][1], None, random.Random(0))
    news: list[Alive | Dead | Left] = [
        Alive("p1", peers[1][1], 7, b"zone=a"),
        Dead("p2", 0, "p0"),
        Left("p3", 2),
    ]
    header = wire_of.header
    for update in news:
        packet = wire_of.assemble(
            header, wire_of.encode_message(Gossip()), [wire_of.encode_update(update)]
        )
        node.receive(wire_of.seal(packet), peers[0][1], 0.5)
    return node


NAMES = [f"p{i}" for i in range(40)]


def _table(node: Node) -> list[MemberState]:
    """Every row the node holds (dead and left ones too), through its public queries."""
    rows = []
    for name in [node.name, *NAMES]:
        m = node.member(name)
        assert m is not None
        rows.append(MemberState(m.name, m.address, m.incarnation, m.state, m.meta))
    return sorted(rows, key=lambda r: r.name)


@pytest.mark.parametrize("wire", WIRES)
def test_a_reply_carries_the_table_row_for_row(wire: str) -> None:
    node = _node(wire)
    states = {row.name: row.state for row in _table(node)}
    assert (states["p1"], states["p2"], states["p3"]) == (State.ALIVE, State.DEAD, State.LEFT)
    peer = for_node(node.config, "q", Address("127.0.0.3", 9000), None, random.Random(1))
    request = peer.encode_push_pull(PushPull("blue", False, ()))
    reply, _ = node.handle_exchange(request, 1.0)
    assert reply is not None
    decoded = peer.decode_exchange(reply)
    assert isinstance(decoded, PushPull)
    assert sorted(decoded.members, key=lambda r: r.name) == _table(node)


@pytest.mark.parametrize("wire", WIRES)
def test_a_request_carries_the_table_row_for_row(wire: str) -> None:
    node = _node(wire)
    peer = for_node(node.config, "q", Address("127.0.0.3", 9000), None, random.Random(1))
    requests = [
        a for a in node.join([Address("127.0.0.3", 9000)], 1.0) if isinstance(a, ExchangeRequest)
    ]
    assert len(requests) == 1
    decoded = peer.decode_exchange(requests[0].data)
    assert isinstance(decoded, PushPull) and decoded.join
    assert sorted(decoded.members, key=lambda r: r.name) == _table(node)


def _large(wire: str, members: int) -> Node:
    node = Node(Config.lan(wire=wire, label="blue"), Address("127.0.0.1", 7001), seed=1)
    node.start(0.0, [(f"m{i:04d}", Address("127.0.1.1", 2000 + i)) for i in range(members)])
    return node


@pytest.mark.parametrize("wire", WIRES)
def test_a_large_reply_is_built_a_slice_per_step(wire: str) -> None:
    """The reply of a table of 701 records takes three steps (256 rows each, at most), and is
    the bytes ``handle_exchange`` builds at once."""
    config = Config.lan(wire=wire, label="blue")
    peer = for_node(config, "q", Address("127.0.0.3", 9000), None, random.Random(1))
    request = peer.encode_push_pull(PushPull("blue", False, ()))
    node, twin = _large(wire, 700), _large(wire, 700)
    reply, _ = node.answer_exchange(request, 1.0)
    assert reply is not None and not reply.done
    steps = 1
    while not reply.step():
        steps += 1
    assert steps == 3
    assert reply.data == twin.handle_exchange(request, 1.0)[0]
    decoded = peer.decode_exchange(reply.data)
    assert isinstance(decoded, PushPull) and len(decoded.members) == 701


@pytest.mark.parametrize("wire", WIRES)
def test_each_slice_carries_its_records_as_they_stand_when_it_is_built(wire: str) -> None:
    """Between two steps the node goes on: news about a member whose slice is not built yet
    is in the reply (each row is a member's news on its own, like any update)."""
    node = _large(wire, 700)
    peer = for_node(node.config, "m0650", Address("127.0.1.1", 2650), None, random.Random(1))
    reply, _ = node.answer_exchange(peer.encode_push_pull(PushPull("blue", False, ())), 1.0)
    assert reply is not None and not reply.step()  # the first 256 rows
    news = peer.assemble(
        peer.header,
        peer.encode_message(Gossip()),
        [peer.encode_update(Alive("m0650", Address("127.0.1.1", 2650), 9, b"moved"))],
    )
    node.receive(peer.seal(news), Address("127.0.1.1", 2650), 1.5)
    decoded = peer.decode_exchange(reply.data)
    assert isinstance(decoded, PushPull)
    row = next(r for r in decoded.members if r.name == "m0650")
    assert (row.incarnation, row.meta) == (9, b"moved")


def test_a_request_is_built_once_connected_a_step_at_a_time() -> None:
    node = _large("memberlist+lzw", 600)
    actions = node.join([Address("127.0.0.3", 9000)], 1.0)
    (request,) = [a for a in actions if isinstance(a, ExchangeRequest)]
    outgoing = request.outgoing
    assert outgoing is request.outgoing and not outgoing.done  # nothing built before a step
    assert [outgoing.step() for _ in range(3)] == [False, False, True]
    assert request.data is outgoing.data
