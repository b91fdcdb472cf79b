"""The stability mechanisms (swimcore.stability) as rules of one node, driven by hand.

Each mechanism is checked switched on and switched off, so that every test shows the
difference its switch makes.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from helpers import (
    STABILITY_OFF,
    Link,
    addr,
    encode,
    make_node,
    messages,
    of_type,
    tick_until,
    updates_in,
)

from swimcore import (
    Action,
    Config,
    ConfigError,
    MemberAlive,
    MemberFailed,
    MemberJoined,
    MemberStable,
    MemberSuspected,
    MemberUnstable,
    Node,
    State,
)
from swimcore.messages import Ack, Alive, Dead, Gossip, Ping, Suspect
from swimcore.stability import Stability
from swimcore.timing import suspicion_min

#: Every mechanism off (SWIM's and memberlist's behaviour); each test turns on what it tests.
OFF = Config.lan(**STABILITY_OFF)


def only(**on: Any) -> Config:
    """``OFF`` with the mechanisms ``on`` (the defaults turn them all on)."""
    return attrs.evolve(OFF, **on)


GATE = only(stability_health_gate=True)
CORROBORATE = only(stability_accusers=2)
DAMP = only(stability_damping=True)


def peers(config: Config, n: int = 6) -> Node:
    """Node 0 knowing nodes 1..n-1 alive at incarnation 0."""
    node = make_node(0, config)
    node.start(0.0, [(str(addr(i)), addr(i)) for i in range(1, n)])
    return node


def hear(node: Node, now: float, *updates: Alive | Suspect | Dead) -> list[Action]:
    return node.receive(encode(Gossip(), *updates), addr(99), now)


def alive(i: int, incarnation: int) -> Alive:
    return Alive(str(addr(i)), addr(i), incarnation, b"")


# Health-gated accusations -------------------------------------------------------------------


def _starved_prober(config: Config, *, hears_gossip: bool) -> Node:
    """Five members; no ack or nack reaches the first (heavy ingress loss), though, with
    ``hears_gossip``, a gossip packet does every half second.  The prober after 4 s."""
    link = Link()
    nodes = [make_node(i, config) for i in range(5)]
    link.add(*nodes)
    members = [(n.name, n.address) for n in nodes]
    for node in nodes:
        link.carry(node, node.start(0.0, members), 0.0)
    prober = nodes[0]
    link.cut.extend((other.address, prober.address) for other in nodes[1:])
    now = 0.0
    while now < 4.0:
        link.run(until=now + 0.5, start=now)
        now += 0.5
        if hears_gossip:
            link.carry(prober, hear(prober, now), now)
    return prober


@pytest.mark.parametrize("gate", [True, False])
def test_a_node_in_poor_health_accuses_no_one(gate: bool) -> None:
    """Probes that fail with every nack missing raise the score past the gate (Lifeguard).

    (The helper link carries exchanges whatever the cuts: the TCP fallback probe is off, so
    that no ack at all reaches the prober.)"""
    config = only(stability_health_gate=gate, tcp_fallback_probe=False)
    prober = _starved_prober(config, hears_gossip=True)
    counters = prober.counters()
    assert counters["probes_failed"] >= 1
    assert prober.health >= GATE.stability_gate_score
    if gate:
        assert counters["accusations_withheld"] == counters["probes_failed"]
        assert counters.get("suspicions", 0) == 0
    else:
        assert counters.get("accusations_withheld", 0) == 0
        assert counters["suspicions"] >= 1


def test_a_node_that_hears_no_one_at_all_still_accuses() -> None:
    """The gate needs others to reach the node: the last survivor of a crash, hearing no one,
    accuses as SWIM does (the gate never keeps a death unknown)."""
    config = only(stability_health_gate=True, tcp_fallback_probe=False)
    prober = _starved_prober(config, hears_gossip=False)
    counters = prober.counters()
    assert prober.health >= GATE.stability_gate_score
    assert counters.get("accusations_withheld", 0) == 0
    assert counters["suspicions"] >= 1


# Corroborated suspicion ---------------------------------------------------------------------


def test_one_accuser_is_relayed_but_not_believed() -> None:
    node = peers(CORROBORATE)
    out = hear(node, 1.0, Suspect(str(addr(3)), 0, str(addr(1))))
    assert not of_type(out, MemberSuspected)
    member = node.member(str(addr(3)))
    assert member is not None and member.state is State.ALIVE
    assert node.counters()["accusations_pending"] == 1
    # Relayed, so that others can count it and the accused can refute it.
    gossip = tick_until(node, 1.5)
    assert Suspect(str(addr(3)), 0, str(addr(1))) in updates_in(gossip)


def test_a_second_independent_accuser_makes_the_suspicion_from_the_first() -> None:
    # (No last-chance probe and no health stretch: the death time is the suspicion's alone.)
    node = peers(attrs.evolve(CORROBORATE, verify_before_death=False, lifeguard_awareness=False))
    hear(node, 1.0, Suspect(str(addr(3)), 0, str(addr(1))))
    assert not of_type(hear(node, 1.5, Suspect(str(addr(3)), 0, str(addr(1)))), MemberSuspected)
    out = hear(node, 3.0, Suspect(str(addr(3)), 0, str(addr(2))))
    assert len(of_type(out, MemberSuspected)) == 1
    # The suspicion runs from the first accusation, both accusers confirming it: with the
    # dynamic timeout at its shortest after 2 confirmations (suspicion_mult - 2), the death
    # is due min_timeout after t=1.0, not after t=3.0.
    events = tick_until(node, 1.0 + 4.0 + 0.1)  # min timeout at 6 members: 4 s
    assert [e.member.name for e in of_type(events, MemberFailed)] == [str(addr(3))]


def test_without_corroboration_one_accuser_suffices() -> None:
    node = peers(OFF)
    out = hear(node, 1.0, Suspect(str(addr(3)), 0, str(addr(1))))
    assert len(of_type(out, MemberSuspected)) == 1


def test_accusations_of_different_incarnations_do_not_add_up() -> None:
    node = peers(CORROBORATE)
    hear(node, 1.0, Suspect(str(addr(3)), 0, str(addr(1))))
    hear(node, 1.1, alive(3, 1))  # the accused refuted
    out = hear(node, 1.2, Suspect(str(addr(3)), 1, str(addr(2))))
    assert not of_type(out, MemberSuspected)


def test_an_accuser_held_suspect_is_not_believed() -> None:
    node = peers(CORROBORATE)
    accuser = str(addr(1))
    hear(node, 1.0, Suspect(accuser, 0, str(addr(2))), Suspect(accuser, 0, str(addr(4))))
    assert node.member(accuser) is not None
    assert node.member(accuser).state is State.SUSPECT  # type: ignore[union-attr]
    hear(node, 1.1, Suspect(str(addr(3)), 0, accuser))
    assert node.counters()["accusations_disbelieved"] == 1
    out = hear(node, 1.2, Suspect(str(addr(3)), 0, str(addr(5))))
    assert not of_type(out, MemberSuspected)  # only one credible accuser


def test_own_failed_probe_is_believed_at_once() -> None:
    link = Link()
    nodes = [make_node(i, CORROBORATE) for i in range(4)]
    link.add(*nodes)
    members = [(n.name, n.address) for n in nodes]
    for node in nodes:
        link.carry(node, node.start(0.0, members), 0.0)
    link.silent.append(nodes[3].address)
    link.run(until=3.0)
    suspected = [n.name for n in nodes[:3] if link.events_of(n.name, MemberSuspected)]
    assert suspected, "the first prober's own failed probe made a suspicion without others"


# Flap damping ------------------------------------------------------------------------------


def answered(node: Node, until: float) -> list[Action]:
    """Tick ``node`` at each of its deadlines up to ``until``, every ping it sends answered
    at once (the healthy members around it): its timers fire, its probes never fail."""
    out: list[Action] = []
    while (deadline := node.next_deadline()) is not None and deadline <= until:
        actions = node.tick(deadline)
        for to, ping in messages(actions, Ping):
            actions += node.receive(encode(Ack(ping.seq)), to, deadline)
        out += actions
    return out


def verdict_window(node: Node) -> float:
    """How long after a refutation its verdict comes (the corroboration window)."""
    cfg = node.config
    return suspicion_min(cfg.suspicion_mult, len(node.members()), cfg.probe_interval)


def flaps(node: Node, member: int, times: list[float]) -> list[Action]:
    """``member`` suspected (by two accusers) and refuting at each of ``times``, up to the
    verdict on the last refutation."""
    out: list[Action] = []
    for k, when in enumerate(times):
        out += answered(node, when)
        out += hear(node, when, Suspect(str(addr(member)), k, str(addr(1))))
        out += hear(node, when, Suspect(str(addr(member)), k, str(addr(2))))
        out += answered(node, when + 0.5)
        out += hear(node, when + 0.5, alive(member, k + 1))
    return out + answered(node, times[-1] + 0.5 + verdict_window(node) + 0.01)


def test_a_member_that_keeps_refuting_is_reported_unstable_once() -> None:
    node = peers(DAMP)
    out = flaps(node, 3, [1.0, 5.0, 9.0, 13.0, 17.0])
    name = str(addr(3))
    # Two flaps within a minute pass the suppress threshold (1.5).  Each refutation's verdict
    # comes a window (4 s) after it, as the next suspicion begins: the second verdict makes
    # the member unstable while it is suspected the third time; nothing more after that (its
    # third to fifth refutations and fourth and fifth suspicions are damped).
    kinds = [type(e).__name__ for e in out if getattr(e, "member", None) is not None]
    assert verdict_window(node) == 4.0
    assert kinds == ["MemberSuspected", "MemberAlive"] * 2 + ["MemberSuspected", "MemberUnstable"]
    assert node.counters()["events_damped"] == 5
    assert [m.name for m in node.unstable_members()] == [name]


def test_without_damping_every_flip_is_reported() -> None:
    node = peers(OFF)
    out = flaps(node, 3, [1.0, 5.0, 9.0, 13.0, 17.0])
    assert not of_type(out, MemberUnstable)
    assert len(of_type(out, MemberSuspected)) == len(of_type(out, MemberAlive)) == 5


def test_an_unstable_member_quiet_and_alive_is_stable_again_later() -> None:
    link = Link()
    nodes = [make_node(i, DAMP) for i in range(6)]
    link.add(*nodes)
    members = [(n.name, n.address) for n in nodes]
    for node in nodes:
        link.carry(node, node.start(0.0, members), 0.0)
    observer, name = nodes[0], nodes[3].name
    link.carry(observer, flaps(observer, 3, [1.0, 2.0]), 2.5)
    assert [m.name for m in observer.unstable_members()] == [name]
    # Hysteresis: a penalty of at most 2 x suppress decays to reuse (1/3 of suppress) after
    # at least one and at most log2(6) half-lives.
    half = DAMP.stability_half_life
    link.run(until=2.0 + half - 1.0, start=2.6)
    assert not link.events_of(observer.name, MemberStable)
    link.run(until=2.5 + 2.6 * half, start=2.0 + half - 0.95)
    stable = link.events_of(observer.name, MemberStable)
    assert [e.member.name for e in stable] == [name]
    assert not observer.unstable_members()


def test_an_unstable_members_accusations_are_not_believed() -> None:
    node = peers(DAMP)
    flaps(node, 3, [1.0, 5.0])
    out = hear(node, 6.0, Suspect(str(addr(4)), 0, str(addr(3))))
    assert not of_type(out, MemberSuspected)
    assert node.counters()["accusations_disbelieved"] == 1


@pytest.mark.parametrize("damping", [True, False])
def test_an_unstable_member_back_from_the_dead_is_readmitted_only_once_quiet(
    damping: bool,
) -> None:
    """Hysteresis across a death: coming back while damped is one more flap, not a join."""
    config = only(stability_damping=damping)
    link = Link()
    nodes = [make_node(i, config) for i in range(6)]
    link.add(*nodes)
    members = [(n.name, n.address) for n in nodes]
    for node in nodes:
        link.carry(node, node.start(0.0, members), 0.0)
    observer, name = nodes[0], nodes[3].name
    link.carry(observer, flaps(observer, 3, [1.0, 2.0]), 2.5)
    # Declared dead by another member; the member hears it and comes back (refutes it).
    out = hear(observer, 3.0, Dead(name, 2, str(addr(1))))
    assert [e.member.name for e in of_type(out, MemberFailed)] == [name]
    assert not observer.unstable_members()  # failed: listed nowhere but among the dead
    link.carry(observer, out, 3.0)
    link.run(until=6.0, start=3.0)
    back = observer.member(name)
    assert back is not None and back.state is State.ALIVE
    assert bool(link.events_of(observer.name, MemberJoined)) is not damping
    assert [m.name for m in observer.unstable_members()] == ([name] if damping else [])
    link.run(until=6.0 + 3 * config.stability_half_life, start=6.05)
    stable = link.events_of(observer.name, MemberStable)
    assert [e.member.name for e in stable] == ([name] if damping else [])
    assert observer.counters()["unstable_members"] == 0


@pytest.mark.parametrize("damping", [True, False])
def test_a_death_after_a_held_out_return_is_not_reported_again(damping: bool) -> None:
    """The application saw the damped member fail and never saw it come back, so its next
    deaths and returns are not news until it is stable again (the netns ingress-loss run
    reported one flaky member failed three times in a minute)."""
    node = peers(only(stability_damping=damping))
    name = str(addr(3))
    flaps(node, 3, [1.0, 2.0])
    out: list[Action] = []
    for k, when in enumerate([3.0, 4.0, 5.0]):
        out += hear(node, when, Dead(name, 2 + k, str(addr(1))))
        out += hear(node, when + 0.5, alive(3, 3 + k))
    reported = [type(e).__name__ for e in out if getattr(e, "member", None) is not None]
    if damping:
        assert reported == ["MemberFailed"]
        assert node.counters()["events_damped"] >= 2
    else:
        assert reported == ["MemberFailed", "MemberJoined"] * 3
    out = hear(node, 6.0, Dead(name, 6, str(addr(1))))
    assert bool(of_type(out, MemberFailed)) is not damping


@pytest.mark.parametrize("damping", [True, False])
def test_an_unstable_members_declaration_of_a_death_is_not_believed(damping: bool) -> None:
    """A damped member that cannot get its packets out lets its own suspicion of a healthy
    member run out and declares it dead; a view that holds the declarer unstable keeps the
    member alive (found by the egress-loss run with two faulty members)."""
    node = peers(only(stability_damping=damping))
    flaps(node, 3, [1.0, 5.0])
    out = hear(node, 6.0, Dead(str(addr(4)), 0, str(addr(3))))
    member = node.member(str(addr(4)))
    assert member is not None
    assert (member.state is State.ALIVE) is damping
    assert bool(of_type(out, MemberFailed)) is not damping


def hear_on_its_wire(node: Node, now: float, *updates: Alive | Suspect | Dead) -> list[Action]:
    """``hear`` in ``node``'s own wire profile."""
    wire = node.wire
    body = wire.encode_message(Gossip())
    data = wire.assemble(wire.header, body, [wire.encode_update(u) for u in updates])
    return node.receive(data, addr(99), now)


#: Damping with two accusers, and a verdict window (``suspicion_min``) of 30 s that ends before
#: the node's own first probe can fail (nothing here answers it).
VERDICT = only(stability_damping=True, stability_accusers=2, probe_interval=30.0, suspicion_mult=1)
#: Just after the verdict on a refutation heard at 1.5 s.
VERDICT_DUE = 31.6


@pytest.mark.parametrize("accuser", ["dead", "alive"])
def test_refuting_an_accuser_not_believed_is_no_flap(accuser: str, wire: str) -> None:
    # A member losing most of its input, declared dead, accuses whomever it fails to reach;
    # the accused refutes (a memberlist peer might believe it), but where the accuser is not
    # believed the refutations are no flaps.  An accuser believed (pending a second) makes
    # them flaps.  Either way the verdict comes one window after the first refutation.
    node = peers(attrs.evolve(VERDICT, wire=wire))
    hear_on_its_wire(node, 0.5, Dead(str(addr(1)), 0, str(addr(2))))
    by = str(addr(1)) if accuser == "dead" else str(addr(4))
    out: list[Action] = []
    for k, when in enumerate([1.0, 5.0, 9.0, 13.0]):
        out += hear_on_its_wire(node, when, Suspect(str(addr(3)), k, by))
        out += hear_on_its_wire(node, when + 0.5, alive(3, k + 1))
    assert not of_type(out, MemberUnstable)
    out = tick_until(node, VERDICT_DUE)
    unstable = [e.member.name for e in of_type(out, MemberUnstable)]
    assert unstable == ([] if accuser == "dead" else [str(addr(3))])
    counters = node.counters()
    assert counters.get("accusations_disbelieved", 0) == (4 if accuser == "dead" else 0)
    assert counters.get("flaps_discounted", 0) == (4 if accuser == "dead" else 0)


@pytest.mark.parametrize("accuser_dies", [True, False])
def test_the_verdict_weighs_the_accuser_as_it_is_known_by_then(accuser_dies: bool) -> None:
    # A faulty member's first accusations come before anyone knows it is faulty: pending,
    # refuted at once.  Declared dead before the verdict, it does not damp whom it accused.
    node = peers(VERDICT)
    name, by = str(addr(3)), str(addr(4))
    for k, when in enumerate([1.0, 5.0]):
        hear(node, when, Suspect(name, k, by))
        hear(node, when + 0.5, alive(3, k + 1))
    if accuser_dies:
        hear(node, 8.0, Dead(by, 0, str(addr(2))))
    out = tick_until(node, VERDICT_DUE)
    assert bool(of_type(out, MemberUnstable)) is not accuser_dies
    assert node.counters().get("flaps_discounted", 0) == (2 if accuser_dies else 0)


@pytest.mark.parametrize("late", ["believed", "anonymous", "nothing"])
def test_an_accusation_heard_after_its_refutation_counts(late: str) -> None:
    # The refutation outran its accusation here; the accusation, stale when it arrives, still
    # tells the verdict who made it.  News from no named accuser (a full-state exchange's
    # row), or none at all, is no evidence of a flap.
    node = peers(VERDICT)
    name = str(addr(3))
    out: list[Action] = []
    for k, when in enumerate([1.0, 5.0]):
        out += hear(node, when, alive(3, k + 1))
        if late != "nothing":
            out += hear(
                node, when + 0.5, Suspect(name, k, "" if late == "anonymous" else str(addr(4)))
            )
    member = node.member(name)
    assert member is not None and member.state is State.ALIVE and member.incarnation == 2
    out += tick_until(node, VERDICT_DUE)
    assert bool(of_type(out, MemberUnstable)) is (late == "believed")
    assert node.counters().get("flaps_discounted", 0) == (0 if late == "believed" else 2)


def test_a_discount_covers_only_the_incarnation_accused() -> None:
    # Accused at 0 by an accuser not believed, and by two that are: a flap at once.  Its next
    # refutation answers a believed accuser's news of incarnation 1: a flap at its verdict
    # (the old disbelief does not cover it).
    node = peers(VERDICT)
    hear(node, 0.5, Dead(str(addr(1)), 0, str(addr(2))))
    name = str(addr(3))
    out = hear(node, 1.0, *(Suspect(name, 0, str(addr(i))) for i in (1, 4, 5)))
    out += hear(node, 1.5, alive(3, 1))
    out += hear(node, 5.0, Suspect(name, 1, str(addr(4)))) + hear(node, 5.5, alive(3, 2))
    assert not of_type(out, MemberUnstable)
    out = tick_until(node, 5.5 + VERDICT_DUE - 1.5)  # one window after the second refutation
    assert [e.member.name for e in of_type(out, MemberUnstable)] == [name]
    assert node.counters().get("flaps_discounted", 0) == 0


def test_a_member_that_changes_metadata_is_not_flapping() -> None:
    node = peers(DAMP)
    for k in range(6):
        hear(node, 1.0 + k, Alive(str(addr(3)), addr(3), k + 1, bytes([k])))
    assert not node.unstable_members()


# Suspicion hold ----------------------------------------------------------------------------


def test_a_suspicion_refuted_within_the_hold_is_not_reported() -> None:
    node = peers(only(stability_suspect_hold=2.0))
    out = hear(node, 1.0, Suspect(str(addr(3)), 0, str(addr(1))))
    out += hear(node, 2.0, alive(3, 1))
    out += tick_until(node, 4.0)
    assert not of_type(out, MemberSuspected)
    assert not of_type(out, MemberAlive)


def test_a_suspicion_that_stands_is_reported_after_the_hold() -> None:
    node = peers(only(stability_suspect_hold=2.0))
    hear(node, 1.0, Suspect(str(addr(3)), 0, str(addr(1))))
    assert not of_type(tick_until(node, 2.9), MemberSuspected)
    assert len(of_type(tick_until(node, 3.1), MemberSuspected)) == 1


# Config --------------------------------------------------------------------------------------


def test_reuse_must_sit_below_suppress() -> None:
    with pytest.raises(ConfigError, match="hysteresis"):
        Config.lan(stability_suppress=1.0, stability_reuse=1.0)


def test_the_tables_are_bounded_and_count_what_they_drop() -> None:
    stability = Stability(attrs.evolve(Config.lan(stability_accusers=2), max_members=3))
    for i in range(5):
        stability.accuse(f"m{i}", 0, "a", 0.0, 10.0)
        stability.flapped(f"m{i}", 0.0)
    assert stability.dropped == 4
    assert not stability.believed("m0")


def test_the_defaults_turn_every_mechanism_on_in_every_preset() -> None:
    for config in (Config.lan(), Config.wan(), Config.local()):
        assert config.stability_health_gate and config.stability_damping
        assert config.stability_accusers == 2
        assert config.stability_suspect_hold == 9 * config.probe_interval
