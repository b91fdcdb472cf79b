"""The memberlist profile inside a node: the mapping rules, captured Go traffic fed to a Node,
and whole clusters of swimcore nodes speaking memberlist's protocol on the simulator."""

from __future__ import annotations

import functools
import json
import math
import random
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swimcore import (
    Address,
    Config,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberUpdated,
    MessageReceived,
    Node,
    Send,
    State,
)
from swimcore.errors import ConfigError
from swimcore.keyring import Keyring
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
)
from swimcore.transports.sim import SimNetwork
from swimcore.wire.memberlist import packet, stream
from swimcore.wire.memberlist.messages import (
    MlAck,
    MlAlive,
    MlDead,
    MlIndirectPing,
    MlNack,
    MlPing,
    MlPushPull,
    MlSuspect,
    MlUserStream,
    MsgType,
    NodeState,
    vsn_bytes,
)
from swimcore.wire.memberlist.profile import MemberlistWire

CAPTURES = json.loads((Path(__file__).parent / "data/memberlist/captures.json").read_text())
LOOPBACK = bytes([127, 0, 0, 1])
ML = Config.lan(wire="memberlist")


def _node(port: int, config: Config = ML, **kw: Any) -> Node:
    return Node(config, Address("127.0.0.1", port), name=f"n{port}", seed=port, **kw)


def _sent(actions: list[Any]) -> list[Send]:
    return [a for a in actions if isinstance(a, Send)]


def _decode(node: Node, data: bytes) -> list[Any]:
    wire = node.wire
    assert isinstance(wire, MemberlistWire)
    return packet.decode_datagram(data, label=wire.label, keys=wire.keys())


def test_config_names_the_profile() -> None:
    with pytest.raises(ConfigError, match="wire"):
        Config.lan(wire="zgroup")
    assert isinstance(_node(1).wire, MemberlistWire)
    assert not isinstance(Node(Config.lan(), Address("127.0.0.1", 1)).wire, MemberlistWire)


def test_ping_carries_the_source_and_gets_acked_to_memberlist_shape() -> None:
    a, b = _node(7001), _node(7002)
    a.start(0.0, [(b.name, b.address)])
    b.start(0.0, [(a.name, a.address)])
    probe = next(
        s
        for t in (0.5, 1.0, 1.5, 2.0)
        for s in _sent(a.tick(t))
        if s.to == b.address and isinstance(_decode(a, s.data)[0], MlPing)
    )
    ping = _decode(a, probe.data)[0]
    assert ping == MlPing(ping.seq, b.name, LOOPBACK, 7001, a.name)
    answer = _sent(b.receive(probe.data, a.address, 2.0))
    assert isinstance(_decode(b, answer[0].data)[0], MlAck)
    # memberlist pings with no name are for whoever receives them.
    anonymous = packet.encode_datagram([MlPing(77, "")])
    acks = [m for s in _sent(b.receive(anonymous, a.address, 2.1)) for m in _decode(b, s.data)]
    assert MlAck(77) in acks


def test_incarnations_are_one_higher_on_the_wire() -> None:
    node = _node(7003)
    wire = node.wire
    encoded = wire.encode_update(Alive(node.name, node.address, 0))
    alive = packet.decode_command(encoded[2:])[0]
    assert isinstance(alive, MlAlive) and alive.incarnation == 1  # memberlist ignores 0
    assert alive.vsn == vsn_bytes()  # protocol 2..5, speaking 2; delegate 0
    decoded = wire.decode_packet(packet.encode_datagram([MlSuspect(5, "x", "y")]))
    assert decoded.updates == (Suspect("x", 4, "y"),)


def test_a_dead_message_from_the_node_itself_is_a_leave() -> None:
    wire = _node(7004).wire
    left = wire.decode_packet(packet.encode_datagram([MlDead(3, "x", "x")]))
    dead = wire.decode_packet(packet.encode_datagram([MlDead(3, "x", "y")]))
    assert left.updates == (Left("x", 2),) and dead.updates == (Dead("x", 2, "y"),)
    assert isinstance(left.message, Gossip)
    again = packet.decode_command(wire.encode_update(Left("x", 2))[2:])
    assert again == [MlDead(3, "x", "x")]


def test_relayed_alive_keeps_the_members_version_bytes() -> None:
    node = _node(7005)
    go_vsn = bytes([1, 5, 2, 0, 0, 0])
    node.receive(
        packet.encode_datagram([MlAlive(4, "go", LOOPBACK, 9000, b"m", go_vsn)]),
        Address("127.0.0.1", 9000),
        0.0,
    )
    member = node.member("go")
    assert member is not None and member.incarnation == 3 and member.meta == b"m"
    relayed = packet.decode_command(
        node.wire.encode_update(Alive("go", member.address, 3, b"m"))[2:]
    )
    assert relayed == [MlAlive(4, "go", LOOPBACK, 9000, b"m", go_vsn)]


@pytest.mark.parametrize(
    "vsn",
    [
        bytes([0, 5, 2, 0, 0, 0]),
        bytes([3, 2, 2, 0, 0, 0]),
        bytes([1, 1, 1, 0, 0, 0]),
        bytes([6, 9, 7, 0, 0, 0]),
    ],
)
def test_members_outside_our_protocol_range_are_refused(vsn: bytes) -> None:
    node = _node(7006)
    data = packet.encode_datagram([MlAlive(4, "old", LOOPBACK, 9000, b"", vsn)])
    node.receive(data, Address("127.0.0.1", 9000), 0.0)
    assert node.member("old") is None
    assert node.counters()["dropped.malformed"] == 1


def _alive_from(node: Node, name: str, port: int, incarnation: int, pmax: int) -> None:
    vsn = bytes([1, pmax, 2, 0, 0, 0])
    alive = MlAlive(incarnation, name, LOOPBACK, port, b"", vsn)
    node.receive(packet.encode_datagram([alive]), Address("127.0.0.1", port), 0.0)


def _ack_has_crc(node: Node, port: int, seq: int) -> bool:
    """Whether ``node``'s ack to a ping from ``port`` carries the CRC prefix."""
    ping = MlPing(seq, node.name, LOOPBACK, port, f"p{port}")
    actions = node.receive(packet.encode_datagram([ping]), Address("127.0.0.1", port), 0.0)
    [ack] = [s for s in _sent(actions) if s.to.port == port]
    assert any(isinstance(m, MlAck) and m.seq == seq for m in _decode(node, ack.data))
    return ack.data[0] == MsgType.HAS_CRC


def test_crc_is_left_off_for_the_member_that_cannot_read_it_only() -> None:
    node = _node(7007)
    _alive_from(node, "v4", 9001, 2, pmax=4)
    _alive_from(node, "v5", 9002, 2, pmax=5)
    assert not _ack_has_crc(node, 9001, 1)
    assert _ack_has_crc(node, 9002, 2)
    assert _ack_has_crc(node, 9003, 3)  # an address never announced
    # The member upgraded in place: the last word about its address decides.
    _alive_from(node, "v4", 9001, 3, pmax=5)
    assert _ack_has_crc(node, 9001, 4)


def test_a_forged_old_alive_costs_the_crc_of_its_own_address_alone() -> None:
    node = _node(7008)
    for port in range(9001, 9011):
        _alive_from(node, f"m{port}", port, 1, pmax=5)
    _alive_from(node, "forged", 9500, 1, pmax=4)
    assert [_ack_has_crc(node, port, port) for port in range(9001, 9011)] == [True] * 10
    assert not _ack_has_crc(node, 9500, 1)


# Captured Go traffic, fed to a node ------------------------------------------------------------


def _scenario(name: str) -> dict[str, Any]:
    return CAPTURES["scenarios"][name]  # type: ignore[no-any-return]  # parsed JSON: untyped


def _records(scenario: dict[str, Any], transport: str, kind: str) -> list[bytes]:
    return [
        bytes.fromhex(r["hex"])
        for r in scenario["records"]
        if r["transport"] == transport and r["kind"] == kind
    ]


@pytest.mark.parametrize("variant", ["plain", "compressed", "encrypted", "encrypted_compressed"])
def test_a_node_answers_a_captured_go_join(variant: str) -> None:
    scenario = _scenario(variant)
    ctx = scenario["context"]
    keyring = Keyring(bytes.fromhex(ctx["key"])) if ctx["key"] else None
    wire = "memberlist+lzw" if ctx["compress"] else "memberlist"
    node = Node(
        Config.lan(wire=wire),
        Address("127.0.0.1", ctx["py_port"]),
        name=ctx["py_name"],
        keyring=keyring,
    )
    node.start(0.0)
    join = _records(scenario, "tcp", "MlPushPull")[0]
    reply, actions = node.handle_exchange(join, 0.1)
    assert reply is not None
    joined = [a.member for a in actions if isinstance(a, MemberJoined)]
    assert [(m.name, m.address.port, m.meta) for m in joined] == [
        (ctx["go_name"], ctx["go_port"], b"role=go")
    ]
    profile = node.wire
    assert isinstance(profile, MemberlistWire)
    answer = stream.decode_stream(reply, keys=profile.keys())
    assert isinstance(answer, MlPushPull) and not answer.join
    rows = {row.name: row for row in answer.nodes}
    assert rows[ctx["py_name"]].state is NodeState.ALIVE
    assert rows[ctx["go_name"]].vsn == bytes([1, 5, 2, 0, 0, 0])  # relayed as Go announced it
    # Then Go's gossip: its metadata changes, the ghost fails, Go leaves.
    events: list[Any] = []
    for kind in ("MlAlive", "MlDead", "MlAlive+MlAlive+MlAlive"):
        for data in _records(scenario, "udp", kind):
            events += node.receive(data, Address("127.0.0.1", ctx["go_port"]), 1.0)
    updated = [a.member for a in events if isinstance(a, MemberUpdated)]
    assert [(m.name, m.meta) for m in updated] == [(ctx["go_name"], b"role=go2")]
    assert any(isinstance(a, MemberLeft) and a.member.name == ctx["go_name"] for a in events)
    go = node.member(ctx["go_name"])
    assert go is not None and go.state is State.LEFT


def test_a_node_relays_a_captured_indirect_ping_and_nacks() -> None:
    scenario = _scenario("plain")
    ctx = scenario["context"]
    node = Node(ML, Address("127.0.0.1", ctx["py_port"]), name=ctx["py_name"], seed=3)
    node.start(0.0)
    go = Address("127.0.0.1", ctx["go_port"])
    ghost = Address("127.0.0.1", ctx["ghost_port"])
    request = _records(scenario, "udp", "MlIndirectPing")[0]
    (original,) = packet.decode_datagram(request)
    assert isinstance(original, MlIndirectPing)
    out = _sent(node.receive(request, go, 0.0))
    probe = next(s for s in out if s.to == ghost)
    ping = _decode(node, probe.data)[0]
    assert isinstance(ping, MlPing) and ping.node == "ghost" and ping.source_node == ctx["py_name"]
    later = _sent(node.tick(1.0))
    nacks = [m for s in later if s.to == go for m in _decode(node, s.data) if isinstance(m, MlNack)]
    assert nacks == [MlNack(original.seq)]


# Clusters of swimcore nodes on memberlist's wire, simulated -----------------------------------


def _cluster(
    config: Config, size: int, seed: int, keyring: Keyring | None = None
) -> tuple[SimNetwork, list[Node]]:
    net = SimNetwork(seed=seed)
    nodes = [
        Node(
            config,
            Address(f"10.0.0.{i + 1}", 7946),
            name=f"m{i}",
            seed=seed * 100 + i,
            keyring=keyring,
        )
        for i in range(size)
    ]
    for node in nodes:
        net.add(node)
    net.start(nodes[0])
    for i, node in enumerate(nodes[1:], start=1):
        net.at(0.05 * i, functools.partial(net.join, node, [nodes[0].address]))
    return net, nodes


@pytest.mark.parametrize(
    ("wire", "encrypted"), [("memberlist", False), ("memberlist+lzw", False), ("memberlist", True)]
)
def test_a_simulated_cluster_on_memberlist_wire_converges_detects_and_leaves(
    wire: str, encrypted: bool
) -> None:
    config = Config.lan(wire=wire, label="blue" if encrypted else "")
    keyring = Keyring(bytes(range(16))) if encrypted else None
    net, nodes = _cluster(config, 12, seed=5, keyring=keyring)
    failed: list[tuple[str, str]] = []
    left: list[tuple[str, str]] = []
    net.observers.append(
        lambda now, node, action: (
            failed.append((node.name, action.member.name))
            if isinstance(action, MemberFailed)
            else left.append((node.name, action.member.name))
            if isinstance(action, MemberLeft)
            else None
        )
    )
    net.run_for(10.0)
    assert all(len(n.members()) == 12 for n in nodes)
    net.feed(nodes[3], nodes[3].set_metadata(b"v2", net.now))
    net.crash(nodes[5])
    net.leave(nodes[7])
    limit = 20 * config.probe_interval + 6 * config.suspicion_mult * math.log10(12)
    net.run_for(limit)
    survivors = [n for i, n in enumerate(nodes) if i not in (5, 7)]
    for node in survivors:
        assert {m.name for m in node.members()} == {n.name for n in survivors}
        assert (node.name, "m5") in failed and (node.name, "m7") in left
        assert (node.name, "m7") not in failed
        meta = node.member("m3")
        assert meta is not None and meta.meta == b"v2"
    assert all(n.counters().get("dropped.malformed", 0) == 0 for n in survivors)


def test_same_seed_same_bytes_on_memberlist_wire() -> None:
    digests = []
    for _ in range(2):
        net, _nodes = _cluster(
            Config.lan(wire="memberlist+lzw"), 6, seed=9, keyring=Keyring(bytes(16))
        )
        net.run_for(5.0)
        digests.append(net.trace_digest)
    assert digests[0] == digests[1]


def test_random_is_never_global() -> None:
    state = random.getstate()
    _cluster(ML, 3, seed=1)[0].run_for(2.0)
    assert random.getstate() == state


@pytest.mark.parametrize("variant", ["plain", "encrypted_compressed"])
def test_a_captured_tcp_fallback_ping_is_answered_with_an_ack_stream(variant: str) -> None:
    scenario = _scenario(variant)
    ctx = scenario["context"]
    keyring = Keyring(bytes.fromhex(ctx["key"])) if ctx["key"] else None
    wire = "memberlist+lzw" if ctx["compress"] else "memberlist"
    node = Node(
        Config.lan(wire=wire),
        Address("127.0.0.1", ctx["py_port"]),
        name=ctx["py_name"],
        keyring=keyring,
    )
    profile = node.wire
    assert isinstance(profile, MemberlistWire)
    node.start(0.0)
    pings = _records(scenario, "tcp", "MlPing")
    assert pings
    for data in pings:
        (ping_data, used) = profile.stream.split(data + b"rest", 1 << 20) or (b"", 0)
        assert used == len(data) and ping_data == data
        ping = stream.decode_stream(data, keys=profile.keys())
        assert isinstance(ping, MlPing)
        reply, _ = node.handle_exchange(data, 1.0)
        assert reply is not None
        assert stream.decode_stream(reply, keys=profile.keys()) == MlAck(ping.seq)
        assert profile.read_stream_ack(reply, profile.label) == ping.seq
    assert node.counters()["stream_pings_answered"] == len(pings)
    # A ping for another name gets no answer (and is counted).
    other = stream.encode_stream(
        MlPing(1, "someone-else"), keys=profile.keys(), rng=random.Random(0)
    )
    assert node.handle_exchange(other, 2.0)[0] is None
    assert node.counters()["dropped.wrong_target"] == 1


def test_reliable_user_streams_become_direct_messages_and_need_no_reply() -> None:
    node = _node(7010)
    node.start(0.0)
    data = stream.encode_stream(MlUserStream(b"hello"))
    reply, actions = node.handle_exchange(data, 0.1)
    assert reply == b""  # memberlist closes the stream without answering
    received = [a for a in actions if isinstance(a, MessageReceived)]
    assert [(a.origin, a.payload, a.reliable) for a in received] == [("", b"hello", True)]
    assert node.wire.stream.at_eof() == b""


# Round trips of swimcore's messages through the profile -----------------------------------------

_wire_incarnations = st.integers(0, 2**32 - 2)


def _not_v4_mapped(ip: IPv4Address | IPv6Address) -> bool:
    """An IPv6 address that is not an IPv4 address in disguise (``::ffff:a.b.c.d``)."""
    return isinstance(ip, IPv6Address) and ip.ipv4_mapped is None


_names = st.text(min_size=1, max_size=30)
_ips = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6).filter(_not_v4_mapped))
_addresses = st.builds(Address, _ips, st.integers(1, 65535))
_ME = "me"
_messages = st.one_of(
    st.builds(Ping, st.integers(0, 2**32 - 1), _names, st.just(_ME)),
    st.builds(
        IndirectPing, st.integers(0, 2**32 - 1), _names, _addresses, st.just(_ME), st.booleans()
    ),
    st.builds(Ack, st.integers(0, 2**32 - 1)),
    st.builds(Nack, st.integers(0, 2**32 - 1)),
    st.just(Gossip()),
)
_updates = st.one_of(
    st.builds(Alive, _names, _addresses, _wire_incarnations, st.binary(max_size=64)),
    st.builds(Suspect, _names, _wire_incarnations, _names),
    st.builds(Dead, _names, _wire_incarnations, _names).filter(lambda d: d.by != d.name),
    st.builds(Left, _names, _wire_incarnations),
)
_rows = st.builds(
    MemberState,
    _names,
    _addresses,
    _wire_incarnations,
    st.sampled_from(list(State)),
    st.binary(max_size=64),
)


@settings(max_examples=80)
@given(
    _messages,
    st.lists(_updates, max_size=8),
    st.sampled_from(["memberlist", "memberlist+lzw"]),
    st.sampled_from(["", "blue"]),
    st.booleans(),
)
def test_swimcore_packets_round_trip_through_the_profile(
    message: Any, updates: list[Any], wire: str, label: str, encrypted: bool
) -> None:
    keyring = Keyring(bytes(range(16))) if encrypted else None
    node = Node(
        Config.lan(wire=wire, label=label), Address("127.0.0.1", 7946), name=_ME, keyring=keyring
    )
    profile = node.wire
    data = profile.assemble(
        profile.header,
        profile.encode_message(message),
        [profile.encode_update(u) for u in updates],
    )
    assert profile.decode_packet(data) == Packet(label, message, tuple(updates))
    label_read, message_read, updates_read, _ = profile.read_packet(data)
    assert (label_read, message_read, tuple(updates_read)) == (label, message, tuple(updates))
    if isinstance(message, Ack):
        assert profile.encode_ack(message.seq) == profile.encode_message(message)


@settings(max_examples=50)
@given(st.lists(_rows, max_size=10), st.booleans(), st.booleans())
def test_push_pull_snapshots_round_trip_through_the_profile(
    rows: list[MemberState], join: bool, encrypted: bool
) -> None:
    keyring = Keyring(bytes(range(16))) if encrypted else None
    node = Node(ML, Address("127.0.0.1", 7946), name=_ME, keyring=keyring)
    snapshot = PushPull("", join, tuple(rows))
    assert node.wire.decode_exchange(node.wire.encode_push_pull(snapshot)) == snapshot
