"""``Node.receive`` and the exchange handlers against garbage and hostile peers.

The promise (as h11 makes for its parser): remote input never raises, undecodable input never
changes the member table and is counted by reason, and ``dropped.internal_error`` (the counter
of bugs caught at the boundary) never appears.  Run with ``HYPOTHESIS_PROFILE=ci`` for at least
10,000 examples per property: the default suite runs a fifth of each budget, the twins marked
slow (``*_full_budget``, run by CI's ``make test-slow`` and ``make test-compiled``) the whole.
"""

from __future__ import annotations

from typing import TypeGuard

import pytest
from helpers import (
    FUZZ_EXAMPLES,
    addr,
    encode,
    known,
    make_node,
    of_type,
    only,
    quick,
    sends,
    start,
    updates_in,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import addresses, mutated, push_pulls

from swimcore import (
    Address,
    BroadcastReceived,
    Config,
    DecodeError,
    ExchangeRequest,
    MemberJoined,
    Node,
    State,
    refusals,
)
from swimcore.messages import (
    Ack,
    Alive,
    Dead,
    Gossip,
    IndirectPing,
    Left,
    MemberState,
    Nack,
    Packet,
    Ping,
    PushPull,
    Suspect,
    Update,
    UserBroadcast,
    UserMessage,
)
from swimcore.node import MAX_INCARNATION_STEP
from swimcore.wire.native import codec

MAX = 2**64 - 1
STEP = MAX_INCARNATION_STEP
fuzz = settings(max_examples=FUZZ_EXAMPLES)
fuzz_tenth = settings(max_examples=max(100, FUZZ_EXAMPLES // 10))
#: The default suite's budgets: see helpers.quick (the full ones run in twins marked slow).
quick_fuzz = settings(max_examples=quick(FUZZ_EXAMPLES))
quick_fuzz_tenth = settings(max_examples=quick(max(100, FUZZ_EXAMPLES // 10)))
NOW = 5.0
SOURCE = addr(77)


#: The peers of :func:`_node`, built once: only their names and addresses are used (building six
#: nodes for every example was half the cost of each fresh node under test).
PEERS = [make_node(i) for i in range(2, 8)]


def _node() -> Node:
    """A node with a varied table: alive, suspect, dead and left peers and queued news."""
    node = make_node(1, Config.lan(label=""))
    peers = PEERS
    start(node, *peers)
    node.receive(
        encode(
            Gossip(),
            Alive(peers[0].name, peers[0].address, 3, b"meta"),
            Suspect(peers[1].name, 0, peers[2].name),
            Suspect(peers[1].name, 0, peers[5].name),  # corroborated: two accusers
            Dead(peers[3].name, 0, peers[2].name),
            Left(peers[4].name, 0),
        ),
        addr(2),
        1.0,
    )
    node.broadcast("k", b"payload", 1.0)
    return node


NODE_NAME = make_node(1).name
NAMES = [NODE_NAME, *(make_node(i).name for i in range(2, 9)), "stranger", ""]


def _drops(counters: dict[str, int]) -> int:
    return sum(v for k, v in counters.items() if k.startswith("dropped."))


def _is_packet_for(data: bytes, node: Node) -> bool:
    try:
        packet = codec.decode_packet(data)
    except DecodeError:
        return False
    return packet.label == node.config.label


def _check_refused(node: Node, data: bytes) -> None:
    """Feed ``data``; when it is not a packet of this cluster, nothing may change."""
    before, counters = node.all_members(), node.counters()
    out = node.receive(data, SOURCE, NOW)
    after = node.counters()
    assert "dropped.internal_error" not in after
    assert after["packets_received"] == counters["packets_received"] + 1
    if not _is_packet_for(data, node):
        assert out == []
        assert node.all_members() == before
        assert _drops(after) == _drops(counters) + 1
        reasons = {k for k in after if k.startswith("dropped.") and after[k] != counters.get(k)}
        assert reasons <= {"dropped.malformed", "dropped.foreign_label", "dropped.oversized"}


# Garbage --------------------------------------------------------------------------------------


def _arbitrary_bytes_never_raise_nor_change_the_table(data: bytes) -> None:
    _check_refused(_node(), data)


@quick_fuzz
@given(st.binary(max_size=1600))
def test_arbitrary_bytes_never_raise_nor_change_the_table(data: bytes) -> None:
    _arbitrary_bytes_never_raise_nor_change_the_table(data)


@pytest.mark.slow
@fuzz
@given(st.binary(max_size=1600))
def test_arbitrary_bytes_never_raise_nor_change_the_table_full_budget(data: bytes) -> None:
    _arbitrary_bytes_never_raise_nor_change_the_table(data)


def _arbitrary_bytes_after_a_valid_header(tail: bytes) -> None:
    _check_refused(_node(), codec.header("") + tail)


@quick_fuzz
@given(st.binary(max_size=200))
def test_arbitrary_bytes_after_a_valid_header(tail: bytes) -> None:
    _arbitrary_bytes_after_a_valid_header(tail)


@pytest.mark.slow
@fuzz
@given(st.binary(max_size=200))
def test_arbitrary_bytes_after_a_valid_header_full_budget(tail: bytes) -> None:
    _arbitrary_bytes_after_a_valid_header(tail)


# Valid packets from a hostile peer, built from the names the node knows ----------------------

names = st.sampled_from(NAMES)
incarnations = st.one_of(st.integers(0, 5), st.sampled_from([MAX - 1, MAX]), st.integers(0, MAX))
small_meta = st.binary(max_size=64) | st.binary(min_size=500, max_size=900)
hostile_messages = st.one_of(
    st.builds(Ping, st.integers(0, 2**32 - 1), names, names),
    st.builds(IndirectPing, st.integers(0, 50), names, addresses, names, st.booleans()),
    st.builds(Ack, st.integers(0, 50)),
    st.builds(Nack, st.integers(0, 50)),
    st.just(Gossip()),
    st.builds(UserMessage, names, st.binary(max_size=64)),
)
hostile_updates = st.one_of(
    st.builds(Alive, names, addresses, incarnations, small_meta),
    st.builds(Suspect, names, incarnations, names),
    st.builds(Dead, names, incarnations, names),
    st.builds(Left, names, incarnations),
    st.builds(
        UserBroadcast, names, st.sampled_from(["k", "j"]), incarnations, st.binary(max_size=32)
    ),
)
hostile_packets = st.builds(
    Packet,
    st.sampled_from(["", "", "", "other"]),
    hostile_messages,
    st.lists(hostile_updates, max_size=6).map(tuple),
)


def _encodable(packet: Packet) -> bytes | None:
    data = codec.encode_packet(packet)
    return data if len(data) <= 1400 else None


def _fits(data: bytes | None) -> TypeGuard[bytes]:
    return data is not None


hostile_datagrams = hostile_packets.map(_encodable).filter(_fits)


def _invariants(node: Node, before: dict[str, tuple[int, State]]) -> None:
    counters = node.counters()
    assert "dropped.internal_error" not in counters
    me = node.member(node.name)
    assert me is not None and me.state is State.ALIVE  # a node never believes it failed
    assert node.name in [m.name for m in node.members()]
    for member in node.all_members():
        if member.name in before:
            assert member.incarnation >= before[member.name][0], member.name
        assert len(member.meta) <= node.config.max_metadata
        assert not member.address.is_unspecified
    assert counters["members"] <= node.config.max_members


def _table(node: Node) -> dict[str, tuple[int, State]]:
    return {m.name: (m.incarnation, m.state) for m in node.all_members()}


def _mutated_valid_packets_never_raise(data: bytes) -> None:
    node = _node()
    before = _table(node)
    _check_refused(node, data)
    _invariants(node, before)


@quick_fuzz
@given(mutated(hostile_datagrams))
def test_mutated_valid_packets_never_raise(data: bytes) -> None:
    _mutated_valid_packets_never_raise(data)


@pytest.mark.slow
@fuzz
@given(mutated(hostile_datagrams))
def test_mutated_valid_packets_never_raise_full_budget(data: bytes) -> None:
    _mutated_valid_packets_never_raise(data)


def _hostile_packet_sequences_keep_the_invariants(steps: list[tuple[bytes, float]]) -> None:
    node = _node()
    now = NOW
    for data, pause in steps:
        before = _table(node)
        node.receive(data, SOURCE, now)
        _invariants(node, before)
        now += pause
        before = _table(node)
        node.tick(now)
        _invariants(node, before)


@quick_fuzz_tenth
@given(st.lists(st.tuples(hostile_datagrams, st.floats(0, 3)), min_size=1, max_size=12))
def test_hostile_packet_sequences_keep_the_invariants(steps: list[tuple[bytes, float]]) -> None:
    _hostile_packet_sequences_keep_the_invariants(steps)


@pytest.mark.slow
@fuzz_tenth
@given(st.lists(st.tuples(hostile_datagrams, st.floats(0, 3)), min_size=1, max_size=12))
def test_hostile_packet_sequences_keep_the_invariants_full_budget(
    steps: list[tuple[bytes, float]],
) -> None:
    _hostile_packet_sequences_keep_the_invariants(steps)


def _exchange_handlers_never_raise(data: bytes) -> None:
    node = _node()
    before = node.all_members()
    reply, _ = node.handle_exchange(data, NOW)
    try:
        ours = codec.decode_exchange(data).label == node.config.label
    except DecodeError:
        ours = False
    if not ours:
        # Dropped, or refused with a short reason (another group's label, issue 19).
        assert reply is None or refusals.decode(reply) is not None
        assert node.all_members() == before
    joiner = make_node(9)
    request = only(joiner.join([node.address], NOW))
    assert isinstance(request, ExchangeRequest)
    joiner.exchange_reply(request.exchange_id, data, NOW)
    assert "dropped.internal_error" not in node.counters()
    assert "dropped.internal_error" not in joiner.counters()


@quick_fuzz_tenth
@given(st.binary(max_size=3000) | mutated(push_pulls.map(codec.encode_push_pull)))
def test_exchange_handlers_never_raise(data: bytes) -> None:
    _exchange_handlers_never_raise(data)


@pytest.mark.slow
@fuzz_tenth
@given(st.binary(max_size=3000) | mutated(push_pulls.map(codec.encode_push_pull)))
def test_exchange_handlers_never_raise_full_budget(data: bytes) -> None:
    _exchange_handlers_never_raise(data)


# Hostile but valid, case by case ----------------------------------------------------------


def test_incarnations_that_leap_too_far_are_dropped_and_counted() -> None:
    node = _node()
    for update in (
        Alive("x", addr(40), MAX),  # an unknown member: the leap is measured from 0
        Alive("x", addr(40), 5),
        Suspect("x", MAX, "y"),
        Dead("x", 5 + STEP + 1, "y"),
        Alive("x", addr(41), MAX),
    ):
        node.receive(encode(Gossip(), update), SOURCE, NOW)
    x = node.member("x")
    assert x is not None and (x.incarnation, x.state, x.address) == (5, State.ALIVE, addr(40))
    assert node.counters()["dropped.incarnation_jump"] == 4
    two = (Suspect("x", 5 + STEP, "y"), Suspect("x", 5 + STEP, "z"))  # corroborated
    node.receive(encode(Gossip(), *two), SOURCE, NOW)
    x = node.member("x")
    assert x is not None and (x.incarnation, x.state) == (5 + STEP, State.SUSPECT)
    assert "dropped.internal_error" not in node.counters()


@pytest.mark.parametrize("kind", ["suspect", "dead", "left"])
@pytest.mark.parametrize("incarnation", [0, 7, STEP - 1, STEP])
def test_own_name_reported_failed_is_refuted_never_accepted(kind: str, incarnation: int) -> None:
    node = _node()
    updates: dict[str, Update] = {
        "suspect": Suspect(node.name, incarnation, "liar"),
        "dead": Dead(node.name, incarnation, "liar"),
        "left": Left(node.name, incarnation),
    }
    update = updates[kind]
    node.receive(encode(Gossip(), update), SOURCE, NOW)
    me = node.member(node.name)
    assert me is not None and me.state is State.ALIVE
    assert node.incarnation == incarnation + 1
    out = node.receive(encode(Ping(1, node.name, "liar")), SOURCE, NOW)
    assert Alive(node.name, node.address, node.incarnation, b"") in updates_in(out)


@pytest.mark.parametrize("kind", ["suspect", "dead", "left", "alive"])
@pytest.mark.parametrize("incarnation", [STEP + 1, MAX - 1, MAX])
def test_own_name_reported_beyond_the_step_is_ignored(kind: str, incarnation: int) -> None:
    node = _node()
    updates: dict[str, Update] = {
        "suspect": Suspect(node.name, incarnation, "liar"),
        "dead": Dead(node.name, incarnation, "liar"),
        "left": Left(node.name, incarnation),
        "alive": Alive(node.name, addr(66), incarnation),
    }
    update = updates[kind]
    node.receive(encode(Gossip(), update), SOURCE, NOW)
    assert node.incarnation == 0
    assert node.counters()["dropped.incarnation_jump"] == 1


def test_refutation_of_a_suspicion_just_below_the_step_convinces_peers() -> None:
    node, peer = make_node(1), make_node(2)
    start(peer, node)
    peer.receive(encode(Gossip(), Suspect(node.name, STEP, "liar")), SOURCE, NOW)
    node.receive(encode(Gossip(), Suspect(node.name, STEP, "liar")), SOURCE, NOW)
    reply = node.receive(encode(Ping(1, node.name, peer.name)), peer.address, NOW)
    peer.receive(only(sends(reply)).data, node.address, NOW)
    assert known(peer, node.name).state is State.ALIVE
    assert node.incarnation == STEP + 1


def test_refutation_of_a_suspicion_at_the_maximum_convinces_peers() -> None:
    """Issue 13 item 7: one forged suspicion at 2**64-1 used to evict a live member for good."""
    node, peer = make_node(1), make_node(2)
    start(peer, node)
    peer.receive(encode(Gossip(), Suspect(node.name, MAX, "liar")), SOURCE, NOW)
    node.receive(encode(Gossip(), Suspect(node.name, MAX, "liar")), SOURCE, NOW)
    reply = node.receive(encode(Ping(1, node.name, peer.name)), peer.address, NOW)
    peer.receive(only(sends(reply)).data, node.address, NOW)
    assert known(peer, node.name).state is State.ALIVE


def test_alive_at_the_maximum_cannot_move_a_name_for_good() -> None:
    """Issue 13 item 7: alive news at 2**64-1 used to move a member's name for good."""
    node, peer = make_node(1), make_node(2)
    start(peer, node)
    peer.receive(encode(Gossip(), Alive(node.name, addr(66), MAX)), addr(66), NOW)
    held = peer.member(node.name)
    assert held is not None and held.address == node.address
    # A forged leap within the step moves it, and the real member's refutation moves it back.
    peer.receive(encode(Gossip(), Alive(node.name, addr(66), STEP)), addr(66), NOW)
    node.receive(encode(Gossip(), Alive(node.name, addr(66), STEP)), addr(66), NOW)
    reply = node.receive(encode(Ping(1, node.name, peer.name)), peer.address, NOW)
    peer.receive(only(sends(reply)).data, node.address, NOW)
    held = peer.member(node.name)
    assert held is not None and (held.address, held.incarnation) == (node.address, STEP + 1)


def test_someone_claiming_our_name_elsewhere_is_refuted() -> None:
    node = _node()
    node.receive(encode(Gossip(), Alive(node.name, addr(66), 3, b"evil")), addr(66), NOW)
    me = node.member(node.name)
    assert me is not None and (me.address, me.meta, me.incarnation) == (node.address, b"", 4)


def test_absurd_metadata_is_dropped_and_counted() -> None:
    node = _node()
    before = node.all_members()
    meta = b"m" * (node.config.max_metadata + 1)
    out = node.receive(encode(Gossip(), Alive("big", addr(41), 0, meta)), SOURCE, NOW)
    assert of_type(out, MemberJoined) == []
    assert node.all_members() == before
    assert node.counters()["dropped.metadata_too_large"] == 1


def test_unspecified_addresses_are_dropped_and_counted() -> None:
    node = _node()
    for ip in ("0.0.0.0", "::"):
        node.receive(encode(Gossip(), Alive(f"zero-{ip}", Address(ip, 7946), 0)), SOURCE, NOW)
    assert node.member("zero-0.0.0.0") is None and node.member("zero-::") is None
    assert node.counters()["dropped.unspecified_address"] == 2


def test_duplicated_names_in_one_packet_apply_in_order() -> None:
    node = _node()
    updates = (
        Alive("dup", addr(42), 1),
        Alive("dup", addr(42), 0),
        Alive("dup", addr(43), 2, b"second"),
        Suspect("dup", 2, "y"),
        Alive("dup", addr(43), 2),
        Dead("dup", 2, "y"),
        Dead("dup", 2, "z"),
    )
    out = node.receive(encode(Gossip(), *updates), SOURCE, NOW)
    dup = node.member("dup")
    assert dup is not None
    assert (dup.incarnation, dup.state, dup.address, dup.meta) == (
        2,
        State.DEAD,
        addr(43),
        b"second",
    )
    assert len(of_type(out, MemberJoined)) == 1
    assert "dropped.internal_error" not in node.counters()


def test_member_names_cannot_collide_with_user_broadcast_keys() -> None:
    """A peer named like the node's internal queue key for a broadcast must not displace it."""
    node = _node()
    node.broadcast("k2", b"important", NOW)
    node.receive(encode(Gossip(), Alive("\x00user:k2", addr(44), 0)), SOURCE, NOW)
    carried = []
    for seq in range(3):
        carried += updates_in(node.receive(encode(Ping(seq, node.name, "p")), SOURCE, NOW))
    assert any(isinstance(u, UserBroadcast) and u.key == "k2" for u in carried)


def test_a_flood_of_unknown_acks_and_nacks_is_counted() -> None:
    node = _node()
    before = node.all_members()
    for seq in range(50):
        node.receive(encode(Ack(10_000 + seq)), SOURCE, NOW)
        node.receive(encode(Nack(10_000 + seq)), SOURCE, NOW)
    counters = node.counters()
    assert (counters["dropped.stale_ack"], counters["dropped.stale_nack"]) == (50, 50)
    assert node.all_members() == before


def test_a_snapshot_larger_than_the_table_limit_is_bounded() -> None:
    node = make_node(1, Config.lan(max_members=10))
    rows = tuple(MemberState(f"m{i}", addr(100 + i), 0, State.ALIVE) for i in range(50))
    reply, events = node.handle_exchange(codec.encode_push_pull(PushPull("", False, rows)), NOW)
    assert reply is not None
    assert len(node.all_members()) == 10
    assert len(of_type(events, MemberJoined)) == 9
    # Rows past max_members are not merged at all; of the first ten, one finds no room.
    assert node.counters()["dropped.snapshot_rows"] == 40
    assert node.counters()["dropped.table_full"] == 1


def test_user_broadcasts_from_strangers_are_delivered_once() -> None:
    node = _node()
    news = UserBroadcast("stranger", "topic", 5, b"hi")
    first = node.receive(encode(Gossip(), news), SOURCE, NOW)
    again = node.receive(encode(Gossip(), news, news), SOURCE, NOW)
    assert of_type(first, BroadcastReceived) == [BroadcastReceived("stranger", "topic", b"hi")]
    assert of_type(again, BroadcastReceived) == []
