"""Issue 13: long lives and hostile peers, one regression test per finding (core side).

Each test names the item of the issue it covers; each failed on 25ef229.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import attrs
import pytest
from helpers import STABILITY_OFF, addr, encode, known, make_node, of_type, sends, start
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_helpers import settle

from swimcore import (
    BroadcastReceived,
    ClockError,
    Config,
    ExchangeRequest,
    Keyring,
    MessageFailed,
    MessageReceived,
    Node,
    Send,
    State,
)
from swimcore.messages import Alive, Dead, Gossip, Left, Ping, Suspect, UserBroadcast
from swimcore.node import MAX_PENDING_EXCHANGES, MERGE_PAUSE, MERGE_SLICE
from swimcore.transports.sim.checkers import (
    SafetyChecker,
    convergence_deadline,
    view_differences,
)
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.ops import Partition
from swimcore.wire.memberlist import framing, packet
from swimcore.wire.memberlist.messages import MlPing, MlUser

# Item 1: a partition of any length heals through the seeds ---------------------------------

#: Quick anti-entropy and a short memory of the dead, so that a partition outlives it.
SHORT_MEMORY = Config.lan(
    push_pull_interval=10.0,
    gossip_to_the_dead_time=15.0,
    reclaim_time=30.0,
    reconnect_interval=10.0,
)


def test_a_partition_longer_than_reclaim_time_heals_through_the_seeds() -> None:
    cluster = SimCluster(
        24, seed=3, config=SHORT_MEMORY, bootstrap=False, seeds=2, join_spread=0.1, trace=False
    )
    checker = SafetyChecker(cluster.net)
    cluster.run_for(20.0)
    assert cluster.converged()
    # Both seeds (0 and 1) on one side: the other side only has seeds it cannot reach.
    cluster.apply(Partition(tuple(range(12)), duration=200.0))
    cluster.run_for(200.0)
    first, last = cluster.node(0), cluster.node(23)
    # Each side has forgotten the other: no dead member is left to reconnect through.
    assert first.member(last.name) is None and last.member(first.name) is None
    # Bound: one reconnect round reaches a seed across, then the convergence deadline.
    bound = SHORT_MEMORY.reconnect_interval + convergence_deadline(SHORT_MEMORY, 24)
    took = settle(cluster, limit=bound)
    assert took < bound, view_differences(cluster.views(), cluster.expected_view())
    checker.raise_if_violated()


def test_reconnect_contacts_a_seed_missing_from_the_view_even_with_no_one_dead() -> None:
    node = make_node(1, SHORT_MEMORY)
    peer = make_node(2, SHORT_MEMORY)
    start(node, peer)
    node.join([addr(9)], 0.0)
    assert not node.counters().get("members.dead")
    out = []
    now = 0.0
    while now < 2 * SHORT_MEMORY.reconnect_interval:
        now += 0.5
        out += node.tick(now)
    assert node.counters().get("heal_exchanges", 0) >= 1
    assert any(getattr(a, "to", None) == addr(9) for a in out)


# Item 7 lives in test_receive_fuzz.py (the former strict xfail, now passing).


# Item 8: every packet fits max_packet ------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    wire=st.sampled_from(["native", "memberlist", "memberlist+lzw"]),
    max_packet=st.integers(512, 1500),
    metas=st.lists(st.integers(0, 512), min_size=1, max_size=12),
    name_len=st.integers(1, 200),
    stale=st.lists(st.integers(0, 11), max_size=8),
    keyed=st.booleans(),
)
def test_every_packet_a_node_sends_fits_max_packet(
    wire: str, max_packet: int, metas: list[int], name_len: int, stale: list[int], keyed: bool
) -> None:
    config = Config.lan(wire=wire, max_packet=max_packet, max_metadata=min(512, max_packet - 300))
    keyring = Keyring(bytes(16)) if keyed else None
    meta = b"m" * min(metas[0], config.max_metadata)
    node = Node(config, addr(1), name="n" * name_len, meta=meta, keyring=keyring)
    node.start(0.0)
    sender = Node(config, addr(2), name="sender", keyring=keyring)
    names = [f"{'x' * name_len}{i}"[-200:] for i in range(len(metas))]
    out: list[object] = []

    def feed(update: Alive | Suspect, message: Ping | Gossip, now: float) -> None:
        # A packet from the sender's own node: its wire, its keys.
        wire = sender.wire
        datagram = wire.seal(
            wire.assemble(wire.header, wire.encode_message(message), [wire.encode_update(update)])
        )
        out.extend(node.receive(datagram, sender.address, now))

    for i, size in enumerate(metas):
        feed(Alive(names[i], addr(10 + i), 3, b"x" * min(size, config.max_metadata)), Gossip(), 0.1)
    # Stale suspicions of alive members draw corrections, appended to the ack of a ping.
    for i in stale:
        j = i % len(names)
        feed(Suspect(names[j], 0, "liar"), Ping(7 + i, node.name, "sender"), 0.2)
    now = 0.2
    while now < 20.0:
        now += 0.1
        out.extend(node.tick(now))
    packets = [a for a in out if isinstance(a, Send)]
    assert packets
    assert max(len(p.data) for p in packets) <= max_packet


def test_an_ack_with_corrections_stays_within_max_packet() -> None:
    """The 1,623-byte ack of the report: four corrections about members with 512-byte meta."""
    node = make_node(1)
    node.start(0.0)
    for i in range(4):
        node.receive(encode(Gossip(), Alive(f"big{i}", addr(20 + i), 5, b"m" * 512)), addr(2), 0.1)
    stale = [Suspect(f"big{i}", 0, "liar") for i in range(4)]
    out = node.receive(encode(Ping(1, node.name, "p"), *stale), addr(2), 0.2)
    assert [len(s.data) <= node.config.max_packet for s in sends(out)] == [True]


# Item 9: absurd times are refused at once --------------------------------------------------


@pytest.mark.parametrize("now", [math.inf, -math.inf, math.nan, 1e16, 1e300, -1e16])
def test_tick_and_receive_refuse_absurd_times(now: float) -> None:
    node = make_node(1)
    node.start(0.0)
    with pytest.raises(ClockError):
        node.tick(now)
    with pytest.raises(ClockError):
        node.receive(encode(Gossip()), addr(2), now)
    assert node.tick(1.0) is not None  # the node still works


# Item 10: the last-chance probe goes through the wire profile ------------------------------


@pytest.mark.parametrize("wire", ["native", "memberlist", "memberlist+lzw"])
def test_the_last_chance_probe_is_read_by_a_suspect_on_any_wire(wire: str) -> None:
    # SWIM's own rules: one accuser's suspicion is believed at once (issue 18's mechanisms off).
    config = Config.lan(wire=wire, verify_before_death=True, **STABILITY_OFF)
    prober = Node(config, addr(1), seed=1)
    suspect = Node(config, addr(2), seed=2)
    prober.start(0.0, [(suspect.name, suspect.address)])
    suspect.start(0.0, [(prober.name, prober.address)])
    prober.receive(_from(suspect, Suspect(suspect.name, 0, "other")), addr(3), 0.1)
    assert known(prober, suspect.name).state is State.SUSPECT
    verify: list[Send] = []
    now = 0.1
    while prober.counters().get("verifications", 0) == 0 and now < 120.0:
        now += 0.1
        verify = [s for s in sends(prober.tick(now)) if s.to == suspect.address]
    assert prober.counters().get("verifications", 0) == 1 and verify
    # Whatever the prober sent the suspect since the suspicion, the suspect must read it all.
    before = suspect.incarnation
    for send in verify:
        suspect.receive(send.data, prober.address, now)
    assert "dropped.malformed" not in suspect.counters()
    assert suspect.incarnation > before  # it saw the suspicion and refuted it


def _from(node: Node, *updates: Alive | Suspect | Dead | Left) -> bytes:
    wire = node.wire  # a packet as this node's profile encodes it
    return wire.seal(
        wire.assemble(
            wire.header, wire.encode_message(Gossip()), [wire.encode_update(u) for u in updates]
        )
    )


# Item 5: user broadcasts within bounds that never make a member deaf -------------------------

ML = Config.lan(wire="memberlist")


def _broadcasts_at(node: Node, out: Iterable[object]) -> list[tuple[str, bytes]]:
    return [(a.key, a.payload) for a in out if isinstance(a, BroadcastReceived)]


def test_new_broadcast_keys_still_arrive_after_max_broadcasts_keys() -> None:
    node = make_node(1, Config.lan(max_broadcasts=10))
    node.start(0.0)
    for i in range(25):
        node.receive(encode(Gossip(), UserBroadcast("p", f"k{i}", 1, b"x")), addr(2), 1.0)
    out = node.receive(encode(Gossip(), UserBroadcast("p", "late", 1, b"y")), addr(2), 1.0)
    assert _broadcasts_at(node, out) == [("late", b"y")]
    assert node.counters()["broadcast_keys"] <= 10


def test_keys_of_local_broadcasts_are_forgotten_too() -> None:
    node = make_node(1, Config.lan(max_broadcasts=10))
    node.start(0.0)
    for i in range(50):
        node.broadcast(f"mine{i}", b"v", 1.0)
    assert node.counters()["broadcast_keys"] == 10
    assert node.counters()["broadcast_keys_forgotten"] == 40


def test_a_forged_maximum_version_neither_freezes_a_key_nor_breaks_broadcast() -> None:
    a, b = make_node(1), make_node(2)
    start(a, b)
    start(b, a)
    forged = encode(Gossip(), UserBroadcast("evil", "k", 2**64 - 1, b"frozen"))
    assert _broadcasts_at(a, a.receive(forged, addr(66), 0.1)) == []
    assert a.counters()["dropped.broadcast_version_jump"] == 1
    b.receive(forged, addr(66), 0.1)
    out = a.broadcast("k", b"fresh", 0.2)  # used to raise struct.error
    got: list[tuple[str, bytes]] = []
    now = 0.2
    while not got and now < 5.0:
        now += 0.1
        for send in sends(out + a.tick(now)):
            if send.to == b.address:
                got += _broadcasts_at(b, b.receive(send.data, a.address, now))
        out = []
    assert got == [("k", b"fresh")]


def _pump(nodes: list[Node], start: float, until: float, out: list[tuple[str, object]]) -> float:
    """Tick ``nodes`` every 0.1 s and carry every datagram between them; events into ``out``."""
    by_address = {node.address: node for node in nodes}
    now = start
    while now < until:
        now = round(now + 0.1, 6)
        pending = [(node, a) for node in nodes for a in node.tick(now)]
        while pending:
            node, action = pending.pop(0)
            if isinstance(action, Send) and action.to in by_address:
                target = by_address[action.to]
                pending += [(target, r) for r in target.receive(action.data, node.address, now)]
            elif not isinstance(action, Send | ExchangeRequest):
                out.append((node.name, action))
    return now


@pytest.mark.parametrize("wire", ["native", "memberlist"])
def test_a_value_toggled_on_off_on_ends_on_everywhere(wire: str) -> None:
    config = Config.lan(wire=wire)
    a, b = Node(config, addr(1), seed=1), Node(config, addr(2), seed=2)
    a.start(0.0, [(b.name, b.address)])
    b.start(0.0, [(a.name, a.address)])
    events: list[tuple[str, object]] = []
    now = 0.0
    for value in (b"on", b"off", b"on"):
        a.broadcast("switch", value, now)
        now = _pump([a, b], now, now + 60.0, events)
    got = [e.payload for n, e in events if n == b.name and isinstance(e, BroadcastReceived)]
    assert got == [b"on", b"off", b"on"]


# Item 6: a direct message reaches its addressee alone, once, on every wire ------------------


@pytest.mark.parametrize("wire", ["native", "memberlist", "memberlist+lzw"])
def test_a_best_effort_message_is_delivered_to_its_addressee_only(wire: str) -> None:
    config = Config.lan(wire=wire)
    a, b = Node(config, addr(1), seed=1), Node(config, addr(2), seed=2)
    a.start(0.0, [(b.name, b.address)])
    b.start(0.0, [(a.name, a.address)])
    b.tick(1.0)
    queued = b.queue_depth()
    [send] = sends(a.send_message(b.name, b"just for b", 1.0))
    out = b.receive(send.data, a.address, 1.0)
    received = [e for e in out if isinstance(e, MessageReceived)]
    assert [e.payload for e in received] == [b"just for b"]
    assert not [e for e in out if isinstance(e, BroadcastReceived)]
    assert b.queue_depth() == queued  # nothing to pass on


def test_a_go_best_effort_message_is_a_direct_message_and_never_passed_on() -> None:
    node = Node(ML, addr(1), seed=1)
    node.start(0.0, [("go1", addr(2))])
    node.tick(1.0)
    queued = node.queue_depth()
    # SendBestEffort: a user message alone in its datagram.
    datagram = packet.encode_datagram([MlUser(b"to you")])
    out = node.receive(datagram, addr(2), 1.0)
    assert [e.payload for e in out if isinstance(e, MessageReceived)] == [b"to you"]
    assert not [e for e in out if isinstance(e, BroadcastReceived)]
    assert node.queue_depth() == queued


def test_memberlist_user_messages_never_exhaust_a_seen_set() -> None:
    node = Node(attrs.evolve(ML, max_broadcasts=50), addr(1), seed=1)
    node.start(0.0, [("go1", addr(2))])
    ping = MlPing(1, node.name, addr(2).ip.packed, 7946, "go1")
    delivered = 0
    for i in range(200):
        user = MlUser(f"payload {i}".encode())
        datagram = packet.encode_datagram([ping, user])  # piggybacked: a broadcast
        out = node.receive(datagram, addr(2), 1.0 + i / 100)
        delivered += len([e for e in out if isinstance(e, BroadcastReceived)])
    assert delivered == 200
    assert node.counters()["broadcast_keys"] <= 50


# Item 12: a stream under a wrong key is an authentication failure --------------------------


def test_a_push_pull_under_a_wrong_key_is_counted_as_an_auth_failure() -> None:
    ours = Node(ML, addr(1), keyring=Keyring(bytes(16)), seed=1)
    theirs = Node(ML, addr(2), keyring=Keyring(bytes(range(16))), seed=2)
    [request] = [a for a in theirs.join([ours.address], 0.0) if isinstance(a, ExchangeRequest)]
    # The framing delimits the message without opening it ...
    framed = ours.wire.stream.reader(ML.max_exchange_bytes).feed(request.data)
    assert framed == request.data
    # ... and the node counts what no key opens as what it is, and answers as memberlist does:
    # an error response sealed with its own key (which the sender's key does not open).
    reply, _ = ours.handle_exchange(framed, 0.0)
    assert reply is not None
    refused = ("auth_failed", "it did not open with this member's keys")
    assert ours.wire.read_refusal(reply) == refused
    assert theirs.wire.read_refusal(reply) is None
    counters = ours.counters()
    assert counters["dropped.auth_failed"] == 1
    assert "dropped.malformed_exchange" not in counters


# Item 2 (core side): a stream is framed in linear time, snapshots capped by max_members -----


def _push_pull_stream(rows: int, config: Config = ML) -> bytes:
    node = Node(config, addr(1), seed=1)
    node.start(
        0.0, [(f"member-{i:06d}", addr(2 + i % 60000, 7000 + i % 1000)) for i in range(rows)]
    )
    [request] = [a for a in node.join([addr(65000)], 0.0) if isinstance(a, ExchangeRequest)]
    return request.data


def test_a_stream_in_small_pieces_is_walked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _push_pull_stream(5000)  # about 0.5 MB
    walked = 0
    real = framing.skip_flat_map

    def counting(buf: bytearray, pos: int) -> int:
        nonlocal walked
        walked += 1
        return real(buf, pos)

    monkeypatch.setattr(framing, "skip_flat_map", counting)
    reader = Node(ML, addr(9)).wire.stream.reader(ML.max_exchange_bytes)
    pieces = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    found = [reader.feed(piece) for piece in pieces]
    assert found[-1] == data and not any(found[:-1])
    # Each row once, plus at most one partial row and the header per piece: linear.
    assert walked <= 5000 + 2 * len(pieces)


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 4000), max_size=12),
    wire=st.sampled_from(["memberlist", "memberlist+lzw"]),
)
def test_framing_finds_the_same_end_however_the_bytes_are_cut(cuts: list[int], wire: str) -> None:
    config = Config.lan(wire=wire)
    data = _push_pull_stream(30, config) + b"trailing"
    reader = Node(config, addr(9)).wire.stream.reader(config.max_exchange_bytes)
    found, pos = None, 0
    for cut in sorted(set(cuts)):
        if found is None and cut > pos:
            found, pos = reader.feed(data[pos:cut]), cut
    if found is None:
        found = reader.feed(data[pos:])
    assert found == data[: -len(b"trailing")]


@pytest.mark.parametrize("wire", ["native", "memberlist"])
def test_snapshots_are_capped_by_max_members(wire: str) -> None:
    small = Config.lan(wire=wire, max_members=100)
    data = _push_pull_stream(150, Config.lan(wire=wire))
    node = Node(small, addr(9))
    node.start(0.0)
    reply, _ = node.handle_exchange(data, 0.0)
    assert reply is not None
    counters = node.counters()
    assert counters["dropped.snapshot_rows"] == 151 - 100
    assert counters["members"] == 100
    # The bytes an exchange may take follow from max_members too.
    assert node.exchange_limit < small.max_exchange_bytes
    assert Node(Config.lan(), addr(9)).exchange_limit == Config.lan().max_exchange_bytes


@pytest.mark.parametrize("wire", ["native", "memberlist"])
def test_a_large_snapshot_is_merged_a_slice_at_a_time(wire: str) -> None:
    config = Config.lan(wire=wire)
    rows = 3000
    sender = Node(config, addr(1), seed=1)
    sender.start(0.0, [(f"m{i:05d}", addr(2 + i % 60000, 7000 + i % 1000)) for i in range(rows)])
    [request] = [a for a in sender.join([addr(65000)], 0.0) if isinstance(a, ExchangeRequest)]
    node = Node(config, addr(65000), seed=2)
    node.start(0.0)
    reply, _ = node.handle_exchange(request.data, 1.0)
    assert reply is not None
    # One input merges one slice; the rest waits for the next ticks, between other inputs.
    assert len(node.all_members()) == 1 + MERGE_SLICE
    deadline = node.next_deadline()
    assert deadline is not None and deadline <= 1.0 + 2 * MERGE_PAUSE
    now, steps = 1.0, 0
    while len(node.all_members()) < rows + 2:
        now += MERGE_PAUSE
        before = len(node.all_members())
        node.tick(now)
        assert len(node.all_members()) - before <= MERGE_SLICE
        steps += 1
        assert steps < 100
    assert node.counters()["merge_backlog"] == 0


# Item 13: under the memberlist profile a name moves address by memberlist's rule ------------


def _ml_node_knowing(name: str, at: int) -> Node:
    node = Node(ML, addr(1), seed=1)
    node.start(0.0, [(name, addr(at))])
    return node


def test_memberlist_profile_keeps_a_live_name_at_its_address() -> None:
    node = _ml_node_knowing("restarted", 5)
    node.receive(_from(node, Alive("restarted", addr(6), 3)), addr(6), 1.0)
    held = node.member("restarted")
    assert held is not None and held.address == addr(5)
    assert node.counters()["dropped.address_conflict"] == 1


def test_memberlist_profile_moves_a_name_once_dead_for_gossip_to_the_dead_time() -> None:
    node = _ml_node_knowing("restarted", 5)
    node.receive(_from(node, Dead("restarted", 0, "x")), addr(7), 1.0)
    node.receive(_from(node, Alive("restarted", addr(6), 3)), addr(6), 2.0)
    assert known(node, "restarted").address == addr(5)
    later = 1.0 + ML.gossip_to_the_dead_time
    node.receive(_from(node, Alive("restarted", addr(6), 4)), addr(6), later)
    held = node.member("restarted")
    assert held is not None and (held.address, held.state) == (addr(6), State.ALIVE)


def test_memberlist_profile_moves_a_name_that_left_at_once() -> None:
    node = _ml_node_knowing("restarted", 5)
    node.receive(_from(node, Left("restarted", 0)), addr(5), 1.0)
    node.receive(_from(node, Alive("restarted", addr(6), 3)), addr(6), 1.1)
    assert known(node, "restarted").address == addr(6)


def test_native_profile_still_moves_a_restarted_name_at_once() -> None:
    node = make_node(1)
    node.start(0.0, [("restarted", addr(5))])
    node.receive(encode(Gossip(), Alive("restarted", addr(6), 3)), addr(6), 1.0)
    assert known(node, "restarted").address == addr(6)


def test_pending_exchanges_stay_bounded_when_a_driver_never_reports_back() -> None:
    node = make_node(1)
    node.start(0.0, [("peer", addr(2))])
    given_up = []
    for i in range(MAX_PENDING_EXCHANGES + 10):
        given_up += of_type(node.send_message("peer", b"x", 1.0 + i, reliable=True), MessageFailed)
    assert node.counters()["exchanges_pending"] == MAX_PENDING_EXCHANGES
    assert len(given_up) == 10 and node.counters()["exchanges_given_up"] == 10
