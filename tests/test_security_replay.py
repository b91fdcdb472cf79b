"""Replays and impersonation: captured sealed traffic replayed later is harmless.

An attacker on the path cannot read or forge sealed packets, but it can record them and send
them again.  The seal has no replay window; what makes replays harmless is the incarnation
rules: every piece of news a replay carries is at most as new as what the group already knows,
so it cannot revive a member declared dead (alive needs a strictly higher incarnation than dead)
nor evict a live one (a member that was suspected refuted with a higher incarnation, and the
old suspicion no longer applies).  Replayed acks and nacks carry stale sequence numbers and are
dropped and counted.  The limit is shown too: once a dead member is forgotten (after
``reclaim_time``), a replayed announcement brings it back only until the failure detector
declares it dead again.
"""

from __future__ import annotations

from collections.abc import Sequence

from helpers import STABILITY_OFF, Link, addr, encode, make_node
from security_support import KEY_A, SealedLink, live_view, open_all, sealed_cluster

from swimcore import (
    Address,
    Config,
    Keyring,
    MemberFailed,
    MemberJoined,
    MembershipEvent,
    MemberSuspected,
    Node,
    State,
)
from swimcore.messages import Ack, Alive, Dead, Gossip


def replay(link: SealedLink, records: Sequence[tuple[Address, Address, bytes]], now: float) -> int:
    """Send every captured datagram again to its original destination, as the attacker would."""
    sent = 0
    for source, to, data in records:
        node = link.nodes.get(to)
        if node is None or to in link.silent:
            continue
        link.carry(node, node.receive(data, source, now), now)
        sent += 1
    link.deliver(now)
    return sent


def events_about(
    link: Link, since: int, name: str, kind: type[MembershipEvent]
) -> list[tuple[str, MembershipEvent]]:
    return [
        (who, e) for who, e in link.events[since:] if isinstance(e, kind) and e.member.name == name
    ]


def state_in(node: Node, name: str) -> State | None:
    info = node.member(name)
    return None if info is None else info.state


def counted(nodes: list[Node], key: str) -> int:
    return sum(n.counters().get(key, 0) for n in nodes)


def joined_cluster(n: int, config: Config | None = None) -> tuple[SealedLink, list[Node]]:
    """``n`` sealed nodes; the last one joins through the first (so its join is captured)."""
    link, nodes, _ = sealed_cluster(n - 1, config=config)
    late = make_node(n - 1, config, keyring=Keyring(KEY_A))
    link.add(late)
    link.carry(late, late.join([nodes[0].address], 0.0), 0.0)
    return link, [*nodes, late]


def test_a_replay_cannot_revive_a_dead_member() -> None:
    link, nodes = joined_cluster(5)
    victim, survivors = nodes[-1], nodes[:-1]
    link.run(until=10.0)
    assert all(victim.name in live_view(n) for n in survivors)
    captured, exchanges = list(link.captured), list(link.captured_exchanges)
    assert exchanges, "the victim's join exchange was captured"
    announced = [u for p in open_all(captured) for u in p.updates]
    assert Alive(victim.name, victim.address, victim.incarnation) in announced

    link.silent.append(victim.address)  # the victim crashes
    link.run(until=40.0, start=10.05)
    assert all(state_in(n, victim.name) is State.DEAD for n in survivors)
    mark = len(link.events)
    stale_before = counted(survivors, "dropped.stale_ack")

    # Replay every datagram captured while the victim lived, and its join exchange.
    assert replay(link, captured, 45.0) > 50
    for to, data in exchanges:
        target = link.nodes[to]
        if to not in link.silent:
            link.carry(target, target.handle_exchange(data, 45.0)[1], 45.0)
    link.run(until=55.0, start=45.05)

    for node in survivors:
        assert state_in(node, victim.name) is State.DEAD
        assert node.counters().get("dropped.auth_failed", 0) == 0, "replays open: they are valid"
    assert events_about(link, mark, victim.name, MemberJoined) == []
    assert counted(survivors, "dropped.stale_ack") > stale_before, "replayed acks are counted"


def test_a_replay_cannot_evict_a_live_member() -> None:
    """Capture a real suspicion of a member, let it refute, then replay everything.

    SWIM's own rules (issue 18's mechanisms off), so that one short stall is a suspicion.
    """
    link, nodes, _ = sealed_cluster(5, config=Config.lan(**STABILITY_OFF))
    target = nodes[4]
    link.run(until=3.0)
    link.silent.append(target.address)  # a short stall: long enough to be suspected
    now = 3.0
    while not events_about(link, 0, target.name, MemberSuspected):
        now = round(now + 0.05, 9)
        link.tick(now)
        link.deliver(now)
        assert now < 15.0, "the stall was never noticed"
    link.silent.clear()
    link.run(until=now + 15.0, start=now + 0.05)
    assert target.incarnation >= 1, "the member refuted the suspicion"
    assert all(target.name in live_view(n) for n in nodes)
    assert not events_about(link, 0, target.name, MemberFailed)
    captured = list(link.captured)
    mark = len(link.events)

    replay(link, captured, now + 20.0)
    link.run(until=now + 40.0, start=now + 20.05)
    assert events_about(link, mark, target.name, MemberSuspected) == []
    assert events_about(link, mark, target.name, MemberFailed) == []
    assert all(state_in(n, target.name) is State.ALIVE for n in nodes)


def test_replaying_many_times_changes_nothing() -> None:
    link, nodes, _ = sealed_cluster(4)
    link.run(until=5.0)
    captured = list(link.captured)
    views = [n.all_members() for n in nodes]
    incarnations = [n.incarnation for n in nodes]
    for round_ in range(5):
        replay(link, captured, 6.0 + round_)
    assert [n.all_members() for n in nodes] == views
    assert [n.incarnation for n in nodes] == incarnations
    acks = sum(isinstance(p.message, Ack) for p in open_all(captured))
    assert acks > 5
    assert counted(nodes, "dropped.stale_ack") >= 5 * acks, "every replayed ack is stale"


def test_after_reclaim_a_replay_revives_only_until_detected_again() -> None:
    """The documented limit: a forgotten member can be announced again by a replay.

    It costs the group one probe cycle and one suspicion timeout; no live member is touched.
    """
    config = Config.lan(reclaim_time=5.0)
    link, nodes = joined_cluster(5, config)
    victim, survivors = nodes[-1], nodes[:-1]
    link.run(until=10.0)
    captured = list(link.captured)
    link.silent.append(victim.address)
    link.run(until=60.0, start=10.05)
    assert all(n.member(victim.name) is None for n in survivors), "dead and then forgotten"
    mark = len(link.events)

    replay(link, captured, 61.0)
    link.run(until=120.0, start=61.05)
    assert events_about(link, mark, victim.name, MemberJoined), "the replay re-announced it"
    assert all(victim.name not in live_view(n) for n in survivors), "detected dead again"
    others = {n.name for n in survivors}
    assert not [
        e
        for _, e in link.events[mark:]
        if isinstance(e, MemberFailed | MemberSuspected) and e.member.name in others
    ]


# Impersonation ------------------------------------------------------------------------------


def test_a_forged_death_is_refused_under_encryption() -> None:
    target = make_node(1)
    receiver = make_node(2, keyring=Keyring(KEY_A))
    receiver.start(0.0, [(target.name, target.address)])
    forged = encode(Gossip(), Dead(target.name, 0, "attacker"))
    assert receiver.receive(forged, addr(9), 1.0) == []
    assert state_in(receiver, target.name) is State.ALIVE
    assert receiver.counters()["dropped.auth_failed"] == 1


def test_without_encryption_a_forged_death_is_undone_by_refutation() -> None:
    """Why the keyring matters: in a plaintext group anyone can claim a death at the current
    incarnation; the victim hears it and refutes, but the group saw a false failure first."""
    link = Link()
    nodes = [make_node(i) for i in range(4)]
    link.add(*nodes)
    members = [(n.name, n.address) for n in nodes]
    for node in nodes:
        link.carry(node, node.start(0.0, members), 0.0)
    link.run(until=3.0)
    victim, receiver = nodes[3], nodes[0]
    forged = encode(Gossip(), Dead(victim.name, victim.incarnation, "attacker"))
    link.carry(receiver, receiver.receive(forged, addr(99), 3.1), 3.1)
    assert state_in(receiver, victim.name) is State.DEAD
    link.run(until=40.0, start=3.15)
    assert victim.incarnation >= 1
    assert all(state_in(n, victim.name) is State.ALIVE for n in nodes[:3])
