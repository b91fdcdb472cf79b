"""Digest-first anti-entropy: a periodic push-pull between equal tables moves 30 bytes, not the
tables; a difference falls back to the full exchange; memberlist's wire keeps the full one."""

from __future__ import annotations

import contextlib

import pytest
from helpers import FUZZ_EXAMPLES, addr, make_node, of_type, quick
from hypothesis import given, settings
from hypothesis import strategies as st

from swimcore import Config, DecodeError, ExchangeRequest, Node, Send, antientropy
from swimcore.messages import MemberState, PushPull, State
from swimcore.wire.native import codec

fuzz = settings(max_examples=FUZZ_EXAMPLES)
#: The default suite's budget: see helpers.quick (the full one runs in a twin marked slow).
quick_fuzz = settings(max_examples=quick(FUZZ_EXAMPLES))


def _rows(count: int, bump: int = -1) -> list[MemberState]:
    return [
        MemberState(f"m{i}", addr(i), 1 if i == bump else 0, State.ALIVE, b"") for i in range(count)
    ]


def test_the_digest_ignores_order_and_sees_every_field() -> None:
    rows = _rows(50)
    assert antientropy.table_digest(rows) == antientropy.table_digest(list(reversed(rows)))
    assert antientropy.table_digest(rows) != antientropy.table_digest(_rows(50, bump=7))
    moved = [*rows[:-1], MemberState("m49", addr(99), 0, State.ALIVE, b"")]
    suspect = [*rows[:-1], MemberState("m49", addr(49), 0, State.SUSPECT, b"")]
    meta = [*rows[:-1], MemberState("m49", addr(49), 0, State.ALIVE, b"x")]
    digests = {antientropy.table_digest(r) for r in (rows, moved, suspect, meta, rows[:-1])}
    assert len(digests) == 5


@given(
    st.sampled_from([1, 2, 3]),
    st.text(max_size=40),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**64 - 1),
)
def test_frames_round_trip(kind: int, label: str, count: int, value: int) -> None:
    digest = antientropy.Digest(kind, label, count, value)
    assert antientropy.decode(antientropy.encode(digest)) == digest


def _garbage_raises_only_decode_error(data: bytes) -> None:
    frame = antientropy.encode(antientropy.Digest(1, "l", 3, 4))
    for candidate in (data, antientropy.MAGIC + data):
        with contextlib.suppress(DecodeError):  # anything else propagates and fails the test
            antientropy.decode(candidate)
    with pytest.raises(DecodeError):  # every strict prefix of a frame is refused
        antientropy.decode(frame[: len(data) % len(frame)])


@quick_fuzz
@given(st.binary(max_size=80))
def test_garbage_raises_only_decode_error(data: bytes) -> None:
    _garbage_raises_only_decode_error(data)


@pytest.mark.slow
@fuzz
@given(st.binary(max_size=80))
def test_garbage_raises_only_decode_error_full_budget(data: bytes) -> None:
    _garbage_raises_only_decode_error(data)


def _pair(config: Config) -> tuple[Node, Node]:
    a, b = make_node(1, config), make_node(2, config)
    members = [(a.name, a.address), (b.name, b.address)]
    a.start(0.0, members)
    b.start(0.0, members)
    return a, b


def _first_push_pull(node: Node, peer: Node, now: float) -> tuple[float, ExchangeRequest]:
    """Run both nodes, delivering every datagram between them, until ``node`` asks for an
    exchange."""
    nodes = {node.address: node, peer.address: peer}
    while True:
        pending = [(node.address, a) for a in node.tick(now)]
        pending += [(peer.address, a) for a in peer.tick(now)]
        while pending:
            source, action = pending.pop(0)
            if isinstance(action, Send):
                target = nodes.get(action.to)  # (other members are not there: lost)
                if target is not None:
                    received = target.receive(action.data, source, now)
                    pending += [(target.address, a) for a in received]
            elif isinstance(action, ExchangeRequest) and source == node.address:
                return now, action
        now += 0.1


def test_equal_tables_exchange_only_digests() -> None:
    a, b = _pair(Config.lan(push_pull_interval=2.0))
    now, request = _first_push_pull(a, b, 0.0)
    assert antientropy.is_digest(request.data)
    reply, _ = b.handle_exchange(request.data, now)
    assert reply is not None and len(reply) < 40
    actions = a.exchange_reply(request.exchange_id, reply, now)
    assert not of_type(actions, ExchangeRequest)
    assert a.counters()["digests_matched"] == 1
    assert b.counters()["digests_answered"] == 1
    assert b.counters().get("exchanges_answered", 0) == 0


def test_different_tables_fall_back_to_the_full_exchange() -> None:
    a, b = _pair(Config.lan(push_pull_interval=2.0))
    now, request = _first_push_pull(a, b, 0.0)
    b.set_metadata(b"new", now)  # b's own row now differs from a's copy (its news is not sent)
    reply, _ = b.handle_exchange(request.data, now)
    assert reply is not None
    full = of_type(a.exchange_reply(request.exchange_id, reply, now), ExchangeRequest)
    assert a.counters()["digests_differed"] == 1
    assert len(full) == 1 and not antientropy.is_digest(full[0].data)
    answer, _ = b.handle_exchange(full[0].data, now)
    assert answer is not None
    a.exchange_reply(full[0].exchange_id, answer, now)
    assert {m.name: m.meta for m in a.members()}[b.name] == b"new"


@pytest.mark.parametrize("wire", ["memberlist", "memberlist+lzw"])
def test_memberlist_wire_keeps_the_full_push_pull(wire: str) -> None:
    a, b = _pair(Config.lan(push_pull_interval=2.0, wire=wire))
    _, request = _first_push_pull(a, b, 0.0)
    assert not antientropy.is_digest(request.data)


def test_a_large_tables_digests_are_summed_a_slice_per_step() -> None:
    """A digest of 60,000 rows took 0.5 s in one call with cold caches: a node's digest
    request and its answer are summed 256 records per step, to the value of the whole."""
    # (Only the two of them answer: no TCP fallback probes of the others among the requests.)
    config = Config.lan(push_pull_interval=2.0, tcp_fallback_probe=False)
    a, b = make_node(1, config), make_node(2, config)
    rows = [MemberState(f"m{i:05d}", addr(10 + i), 1, State.ALIVE, b"") for i in range(698)] + [
        MemberState(n.name, n.address, 0, State.ALIVE, b"") for n in (a, b)
    ]
    for node in (a, b):  # tables learned from exchanges (no shared roster: every row summed)
        node.start(0.0)
        for start in range(0, len(rows), 200):
            push_pull = PushPull("", False, tuple(rows[start : start + 200]))
            node.handle_exchange(codec.encode_push_pull(push_pull), 0.0)
    now, request = _first_push_pull(a, b, 0.0)
    outgoing = request.outgoing
    assert [outgoing.step() for _ in range(3)] == [False, False, True]  # 700 records
    asked = antientropy.decode(request.data)
    assert asked.kind == antientropy.REQUEST and asked.count == 700
    assert (asked.count, asked.digest) == antientropy.table_digest(a.all_members())
    reply, _ = b.answer_exchange(request.data, now)
    assert reply is not None and [reply.step() for _ in range(3)] == [False, False, True]
    answer = antientropy.decode(reply.data)
    assert (answer.count, answer.digest) == antientropy.table_digest(b.all_members())
    assert answer.kind == (
        antientropy.MATCH if answer.digest == asked.digest else antientropy.DIFFER
    )
