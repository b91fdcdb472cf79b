"""User broadcasts and metadata updates spreading through large simulated clusters."""

from __future__ import annotations

import math
from collections.abc import Iterable

import attrs
import pytest
from helpers import Link, make_node

from swimcore import Action, Address, BroadcastReceived, Config, MemberUpdated, Node, Send
from swimcore.messages import UserBroadcast
from swimcore.transports.sim import SimNetwork
from swimcore.wire.native import codec

CONFIG = Config.lan()


def _bootstrapped(size: int, seed: int) -> tuple[SimNetwork, list[Node]]:
    net = SimNetwork(seed=seed)
    nodes = [
        Node(CONFIG, Address(f"10.{i // 250}.{i % 250}.1", 7946), seed=seed * 100_000 + i)
        for i in range(size)
    ]
    members = [(n.name, n.address) for n in nodes]
    for node in nodes:
        net.add(node)
        net.start(node, members)
    return net, nodes


def _feed(net: SimNetwork, node: Node, actions: list[Action]) -> None:
    """Carry out the actions a user call on ``node`` returned, inside the simulation."""
    net._carry(net.hosts[node.address], actions)


@pytest.mark.parametrize("size", [200, pytest.param(1000, marks=pytest.mark.slow)])
def test_broadcast_reaches_every_node_while_membership_news_keeps_its_pace(size: int) -> None:
    net, nodes = _bootstrapped(size, seed=7)
    net.run_for(3.0)
    payload_at: dict[str, float] = {}
    meta_at: dict[str, float] = {}

    def watch(now: float, node: Node, action: Action) -> None:
        if isinstance(action, BroadcastReceived) and action.key == "config":
            payload_at.setdefault(node.name, now)
        if isinstance(action, MemberUpdated) and action.member.meta == b"v2":
            meta_at.setdefault(node.name, now)

    net.observers.append(watch)
    start = net.now
    origin, changer = nodes[0], nodes[1]
    _feed(net, origin, origin.broadcast("config", b"x" * 200, start))
    _feed(net, changer, changer.set_metadata(b"v2", start))
    # Infection-style spread needs O(log n) rounds; allow ten protocol periods for each.
    bound = 10 * CONFIG.probe_interval
    net.run_for(bound)
    assert len(payload_at) == size - 1, "every other node got the broadcast"
    assert len(meta_at) == size - 1, "every other node saw the metadata change"
    broadcast_time = max(payload_at.values()) - start
    meta_time = max(meta_at.values()) - start
    print(
        f"\nbroadcast reached all {size} in {broadcast_time:.2f}s, "
        f"metadata news in {meta_time:.2f}s (simulated)"
    )
    assert broadcast_time <= bound
    assert meta_time <= bound


@attrs.define
class SendLog(Link):
    """A link that also records every action in the order each node produced it."""

    produced: list[tuple[Address, Action]] = attrs.field(factory=list)

    def carry(self, node: Node, actions: Iterable[Action], now: float) -> None:
        actions = list(actions)
        self.produced += [(node.address, a) for a in actions]
        super().carry(node, actions, now)


def test_newer_payload_under_same_key_stops_the_older_one() -> None:
    """Once a node holds version 2 of a key, it never sends version 1 again."""
    nodes = [make_node(i, Config.lan(gossip_nodes=2)) for i in range(30)]
    link = SendLog()
    link.add(*nodes)
    members = [(n.name, n.address) for n in nodes]
    for node in nodes:
        link.carry(node, node.start(0.0, members), 0.0)
    link.run(until=1.0)
    origin = nodes[0]
    link.carry(origin, origin.broadcast("k", b"old", 1.0), 1.0)
    link.run(until=1.2, start=1.05)
    first = len(link.produced)
    link.carry(origin, origin.broadcast("k", b"new", 1.2), 1.2)
    link.run(until=10.0, start=1.25)
    holds_new = {origin.address}
    old_sent_by_holders = new_sent = 0
    for address, action in link.produced[first:]:
        if isinstance(action, BroadcastReceived) and action.payload == b"new":
            holds_new.add(address)
        elif isinstance(action, Send):
            for update in codec.decode_packet(action.data).updates:
                if isinstance(update, UserBroadcast):
                    new_sent += update.version == 2
                    old_sent_by_holders += update.version == 1 and address in holds_new
    assert new_sent > 0
    assert old_sent_by_holders == 0
    final = {name: e.payload for name, e in link.events if isinstance(e, BroadcastReceived)}
    assert len(final) == len(nodes) - 1
    assert set(final.values()) == {b"new"}, "every node ends on the newest payload"
    retransmit_bound = CONFIG.broadcast_retransmit_mult * math.ceil(math.log10(len(nodes) + 1))
    sent_by_origin = [
        u
        for a, act in link.produced
        if a == origin.address and isinstance(act, Send)
        for u in codec.decode_packet(act.data).updates
        if isinstance(u, UserBroadcast)
    ]
    assert len([u for u in sent_by_origin if u.version == 1]) <= retransmit_bound
