"""Application payloads in the core: user broadcasts, direct messages, metadata updates."""

from __future__ import annotations

import pytest
from helpers import Link, encode, make_node, of_type, only

from swimcore import (
    BroadcastReceived,
    Config,
    ConfigError,
    ExchangeRequest,
    MemberUpdated,
    MessageDelivered,
    MessageFailed,
    MessageReceived,
    StateError,
)
from swimcore.messages import Dead, Gossip
from swimcore.testing import group


def pair(config: Config | None = None) -> Link:
    a, b = make_node(0, config), make_node(1, config)
    link = Link()
    link.add(a, b)
    for node, other in ((a, b), (b, a)):
        link.carry(node, node.start(0.0, [(other.name, other.address)]), 0.0)
    return link


def test_the_largest_broadcast_allowed_is_delivered_even_in_small_packets() -> None:
    config = Config.lan(max_packet=512, max_metadata=100)
    link = pair(config)
    a, b = link.nodes.values()
    with pytest.raises(ConfigError, match="at most"):
        a.broadcast("k", b"x" * 512, 0.0)
    biggest = 0
    while True:
        try:
            a.broadcast("probe-size", b"x" * (biggest + 1), 0.0)
        except ConfigError:
            break
        biggest += 1
    link.carry(a, a.broadcast("k", b"y" * biggest, 0.0), 0.0)
    link.run(until=3.0)
    got = [e for e in link.events_of(b.name, BroadcastReceived) if e.key == "k"]
    assert [e.payload for e in got] == [b"y" * biggest]


def test_best_effort_message_arrives_as_an_event() -> None:
    link = pair()
    a, b = link.nodes.values()
    link.carry(a, a.send_message(b.name, b"hello", 0.1), 0.1)
    link.deliver(0.1)
    assert link.events_of(b.name, MessageReceived) == [MessageReceived(a.name, b"hello", False)]


def test_reliable_message_is_acknowledged() -> None:
    a, b = make_node(0), make_node(1)
    a.start(0.0, [(b.name, b.address)])
    b.start(0.0, [(a.name, a.address)])
    request = only(of_type(a.send_message(b.name, b"ask", 0.1, reliable=True), ExchangeRequest))
    reply, events = b.handle_exchange(request.data, 0.2)
    assert of_type(events, MessageReceived) == [MessageReceived(a.name, b"ask", True)]
    assert reply is not None
    done = a.exchange_reply(request.exchange_id, reply, 0.3)
    assert of_type(done, MessageDelivered) == [MessageDelivered(request.exchange_id, b.name)]


def test_reliable_message_failure_is_reported_not_hung() -> None:
    a, b = make_node(0), make_node(1)
    a.start(0.0, [(b.name, b.address)])
    request = only(of_type(a.send_message(b.name, b"ask", 0.1, reliable=True), ExchangeRequest))
    failed = a.exchange_failed(request.exchange_id, "timed out", 5.0)
    assert of_type(failed, MessageFailed) == [
        MessageFailed(request.exchange_id, b.name, "timed out")
    ]


def test_messages_to_unknown_or_dead_members_raise_at_once() -> None:
    a = make_node(0)
    a.start(0.0, [("b", make_node(1).address)])
    with pytest.raises(StateError, match="unknown"):
        a.send_message("nobody", b"x", 0.0)
    a.receive(encode(Gossip(), Dead("b", 0, "x")), make_node(2).address, 0.0)
    with pytest.raises(StateError, match="dead"):
        a.send_message("b", b"x", 0.0, reliable=True)


def test_metadata_change_spreads_with_a_higher_incarnation() -> None:
    link = pair()
    a, b = link.nodes.values()
    link.carry(a, a.set_metadata(b"zone=b", 0.1), 0.1)
    assert a.incarnation == 1
    link.run(until=2.0, start=0.1)
    updated = only(link.events_of(b.name, MemberUpdated))
    assert updated.member.meta == b"zone=b"
    assert updated.member.incarnation == 1


@pytest.mark.parametrize("wire", ["native", "memberlist", "memberlist+lzw"])
def test_a_broadcast_reaches_every_other_member_once_and_never_comes_back(wire: str) -> None:
    if wire != "native":
        pytest.importorskip("msgpack")
    net, nodes = group(3, Config.lan(label="t", wire=wire))
    sender, *others = nodes
    for value in (b"dark-mode=on", b"dark-mode=off"):
        net.feed(sender, sender.broadcast("flags", value, net.now))
        net.run_for(5.0)
    for node in others:
        got = [e.payload for e in net.events(node) if isinstance(e, BroadcastReceived)]
        assert got == [b"dark-mode=on", b"dark-mode=off"], (wire, node.name)
    # On memberlist's wire the payload is all that travels and peers pass it on: the sender
    # hears its own broadcast again, and must know it.
    assert [e for e in net.events(sender) if isinstance(e, BroadcastReceived)] == []
