"""Members of one process share the records of the news they hold alike (``SharingTable``).

Every node after the first in a process gets a table that takes its records from the
process's shared ones and copies a record only to change it.  What each member holds, decides
and sends must be what a table of its own records gives (the model tests in
``test_member_table.py`` check the indexes; the simulator's trace digests the rest): a change
in one member's view never shows in another's, the leader is noticed leaving, and a push-pull
built a slice per step still sends each record as it stands.
"""

from __future__ import annotations

import random

import pytest

from swimcore import Address, Config, Node, State, members
from swimcore import counter_names as cn
from swimcore.members import Member, MemberTable, SharingTable
from swimcore.messages import Alive, Dead, Gossip, PushPull, Update
from swimcore.wire.loading import for_node

PEERS = [(f"p{i}", Address("127.0.0.2", 8000 + i)) for i in range(20)]


@pytest.fixture(params=["plain", "sharing"])
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The kind of table every node the test makes gets (see ``_node``)."""
    monkeypatch.setattr(members, "_TABLES", members._TABLES)  # restored after the test
    kind: str = request.param
    return kind


def _node(kind: str, port: int, config: Config | None = None) -> Node:
    """A node with a table of ``kind``: the first table made in a process is a plain one,
    every later one a sharing one."""
    members._TABLES = 0 if kind == "plain" else 1
    node = Node(config or Config.lan(label="blue"), Address("127.0.0.1", port), seed=port)
    assert type(node._table) is (MemberTable if kind == "plain" else SharingTable)
    return node


def _tell(node: Node, news: list[Update], now: float) -> None:
    """Gossip ``news`` to ``node`` from p0."""
    wire = for_node(node.config, "p0", PEERS[0][1], None, random.Random(0))
    packet = wire.assemble(
        wire.header, wire.encode_message(Gossip()), [wire.encode_update(u) for u in news]
    )
    node.receive(wire.seal(packet), PEERS[0][1], now)


def test_the_tables_of_one_process_share_a_record_of_the_same_news() -> None:
    local = Member("a", Address("127.0.0.1", 1), 0, State.ALIVE, b"")
    one, two = SharingTable(local, random.Random(1)), SharingTable(local, random.Random(2))
    for table in (one, two):
        # equal addresses, not the same object: still one record
        table.add(table.new_record("p1", Address("127.0.0.2", 8001), 3, State.ALIVE, b"x"))
    shared = one.peek("p1")
    assert shared is not None and shared is two.peek("p1")
    # other news, another record
    third = SharingTable(local, random.Random(3))
    third.add(third.new_record("p1", Address("127.0.0.2", 8001), 4, State.ALIVE, b"x"))
    assert third.peek("p1") is not shared
    # a plain table keeps a record of its own
    plain = MemberTable(local, random.Random(4))
    plain.add(plain.new_record("p1", Address("127.0.0.2", 8001), 3, State.ALIVE, b"x"))
    assert plain.peek("p1") is not shared


def test_a_shared_record_is_copied_to_change_and_the_others_keep_theirs() -> None:
    local = Member("a", Address("127.0.0.1", 1), 0, State.ALIVE, b"")
    one, two = SharingTable(local, random.Random(1)), SharingTable(local, random.Random(2))
    for table in (one, two):
        table.add(table.new_record("p1", Address("127.0.0.2", 8001), 0, State.ALIVE, b""))
    shared = two.peek("p1")
    assert shared is not None
    with pytest.raises(AssertionError):
        one.set_state(shared, State.SUSPECT, 1.0)
    own = one.get("p1")
    assert own is not None and own is not shared and one.get("p1") is own
    own.incarnation = 1
    one.set_state(own, State.DEAD, 1.0)
    assert (one.peek("p1"), one.live_peers, one.since(own)) == (own, 0, 1.0)
    assert two.peek("p1") is shared and two.live_peers == 1
    assert (shared.state, shared.incarnation) == (State.ALIVE, 0)


def test_members_of_one_process_hold_one_record_of_each_member(kind: str) -> None:
    nodes = [_node(kind, 7001 + i) for i in range(3)]
    for node in nodes:
        node.start(0.0, PEERS)
    records = [[node._table.peek(name) for name, _ in PEERS] for node in nodes]
    if kind == "sharing":
        assert all(a is b is c for a, b, c in zip(*records, strict=True))
    else:
        assert not any(a is b or b is c for a, b, c in zip(*records, strict=True))
    # news in one member's view only
    _tell(nodes[0], [Dead("p5", 0, "p0"), Alive("p6", PEERS[6][1], 2, b"m")], 1.0)
    seen = [node.member("p5") for node in nodes] + [node.member("p6") for node in nodes]
    assert [(m.state, m.incarnation) if m else None for m in seen] == [
        (State.DEAD, 0),
        (State.ALIVE, 0),
        (State.ALIVE, 0),
        (State.ALIVE, 2),
        (State.ALIVE, 0),
        (State.ALIVE, 0),
    ]


def test_the_leader_leaving_is_noticed(kind: str) -> None:
    """The leader is the alive member with the highest address (p19 here): when it dies the
    next one takes over, whether or not its record was shared when it became the leader."""
    node = _node(kind, 7001)
    node.start(0.0, PEERS)
    _tell(node, [Alive("late", Address("127.0.0.3", 9000), 0, b"")], 0.5)
    leader = node.leader
    assert leader is not None and leader.name == "late"
    _tell(node, [Dead("late", 0, "p0")], 1.0)
    leader = node.leader
    assert leader is not None and leader.name == "p19"
    _tell(node, [Dead("p19", 0, "p0")], 1.5)
    leader = node.leader
    assert leader is not None and leader.name == "p18"


def test_a_reply_built_in_steps_sends_each_record_as_it_stands(kind: str) -> None:
    """A change to a shared record goes to the member's own copy: a later slice of a reply
    begun before it carries the copy (the news), as a plain table's record changed in place."""
    config = Config.lan(label="blue")
    peers = [(f"m{i:04d}", Address("127.0.1.1", 2000 + i)) for i in range(700)]
    nodes = [_node(kind, 7001, config), _node(kind, 7002, config)]
    for node in nodes:
        node.start(0.0, peers)
    node = nodes[0]
    peer = for_node(config, "m0650", peers[650][1], None, random.Random(1))
    reply, _ = node.answer_exchange(peer.encode_push_pull(PushPull("blue", False, ())), 1.0)
    assert reply is not None and not reply.step()  # the first 256 rows
    news = peer.assemble(
        peer.header,
        peer.encode_message(Gossip()),
        [peer.encode_update(Alive("m0650", peers[650][1], 9, b"moved"))],
    )
    node.receive(peer.seal(news), peers[650][1], 1.5)
    decoded = peer.decode_exchange(reply.data)
    assert isinstance(decoded, PushPull)
    row = next(r for r in decoded.members if r.name == "m0650")
    assert (row.incarnation, row.meta) == (9, b"moved")
    other = nodes[1].member("m0650")
    assert other is not None and (other.incarnation, other.meta) == (0, b"")


def test_reading_a_member_leaves_its_record_shared() -> None:
    """A probe that times out (indirect probes sent), a direct message and gossip to the
    recently dead read the target's record: a member takes its own copy only to change it."""
    nodes = [_node("sharing", 7001 + i) for i in range(2)]
    for node in nodes:
        node.start(0.0, PEERS)
    node, other = nodes
    now = 0.0
    while not node.counters().get(cn.INDIRECT_PROBES):  # nobody answers: the probe times out
        now += 0.05
        assert now < 5.0
        node.tick(now)
    node.send_message("p3", b"hello", now)
    assert [node._table.peek(name) for name, _ in PEERS] == [
        other._table.peek(name) for name, _ in PEERS
    ]
    assert all(
        node._table.peek(name) is other._table.peek(name) for name, _ in PEERS
    )  # the same objects, not equal copies


class _CountedName(str):
    """A member name that counts the comparisons made with it by content (a scan of a list
    compares with every name it passes; a dictionary lookup of the same object with none)."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        _CountedName.compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


@pytest.mark.parametrize(("size", "scans"), [(200, True), (members.INDEXED_AT + 100, False)])
def test_a_large_sharing_table_finds_places_without_a_scan(size: int, scans: bool) -> None:
    """Below ``INDEXED_AT`` live peers a sharing table scans its lists for a member that dies,
    comes back or is forgotten; from there on it keeps their places by name, so one datagram
    declaring 60 members of a 50,000-member table dead does not hold the node for 60 scans."""
    table = SharingTable(
        Member("a", Address("127.0.0.1", 1), 0, State.ALIVE, b""), random.Random(1)
    )
    names = [_CountedName(f"p{i:05d}") for i in range(size)]
    for i, name in enumerate(names):
        table.add(table.new_record(name, Address("127.0.0.2", 1 + i % 60000), 0, State.ALIVE, b""))
    for _ in range(size // 2):  # halfway through a probe pass
        table.next_probe_target()
    _CountedName.compared = 0
    for name in names[:: max(1, size // 60)]:  # die, come back, die, and are forgotten
        record = table.get(name)
        assert record is not None
        table.set_state(record, State.DEAD, 1.0)
        table.set_state(record, State.ALIVE, 2.0)
        table.set_state(record, State.DEAD, 3.0)
        table.remove(name)
    changed = len(names[:: max(1, size // 60)])
    assert table.live_peers == size - changed
    if scans:
        assert _CountedName.compared > changed * size // 4
    else:
        assert _CountedName.compared <= 4 * changed  # hash collisions only, if any
