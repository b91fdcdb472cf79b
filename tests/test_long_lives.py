"""Issue 13: long lives and hostile peers, one regression test per finding (core side).

Each test names the item of the issue it covers; each failed on 25ef229.
"""

from __future__ import annotations

import math

import pytest
from helpers import addr, encode, make_node, sends, start
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_helpers import settle

from swimcore import ClockError, Config, Keyring, Node, Send, State
from swimcore.messages import Alive, Gossip, Ping, Suspect
from swimcore.transports.sim.checkers import (
    SafetyChecker,
    convergence_deadline,
    view_differences,
)
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.ops import Partition

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
    config = Config.lan(wire=wire, verify_before_death=True)
    prober = Node(config, addr(1), seed=1)
    suspect = Node(config, addr(2), seed=2)
    prober.start(0.0, [(suspect.name, suspect.address)])
    suspect.start(0.0, [(prober.name, prober.address)])
    prober.receive(_from(suspect, Suspect(suspect.name, 0, "other")), addr(3), 0.1)
    assert prober.member(suspect.name).state is State.SUSPECT  # type: ignore[union-attr]
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


def _from(node: Node, *updates: Alive | Suspect) -> bytes:
    wire = node.wire  # a packet as this node's profile encodes it
    return wire.seal(
        wire.assemble(
            wire.header, wire.encode_message(Gossip()), [wire.encode_update(u) for u in updates]
        )
    )
