"""The TCP fallback probe (``Config.tcp_fallback_probe``), on both wire profiles.

When a direct probe gets no ack within ``probe_timeout``, the prober also pings the member over
the reliable exchange; an ack that comes back that way before the protocol period ends saves
the probe, as memberlist's ``probeNode`` does.  These tests drive two or three cores by hand
(every datagram dropped unless a test delivers it), then a simulated cluster whose datagrams
into one member are cut while its exchanges pass.
"""

from __future__ import annotations

import random

import pytest
from helpers import Link, addr, known, of_type, only, probe_timeout

from swimcore import (
    Action,
    Address,
    Config,
    ExchangeRequest,
    Keyring,
    MemberFailed,
    MemberSuspected,
    Node,
    Send,
    State,
)
from swimcore.errors import ConfigError
from swimcore.messages import StreamPing
from swimcore.transports.sim import SimNetwork
from swimcore.transports.sim.faults import Cut
from swimcore.wire.memberlist.messages import MlAlive, vsn_bytes
from swimcore.wire.memberlist.profile import MemberlistWire
from swimcore.wire.native import codec

WIRES = ["native", "memberlist"]
# Probes only: no gossip rounds, no anti-entropy, no reconnects, no last-chance probe.
QUIET = dict(
    gossip_interval=0.0,
    push_pull_interval=0.0,
    reconnect_interval=0.0,
    verify_before_death=False,
)


def _nodes(
    wire: str, count: int = 2, keyring: Keyring | None = None, **changes: object
) -> list[Node]:
    """``count`` started nodes that know each other, on ``wire``."""
    config = Config.lan(wire=wire, **{**QUIET, **changes})
    nodes = [
        Node(config, addr(i + 1), name=f"n{i + 1}", seed=i + 1, keyring=keyring)
        for i in range(count)
    ]
    for node in nodes:
        node.start(0.0, [(n.name, n.address) for n in nodes if n is not node])
    return nodes


def _until(node: Node, want: type[Action], limit: float = 30.0) -> tuple[float, list[Action]]:
    """Tick ``node`` deadline by deadline until an action of type ``want`` comes out."""
    while (deadline := node.next_deadline()) is not None and deadline <= limit:
        actions = node.tick(deadline)
        if of_type(actions, want):
            return deadline, actions
    raise AssertionError(f"{node.name} emitted no {want.__name__} before {limit}")


def _ticks(node: Node, until: float) -> list[Action]:
    out: list[Action] = []
    while (deadline := node.next_deadline()) is not None and deadline <= until:
        out += node.tick(deadline)
    return out


def _failed_probe(prober: Node) -> tuple[float, list[Action]]:
    """Let ``prober`` probe (its ping is dropped) until the probe timeout: (ping time, actions
    of the timeout)."""
    sent, _ = _until(prober, Send)
    return sent, _ticks(prober, sent + probe_timeout(prober))


def _suspected(actions: list[Action]) -> list[str]:
    """Members reported suspected or dead in ``actions`` (a suspicion is reported only once it
    has stood ``stability_suspect_hold``: the state says more, see ``_state``)."""
    return [e.member.name for e in actions if isinstance(e, MemberSuspected | MemberFailed)]


def _state(node: Node, name: str) -> State:
    return known(node, name).state


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("encrypted", [False, True])
def test_an_ack_over_the_stream_saves_a_probe_whose_datagrams_are_lost(
    wire: str, encrypted: bool
) -> None:
    keyring = Keyring(bytes(range(16))) if encrypted else None
    prober, target = _nodes(wire, keyring=keyring)
    sent, actions = _failed_probe(prober)
    request = of_type(actions, ExchangeRequest)
    assert [r.to for r in request] == [target.address]
    assert prober.counters()["tcp_fallback_probes"] == 1
    reply, _ = target.handle_exchange(request[0].data, sent + 0.6)
    assert reply is not None
    assert target.counters()["stream_pings_answered"] == 1
    prober.exchange_reply(request[0].exchange_id, reply, sent + 0.61)
    # The period ends (the next probe starts): no suspicion, health unharmed.
    after = _ticks(prober, sent + prober.config.probe_interval)
    assert _suspected(after) == []
    counters = prober.counters()
    assert counters["tcp_fallback_acked"] == 1
    assert "probes_failed" not in counters
    assert prober.health == 0
    assert _state(prober, target.name) is State.ALIVE


@pytest.mark.parametrize("wire", WIRES)
def test_a_failed_stream_leaves_the_member_suspected_as_before(wire: str) -> None:
    prober, target = _nodes(wire)
    sent, actions = _failed_probe(prober)
    request = of_type(actions, ExchangeRequest)[0]
    prober.exchange_failed(request.exchange_id, "timeout", sent + 0.9)
    _ticks(prober, sent + prober.config.probe_interval)
    assert _state(prober, target.name) is State.SUSPECT
    assert prober.counters()["tcp_fallback_failed"] == 1
    assert prober.counters()["probes_failed"] == 1


@pytest.mark.parametrize("wire", WIRES)
def test_a_reply_that_is_not_the_probes_ack_does_not_save_it(wire: str) -> None:
    prober, target = _nodes(wire)
    sent, actions = _failed_probe(prober)
    request = of_type(actions, ExchangeRequest)[0]
    wrong = target.wire.encode_stream_ack(target.config.label, 12345)  # another sequence number
    prober.exchange_reply(request.exchange_id, wrong, sent + 0.6)
    _ticks(prober, sent + prober.config.probe_interval)
    assert _state(prober, target.name) is State.SUSPECT
    assert prober.counters()["tcp_fallback_failed"] == 1


@pytest.mark.parametrize("wire", WIRES)
def test_an_ack_after_the_period_ended_is_late_and_changes_nothing(wire: str) -> None:
    prober, target = _nodes(wire)
    sent, actions = _failed_probe(prober)
    request = of_type(actions, ExchangeRequest)[0]
    end = sent + prober.config.probe_interval
    _ticks(prober, end)
    assert _state(prober, target.name) is State.SUSPECT
    reply, _ = target.handle_exchange(request.data, end + 0.1)
    assert reply is not None
    late = prober.exchange_reply(request.exchange_id, reply, end + 0.2)
    assert of_type(late, MemberSuspected) == []
    assert _state(prober, target.name) is State.SUSPECT  # the late ack saves nothing
    assert prober.counters()["tcp_fallback_late"] == 1
    assert "tcp_fallback_acked" not in prober.counters()


@pytest.mark.parametrize("wire", WIRES)
def test_switched_off_no_stream_ping_is_sent_and_the_member_is_suspected(wire: str) -> None:
    prober, target = _nodes(wire, tcp_fallback_probe=False)
    sent, actions = _failed_probe(prober)
    assert of_type(actions, ExchangeRequest) == []
    _ticks(prober, sent + prober.config.probe_interval)
    assert _state(prober, target.name) is State.SUSPECT
    assert "tcp_fallback_probes" not in prober.counters()


@pytest.mark.parametrize("wire", WIRES)
def test_an_ack_over_udp_first_is_not_counted_twice(wire: str) -> None:
    prober, target, relay = _nodes(wire, count=3)
    # Let the prober probe until its probe of ``target`` times out (pings dropped).
    while True:
        sent, actions = _failed_probe(prober)
        requests = of_type(actions, ExchangeRequest)
        if requests and requests[0].to == target.address:
            break
        _ticks(prober, sent + prober.config.probe_interval - 0.001)
    # The relay's indirect probe reaches the target; its ack comes back through the relay.
    indirect = [s for s in of_type(actions, Send) if s.to == relay.address]
    assert indirect
    relayed = relay.receive(indirect[0].data, prober.address, sent + 0.55)
    ping = only([s for s in of_type(relayed, Send) if s.to == target.address])
    ack = only(of_type(target.receive(ping.data, relay.address, sent + 0.56), Send))
    back = only(of_type(relay.receive(ack.data, target.address, sent + 0.57), Send))
    assert back.to == prober.address
    prober.receive(back.data, relay.address, sent + 0.58)
    reply, _ = target.handle_exchange(requests[0].data, sent + 0.59)
    assert reply is not None
    prober.exchange_reply(requests[0].exchange_id, reply, sent + 0.6)
    after = _ticks(prober, sent + prober.config.probe_interval)
    assert _suspected(after) == []
    assert prober.counters()["probes_acked"] == 1
    assert "tcp_fallback_acked" not in prober.counters()


@pytest.mark.parametrize("wire", WIRES)
def test_one_stream_ping_per_member_at_a_time(wire: str) -> None:
    """While the fallback exchange to a member is under way (a firewall that drops TCP keeps it
    until the driver's exchange timeout), the next failed probe of it starts no other."""
    prober, target = _nodes(wire)
    sent, actions = _failed_probe(prober)
    first = of_type(actions, ExchangeRequest)
    assert len(first) == 1
    sent, actions = _failed_probe(prober)  # the next period probes the same member
    assert of_type(actions, ExchangeRequest) == []
    assert prober.counters()["tcp_fallback_skipped"] == 1
    assert prober.counters()["exchanges_pending"] == 1
    prober.exchange_failed(first[0].exchange_id, "timeout", sent + 0.7)
    sent, actions = _failed_probe(prober)
    assert [r.to for r in of_type(actions, ExchangeRequest)] == [target.address]


def test_a_stream_ping_for_another_name_is_not_answered() -> None:
    node = _nodes("native")[0]
    ping = codec.encode_stream_ping(StreamPing("", 7, "someone-else", "n2"))
    reply, _ = node.handle_exchange(ping, 1.0)
    assert reply is None
    assert node.counters()["dropped.wrong_target"] == 1
    assert "stream_pings_answered" not in node.counters()


def test_the_native_stream_ping_round_trips_and_garbage_is_no_ack() -> None:
    ping = StreamPing("blue", 2**32 - 1, "n1", "n2")
    assert codec.decode_exchange(codec.encode_stream_ping(ping)) == ping
    ack = codec.encode_stream_ack("blue", 42)
    assert codec.read_stream_ack(ack, "blue") == 42
    assert codec.read_stream_ack(ack, "red") is None
    assert codec.read_stream_ack(ack[:-1] + bytes([ack[-1] ^ 1]), "blue") is None
    rng = random.Random(3)
    for size in range(0, 64):
        junk = rng.randbytes(size)
        assert codec.read_stream_ack(junk, "blue") is None


def test_memberlist_members_below_protocol_3_are_not_pinged_by_stream() -> None:
    node = _nodes("memberlist")[0]
    profile = node.wire
    assert isinstance(profile, MemberlistWire)
    ip = Address("10.0.9.9", 7946).ip.packed
    profile.from_ml(MlAlive(1, "old", ip, 7946, b"", vsn_bytes(pmin=2, pmax=2, pcur=2)))
    profile.from_ml(MlAlive(1, "new", ip, 7947, b"", vsn_bytes()))
    assert not profile.pings_by_stream("old")
    assert profile.pings_by_stream("new")
    assert profile.pings_by_stream("never-heard-of")  # memberlist's defaults reach 5


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_the_switch_must_be_a_bool(value: object) -> None:
    with pytest.raises(ConfigError, match="tcp_fallback_probe"):
        Config.lan(tcp_fallback_probe=value)


# Cut datagrams, open streams ------------------------------------------------------------------


@pytest.mark.parametrize("fallback", [True, False])
def test_hand_driven_members_with_udp_cut_into_one(fallback: bool) -> None:
    """Three members over :class:`helpers.Link` (exchanges always go through): every datagram
    into n3 is lost.  With the fallback n3 is never suspected; without it, it is."""
    link = Link()
    nodes = _nodes("native", count=3, tcp_fallback_probe=fallback)
    link.add(*nodes)
    blocked = nodes[2].address
    link.cut = [(n.address, blocked) for n in nodes[:2]]
    link.run(30.0)
    suspected = [
        name
        for name in ("n1", "n2")
        for e in link.events_of(name, MemberSuspected) + link.events_of(name, MemberFailed)
        if e.member.name == "n3"
    ]
    if fallback:
        assert suspected == []
        assert all(n.counters().get("tcp_fallback_acked", 0) > 5 for n in nodes[:2])
    else:
        assert suspected  # the non-vacuity check: the cut does make n3 look dead
    if fallback:
        assert {_state(n, "n3") for n in nodes[:2]} == {State.ALIVE}


def _sim(wire: str, fallback: bool, seed: int, size: int = 5) -> tuple[SimNetwork, list[Node]]:
    config = Config.lan(wire=wire, tcp_fallback_probe=fallback)
    net = SimNetwork(seed=seed)
    nodes = [
        Node(config, Address(f"10.0.0.{i + 1}", 7946), name=f"m{i}", seed=seed * 100 + i)
        for i in range(size)
    ]
    for node in nodes:
        net.add(node)
        net.start(node, [(n.name, n.address) for n in nodes if n is not node])
    return net, nodes


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_simulated_member_whose_udp_is_cut_stays_alive_in_every_view(wire: str, seed: int) -> None:
    net, nodes = _sim(wire, fallback=True, seed=seed)
    blocked = nodes[-1]
    others = frozenset(n.address for n in nodes[:-1])
    net.datagram_cuts.append(Cut(others, frozenset({blocked.address})))
    suspected: list[tuple[str, str]] = []
    net.observers.append(
        lambda now, node, action: (
            suspected.append((node.name, action.member.name))
            if isinstance(action, MemberSuspected | MemberFailed)
            else None
        )
    )
    net.run_for(60.0)
    assert net.counts["dropped.datagram_cut"] > 100  # the cut did cut
    assert suspected == []
    for node in nodes:
        assert {m.name for m in node.members()} == {n.name for n in nodes}
    assert sum(n.counters().get("tcp_fallback_acked", 0) for n in nodes[:-1]) > 20


@pytest.mark.parametrize("wire", WIRES)
def test_simulated_member_whose_udp_is_cut_is_suspected_without_the_fallback(wire: str) -> None:
    net, nodes = _sim(wire, fallback=False, seed=1)
    blocked = nodes[-1]
    others = frozenset(n.address for n in nodes[:-1])
    net.datagram_cuts.append(Cut(others, frozenset({blocked.address})))
    suspected: list[str] = []
    net.observers.append(
        lambda now, node, action: (
            suspected.append(action.member.name)
            if isinstance(action, MemberSuspected | MemberFailed)
            else None
        )
    )
    net.run_for(60.0)
    assert blocked.name in suspected
