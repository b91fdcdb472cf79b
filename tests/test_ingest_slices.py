"""Issue 13, item 2: a snapshot is decoded and merged a slice at a time, between protocol work.

The property that matters is a timing (no call holds the protocol loop for long), which tests
do not assert; they assert its structure instead: no single call of the node decodes more than
``MERGE_SLICE`` rows (counted by a hook on the per-row decoder of each wire profile), a ping
arriving mid-snapshot is answered in its own call, a snapshot malformed part-way leaves the rows
before the fault merged and the rest dropped and counted, and pending snapshots stay bounded.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence

import attrs
import pytest
from helpers import addr, of_type, sends
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swimcore import Config, ExchangeRequest, JoinResult, MemberInfo, Node, State
from swimcore.ingest import MAX_PENDING
from swimcore.messages import Ack, MemberState, Ping
from swimcore.node import MERGE_PAUSE, MERGE_SLICE
from swimcore.wire.memberlist import bodies, lzw, stream
from swimcore.wire.memberlist.messages import MlPushPull
from swimcore.wire.memberlist.profile import MemberlistWire
from swimcore.wire.native import codec
from swimcore.wire.native.codec import PUSH_PULL, _checksummed, header, row_bytes

WIRES = ("native", "memberlist", "memberlist+lzw")


def _rows(n: int, tag: str = "r", meta: bytes = b"") -> list[MemberState]:
    return [
        MemberState(f"{tag}-{i:05d}", addr(2 + i % 60000, 7000 + i % 1000), 1, State.ALIVE, meta)
        for i in range(n)
    ]


def _encode(wire: str, rows: list[MemberState], *, bad_at: int | None = None) -> bytes:
    """A snapshot of ``rows`` on ``wire``; the row at ``bad_at`` is malformed (an unknown
    state on the native wire, port 0 on memberlist's), every check around it still valid."""
    if wire == "native":
        parts = [row_bytes(row) for row in rows]
        if bad_at is not None:
            damaged = bytearray(parts[bad_at])
            damaged[-3] = 9  # the state byte (rows without metadata end state, u16 length)
            parts[bad_at] = bytes(damaged)
        count = struct.pack(">I", len(parts))
        return _checksummed(header("") + bytes((PUSH_PULL, 0)) + count + b"".join(parts))
    profile = Node(Config.lan(wire="memberlist"), addr(1), name="sender").wire
    assert isinstance(profile, MemberlistWire)
    ml_rows = [profile.to_ml_row(row) for row in rows]
    if bad_at is not None:
        ml_rows[bad_at] = attrs.evolve(ml_rows[bad_at], port=0)
    message = MlPushPull(False, tuple(ml_rows), b"")
    return stream.encode_stream(message, compress=wire == "memberlist+lzw")


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Rows decoded so far, counted at each wire's per-row decoder (caches emptied first)."""
    count = [0]

    def counting(real: Callable[..., object]) -> Callable[..., object]:
        def wrapper(*args: object) -> object:
            count[0] += 1
            return real(*args)

        return wrapper

    codec._DECODED_ROWS.clear()
    monkeypatch.setattr(codec, "_row_from", counting(codec._row_from))
    monkeypatch.setattr(bodies, "decode_node_state", counting(bodies.decode_node_state))
    yield count
    codec._DECODED_ROWS.clear()


def _receiver(wire: str, admit_merge: Callable[[Sequence[MemberInfo]], bool] | None = None) -> Node:
    node = Node(
        Config.lan(wire=wire), addr(65000), name="receiver", seed=2, admit_merge=admit_merge
    )
    node.start(0.0)
    return node


def _feed(node: Node, data: bytes, how: str, now: float = 1.0) -> list[object]:
    """Hand ``data`` to ``node`` as a request it answers, or as the reply to its join."""
    if how == "request":
        reply, out = node.handle_exchange(data, now)
        assert reply is not None
        return list(out)
    [request] = of_type(node.join([addr(64000)], now), ExchangeRequest)
    return list(node.exchange_reply(request.exchange_id, data, now))


def _drain(node: Node, now: float = 1.0, *, each: Callable[[], None] | None = None) -> float:
    """Tick ``node`` until no snapshot is pending; ``each`` runs after every call."""
    steps = 0
    while node.counters()["snapshots_pending"]:
        deadline = node.next_deadline()  # the node asks for the next step soon
        assert deadline is not None and deadline <= now + MERGE_PAUSE + 1e-9
        now += MERGE_PAUSE
        node.tick(now)
        if each is not None:
            each()
        steps += 1
        assert steps < 10_000
    return now


def _names(node: Node) -> list[str]:
    return sorted(m.name for m in node.all_members() if m.name != node.name)


@pytest.mark.parametrize("how", ["request", "reply"])
@pytest.mark.parametrize("wire", WIRES)
def test_no_call_decodes_more_than_a_slice_of_rows(wire: str, how: str, decoded: list[int]) -> None:
    rows = _rows(5 * MERGE_SLICE + 17)
    data = _encode(wire, rows)
    node = _receiver(wire)
    _feed(node, data, how)
    per_call = [decoded[0]]
    assert 0 < per_call[0] <= MERGE_SLICE

    def note() -> None:
        per_call.append(decoded[0] - sum(per_call))

    _drain(node, each=note)
    assert max(per_call) <= MERGE_SLICE
    assert sum(per_call) == len(rows)  # each row decoded once, none skipped
    assert len(per_call) >= len(rows) // MERGE_SLICE
    assert _names(node) == sorted(r.name for r in rows)
    assert node.counters()["merge_backlog"] == 0


@pytest.mark.parametrize("wire", WIRES)
def test_a_ping_mid_snapshot_is_answered_in_its_own_call(wire: str, decoded: list[int]) -> None:
    node = _receiver(wire)
    rows = _rows(4 * MERGE_SLICE)
    _feed(node, _encode(wire, rows), "request")
    backlog = node.counters()["merge_backlog"]
    assert backlog == len(rows) - MERGE_SLICE
    peer = Node(Config.lan(wire=wire), addr(3), name="peer", seed=3)
    w = peer.wire
    ping = w.seal(w.assemble(w.header, w.encode_message(Ping(41, "receiver", "peer")), []))
    before = decoded[0]
    out = node.receive(ping, addr(3), 1.0005)
    [ack] = [s for s in sends(out) if s.to == addr(3)]
    assert node.wire.decode_packet(ack.data).message == Ack(41)
    # The ping's call neither decoded nor merged a row: the snapshot waits for the next tick.
    assert decoded[0] == before
    assert node.counters()["merge_backlog"] == backlog
    _drain(node)
    assert len(_names(node)) == len(rows)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    wire=st.sampled_from(WIRES),
    how=st.sampled_from(["request", "reply"]),
    size=st.integers(MERGE_SLICE + 1, 3 * MERGE_SLICE),
    where=st.floats(0.0, 0.999),
)
def test_a_row_malformed_part_way_keeps_the_rows_before_it_and_drops_the_rest(
    wire: str, how: str, size: int, where: float
) -> None:
    rows = _rows(size, tag=f"m{size}")
    bad = int(where * size)
    node = _receiver(wire)
    node.start(0.0, [("known", addr(9))])
    _feed(node, _encode(wire, rows, bad_at=bad), how)
    _drain(node)
    # Rows before the fault were each valid and are merged; none after it.
    assert _names(node) == sorted(["known", *(r.name for r in rows[:bad])])
    for row in rows[:bad]:
        held = node.member(row.name)
        assert held is not None and (held.address, held.state) == (row.address, State.ALIVE)
    counters = node.counters()
    assert counters["dropped.malformed_exchange"] == 1
    assert counters["dropped.malformed_rows"] == size - bad
    assert counters["merge_backlog"] == 0 and counters["snapshots_pending"] == 0


@pytest.mark.parametrize("cut", [0.3, 0.8])
def test_a_memberlist_snapshot_cut_part_way_is_dropped_with_the_rows_before_kept(
    cut: float,
) -> None:
    rows = _rows(3 * MERGE_SLICE)
    data = _encode("memberlist", rows)
    # The row boundaries: what the header and each row take.
    profile = Node(Config.lan(wire="memberlist"), addr(1)).wire
    assert isinstance(profile, MemberlistWire)
    sizes = [len(bodies.encode_fields(profile.to_ml_row(r))) for r in rows]
    head = len(data) - sum(sizes)
    whole = int(cut * len(rows))
    end = head + sum(sizes[:whole]) + 3  # three bytes into the next row
    node = _receiver("memberlist")
    _feed(node, data[:end], "request")
    _drain(node)
    assert _names(node) == sorted(r.name for r in rows[:whole])
    assert node.counters()["dropped.malformed_rows"] == len(rows) - whole


def test_a_native_snapshot_cut_part_way_is_refused_at_once_by_its_checksum() -> None:
    node = _receiver("native")
    data = _encode("native", _rows(3 * MERGE_SLICE))
    reply, _ = node.handle_exchange(data[: len(data) // 2], 1.0)
    assert reply is None
    assert node.counters()["dropped.malformed_exchange"] == 1
    assert node.counters()["snapshots_pending"] == 0 and _names(node) == []


@pytest.mark.parametrize("wire", WIRES)
def test_pending_snapshots_are_bounded_and_the_newest_always_merges(wire: str) -> None:
    node = _receiver(wire)
    size = 2 * MERGE_SLICE
    for i in range(MAX_PENDING + 2):  # each answered at once; only the first is read at once
        _feed(node, _encode(wire, _rows(size, tag=f"s{i}")), "request", now=1.0)
        assert node.counters()["snapshots_pending"] <= MAX_PENDING
    counters = node.counters()
    # The two oldest were dropped (the first after its first slice): their rows are counted.
    assert counters["dropped.merge_backlog"] == (size - MERGE_SLICE) + size
    _drain(node)
    names = _names(node)
    for i in range(2, MAX_PENDING + 2):
        assert {r.name for r in _rows(size, tag=f"s{i}")} <= set(names)
    assert not any(name.startswith("s1-") for name in names)


def test_rows_pending_stay_within_max_members() -> None:
    node = Node(Config.lan(max_members=4 * MERGE_SLICE), addr(65000), seed=2)
    node.start(0.0)
    _feed(node, _encode("native", _rows(3 * MERGE_SLICE, tag="a")), "request")
    assert node.counters()["merge_backlog"] == 2 * MERGE_SLICE
    _feed(node, _encode("native", _rows(2 * MERGE_SLICE + 5, tag="b")), "request")
    counters = node.counters()
    # Both would need 4 * MERGE_SLICE + 5 rows still to merge: the older one gave way.
    assert counters["merge_backlog"] == 2 * MERGE_SLICE + 5
    assert counters["dropped.merge_backlog"] == 2 * MERGE_SLICE
    _drain(node)
    assert len([n for n in _names(node) if n.startswith("b-")]) == 2 * MERGE_SLICE + 5


def test_a_newer_answer_from_the_same_peer_replaces_the_pending_one() -> None:
    node = _receiver("native")
    first = _encode("native", _rows(3 * MERGE_SLICE, tag="old"))
    second = _encode("native", _rows(3 * MERGE_SLICE, tag="new"))
    requests = of_type(node.join([addr(64000)], 1.0), ExchangeRequest)
    requests += of_type(node.join([addr(64000)], 1.0), ExchangeRequest)
    node.exchange_reply(requests[0].exchange_id, first, 1.0)
    node.exchange_reply(requests[1].exchange_id, second, 1.0)
    assert node.counters()["snapshots_pending"] == 1
    assert node.counters()["dropped.merge_backlog"] == 2 * MERGE_SLICE
    _drain(node)
    assert len([n for n in _names(node) if n.startswith("old-")]) == MERGE_SLICE


@pytest.mark.parametrize("verdict", [True, False])
def test_a_large_join_reply_waits_for_the_applications_verdict(verdict: bool) -> None:
    seen: list[int] = []

    def admit(rows: Sequence[MemberInfo]) -> bool:
        seen.append(len(rows))
        return verdict

    node = _receiver("native", admit_merge=admit)
    rows = _rows(3 * MERGE_SLICE)
    out = _feed(node, _encode("native", rows), "reply")
    assert of_type(out, JoinResult) == [] and _names(node) == []  # nothing merged unread
    results: list[JoinResult] = []
    now = 1.0
    while node.counters()["snapshots_pending"]:
        now += MERGE_PAUSE
        results += of_type(node.tick(now), JoinResult)
    assert seen == [len(rows)]
    [result] = results
    assert bool(result.reached) is verdict
    assert len(_names(node)) == (len(rows) if verdict else 0)
    if not verdict:
        assert node.counters()["merges_vetoed"] == 1


def test_a_compressed_snapshot_is_decompressed_a_slice_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """memberlist compresses streams by default: the LZW work per call is bounded too."""
    made = [0]
    real = lzw.Decompressor.run

    def counting(self: lzw.Decompressor, until: int | None = None) -> bool:
        before = self.produced
        try:
            return real(self, until)
        finally:
            made[0] += self.produced - before

    monkeypatch.setattr(lzw.Decompressor, "run", counting)
    rows = _rows(40 * MERGE_SLICE)
    data = _encode("memberlist+lzw", rows)
    node = _receiver("memberlist+lzw")
    _feed(node, data, "request")
    per_call = [made[0]]

    def note() -> None:
        per_call.append(made[0] - sum(per_call))

    _drain(node, each=note)
    # Each call decompresses one piece ahead of the rows (a code adds at most 4 KiB more);
    # the first also the header's piece.
    bound = stream._HEAD_READY + stream._READY + 2 * 4096
    assert max(per_call) <= bound
    assert sum(per_call) > 2 * bound  # so the snapshot was more than one call's worth
    assert _names(node) == sorted(r.name for r in rows)


@pytest.mark.parametrize("size", [MERGE_SLICE, 4 * MERGE_SLICE])
def test_a_compressed_snapshot_decodes_whole_and_merges(size: int) -> None:
    """Larger than what is decompressed at once: the eager decoder and a snapshot read at once
    (at most MERGE_SLICE rows) read on until every row is there."""
    # Metadata that compresses poorly, so that the rows take more than one piece.
    rows = _rows(size, tag=f"z{size}", meta=bytes(range(256)) * 2)
    data = _encode("memberlist+lzw", rows)
    node = _receiver("memberlist+lzw")
    whole = node.wire.decode_exchange(data)
    assert [m.name for m in whole.members] == [r.name for r in rows]  # type: ignore[union-attr]
    reply, _ = node.handle_exchange(data, 1.0)
    assert reply is not None
    _drain(node)
    assert _names(node) == sorted(r.name for r in rows)
    assert "dropped.malformed_exchange" not in node.counters()
