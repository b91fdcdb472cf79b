"""Lifeguard (local health, dynamic suspicion, buddy system), anti-entropy and reclaiming."""

from __future__ import annotations

import math

import attrs
import pytest
from helpers import (
    STABILITY_OFF,
    Link,
    addr,
    encode,
    known,
    make_node,
    messages,
    of_type,
    tick_until,
    updates_in,
)

from swimcore import Address, Config, ExchangeRequest, MemberFailed, MemberJoined, Node, Send, State
from swimcore.messages import Alive, Gossip, Ping, Suspect
from swimcore.suspicion import Suspicion
from swimcore.timing import suspicion_min


def cluster(n: int, config: Config | None = None) -> tuple[Link, list[Node]]:
    """``n`` nodes that all know each other (bootstrapped), wired to a fresh link."""
    nodes = [make_node(i, config) for i in range(n)]
    link = Link()
    link.add(*nodes)
    members = [(node.name, node.address) for node in nodes]
    for node in nodes:
        link.carry(node, node.start(0.0, members), 0.0)
    return link, nodes


# Local health awareness --------------------------------------------------------------------


def test_failed_probes_raise_health_score_and_stretch_the_period() -> None:
    link, nodes = cluster(2, Config.lan(indirect_checks=0))
    prober, victim = nodes
    link.silent.append(victim.address)
    link.run(until=6.0)
    assert prober.health > 0
    # The protocol period is stretched by (score + 1): count probes over a long quiet stretch.
    periods = prober.counters()["probes"]
    assert periods < 6, "a node in poor health probes less often than once per second"


def test_health_falls_back_on_successful_probes() -> None:
    link, nodes = cluster(2, Config.lan(indirect_checks=0))
    prober, victim = nodes
    link.silent.append(victim.address)
    link.run(until=3.0)
    raised = prober.health
    assert raised > 0
    link.silent.clear()
    link.run(until=40.0, start=3.05)
    assert prober.health < raised


def _until_a_probe_fails(link: Link, prober: Node) -> None:
    """Run the link in 50 ms steps until ``prober``'s first probe has failed."""
    now = 0.0
    while prober.counters().get("probes_failed", 0) == 0:
        now += 0.05
        link.tick(now)
        link.deliver(now)


def test_missed_nacks_count_against_local_health() -> None:
    """Relays that never answer (not even a nack) mean this node's own network is bad."""
    link, nodes = cluster(5, Config.lan(indirect_checks=3))
    prober = nodes[0]
    link.silent.extend(n.address for n in nodes[1:])  # nobody answers anything
    _until_a_probe_fails(link, prober)
    # One failed probe with 3 expected nacks missing: +3, where a plain failure counts +1.
    assert prober.counters()["indirect_probes"] == 3
    assert prober.health == 3


@pytest.mark.parametrize("preset", ["lan", "wan", "local"])
def test_relays_nack_before_the_probers_period_ends(preset: str) -> None:
    """A target that is really gone costs the prober nothing when the relays answer: their nacks
    reach it within its protocol period on every preset (with the WAN preset's 5 s period and
    3 s timeout they left 5.4 s into it, every failed probe counted as the prober's own fault,
    and the health gate then kept crashes unaccused for minutes)."""
    link, nodes = cluster(5, Config.preset(preset, indirect_checks=3))
    prober, target = nodes[0], nodes[1]
    link.silent.append(target.address)
    _until_a_probe_fails(link, prober)
    assert prober.counters()["nacks_received"] == 3
    assert prober.health == 0


def test_hearing_itself_suspected_raises_health_and_refutes() -> None:
    node = make_node(0)
    node.start(0.0)
    out = node.receive(encode(Ping(1, node.name, "x"), Suspect(node.name, 0, "x")), addr(9), 0.1)
    assert node.health == 1
    assert node.incarnation == 1
    assert Alive(node.name, node.address, 1, b"") in updates_in(out)


def test_awareness_switched_off_keeps_score_at_zero() -> None:
    link, nodes = cluster(2, Config.lan(indirect_checks=0, lifeguard_awareness=False))
    link.silent.append(nodes[1].address)
    link.run(until=6.0)
    assert nodes[0].health == 0
    assert nodes[0].counters()["probes"] >= 5


# Dynamic suspicion timeout -----------------------------------------------------------------


def test_suspicion_timeout_shrinks_logarithmically_with_confirmations() -> None:
    low = suspicion_min(4, 100, 1.0)
    assert low == pytest.approx(4 * math.log10(100))
    s = Suspicion(incarnation=0, started=10.0, min_timeout=low, max_timeout=6 * low, needed=2)
    timeouts = [s.timeout()]
    for who in ("a", "b"):
        assert s.confirm(who)
        timeouts.append(s.timeout())
    assert timeouts[0] == pytest.approx(6 * low)
    assert timeouts[0] > timeouts[1] > timeouts[2]
    assert timeouts[2] == pytest.approx(low)
    assert not s.confirm("a"), "the same member confirms only once"
    assert not s.confirm("c"), "confirmations beyond the needed number change nothing"
    assert s.deadline() == pytest.approx(10.0 + low)


def test_small_clusters_need_no_confirmations() -> None:
    s = Suspicion(incarnation=0, started=0.0, min_timeout=4.0, max_timeout=24.0, needed=0)
    assert s.timeout() == 4.0


def _time_to_failure(confirmers: int, dynamic: bool) -> float:
    """When node 0 declares node 1 dead, given how many others confirm the suspicion."""
    config = Config.lan(
        lifeguard_dynamic_suspicion=dynamic, verify_before_death=False, **STABILITY_OFF
    )  # (one accuser suffices: the corroborated suspicion is tested in test_stability.py)
    nodes = [make_node(i, config) for i in range(10)]
    observer = nodes[0]
    observer.start(0.0, [(n.name, n.address) for n in nodes])
    observer.receive(
        encode(Ping(1, observer.name, "x"), Suspect(nodes[1].name, 0, nodes[2].name)), addr(2), 1.0
    )
    for i in range(confirmers):
        by = nodes[3 + i].name
        observer.receive(
            encode(Ping(2 + i, observer.name, "x"), Suspect(nodes[1].name, 0, by)), addr(3 + i), 1.0
        )
    now = 1.0
    while now < 200.0:
        now = observer.next_deadline() or now + 1.0
        if of_type(observer.tick(now), MemberFailed):
            return now - 1.0
        # Keep the victim from being probed into a local confirmation: only the timer matters.
    raise AssertionError("never declared dead")


def test_dynamic_suspicion_starts_long_and_confirmations_shorten_it() -> None:
    low = suspicion_min(4, 10, 1.0)
    unconfirmed = _time_to_failure(0, dynamic=True)
    confirmed = _time_to_failure(2, dynamic=True)
    fixed = _time_to_failure(0, dynamic=False)
    # The first suspector counts as one confirmation of the needed two (suspicion_mult - 2).
    assert unconfirmed > confirmed
    assert confirmed == pytest.approx(low, abs=1.0)
    assert fixed == pytest.approx(low, abs=1.0)
    assert unconfirmed > 2 * low


# The last-chance probe ------------------------------------------------------------------------


def test_a_suspect_whose_refutation_was_missed_survives_the_last_chance_probe() -> None:
    a, b = make_node(0), make_node(1)
    link = Link()
    link.add(a, b)
    link.carry(a, a.start(0.0, [(b.name, b.address)]), 0.0)
    link.carry(b, b.start(0.0, [(a.name, a.address)]), 0.0)
    # b already refuted a suspicion at incarnation 0 that a is about to hear of late.
    b.receive(encode(Ping(1, b.name, "x"), Suspect(b.name, 0, "x")), addr(9), 0.0)
    assert b.incarnation == 1
    link.carry(a, a.receive(encode(Gossip(), Suspect(b.name, 0, "x")), addr(9), 0.0), 0.0)
    # Keep a from probing b normally: only the last-chance probe may reach it.
    link.silent.append(b.address)
    now = 0.0
    while a.counters().get("verifications", 0) == 0:
        now = a.next_deadline() or now + 0.1
        link.carry(a, a.tick(now), now)
    link.inflight = [(src, s) for src, s in link.inflight if s.to == b.address][-1:]
    link.silent.clear()
    link.deliver(now)
    info = a.member(b.name)
    assert info is not None and info.state is State.ALIVE and info.incarnation == 1
    assert a.counters()["verifications_answered"] == 1
    link.run(until=now + 20.0, start=now + 0.05)
    assert not link.events_of(a.name, MemberFailed)


def test_a_silent_suspect_dies_at_its_suspicion_timeout_after_a_last_chance_probe() -> None:
    """The last-chance probe goes out one probe timeout before the suspicion ends, so a
    member that stays silent dies when the suspicion does, as memberlist's would (issue 15,
    item 8), and never before it."""
    config = Config.lan(lifeguard_dynamic_suspicion=False, lifeguard_awareness=False)
    a = make_node(0, config)
    a.start(0.0, [(make_node(i).name, make_node(i).address) for i in range(1, 4)])
    victim = make_node(1)
    a.receive(encode(Gossip(), Suspect(victim.name, 0, "x")), addr(9), 1.0)
    now, died, probed = 1.0, None, None
    while died is None and now < 100:
        now = a.next_deadline() or now + 0.1
        actions = a.tick(now)
        before = a.counters().get("verifications", 0)
        if probed is None and before == 1:
            probed = now
            assert any(s.to == victim.address for s in of_type(actions, Send))
        if any(e.member.name == victim.name for e in of_type(actions, MemberFailed)):
            died = now
    low = suspicion_min(config.suspicion_mult, 4, config.probe_interval)
    assert died == pytest.approx(1.0 + low)
    assert probed == pytest.approx(1.0 + low - config.probe_timeout)
    assert a.counters()["verifications"] == 1


# Buddy system --------------------------------------------------------------------------------


@pytest.mark.parametrize("buddy", [True, False])
def test_probe_of_a_suspect_carries_the_suspicion(buddy: bool) -> None:
    config = Config.lan(lifeguard_buddy=buddy, gossip_interval=0, **STABILITY_OFF)
    a, b = make_node(0, config), make_node(1, config)
    a.start(0.0, [(b.name, b.address)])
    a.receive(encode(Ping(1, a.name, "x"), Suspect(b.name, 0, "someone")), addr(5), 0.0)
    # Drain the queue so the suspicion is no longer queued news: only the buddy rule adds it.
    for _ in range(40):
        a.receive(encode(Ping(9, a.name, "x")), addr(5), 0.0)
    out = tick_until(a, 1.0)
    pings = messages(out, Ping)
    assert pings and pings[0][0] == b.address
    carried = [u for u in updates_in(out) if isinstance(u, Suspect) and u.name == b.name]
    assert bool(carried) is buddy


def test_suspect_refutes_at_once_when_probed() -> None:
    link, nodes = cluster(2, Config.lan(gossip_interval=0))
    a, b = nodes
    a.receive(encode(Ping(1, a.name, "x"), Suspect(b.name, 0, "someone")), addr(5), 0.0)
    link.run(until=2.0)
    assert b.incarnation == 1
    assert known(a, b.name).state is State.ALIVE


# Reclaiming, restarts and healing ----------------------------------------------------------


def test_dead_members_are_forgotten_after_reclaim_time_and_may_return() -> None:
    config = Config.lan(reclaim_time=10.0)
    a = make_node(0, config)
    a.start(0.0, [("b", addr(1))])
    a.receive(encode(Ping(1, a.name, "x"), Suspect("b", 0, "x")), addr(5), 0.0)
    tick_until(a, 60.0)
    assert a.member("b") is None, "reclaimed"
    out = a.receive(encode(Ping(2, a.name, "x"), Alive("b", addr(7), 0)), addr(7), 61.0)
    assert [e.member.address for e in of_type(out, MemberJoined)] == [addr(7)]


def test_restart_with_same_name_on_new_address_is_accepted() -> None:
    link, nodes = cluster(4, Config.lan())
    link.run(until=2.0)
    old = nodes[3]
    link.silent.append(old.address)
    link.run(until=40.0, start=2.05)
    assert all(known(n, old.name).state is State.DEAD for n in nodes[:3])
    moved = Node(Config.lan(), Address("10.9.9.9", 7000), name=old.name, seed=99)
    link.add(moved)
    link.carry(moved, moved.join([nodes[0].address], 40.1), 40.1)
    link.run(until=60.0, start=40.15)
    for n in nodes[:3]:
        info = n.member(old.name)
        assert info is not None and info.state is State.ALIVE
        assert info.address == moved.address
        assert info.incarnation > 0


@attrs.define
class PartitionedLink(Link):
    """A link that, while ``partitioned``, carries nothing between ``side`` and the rest."""

    side: list[Address] = attrs.field(factory=list)
    partitioned: bool = False

    def _crosses(self, a: Address, b: Address) -> bool:
        return self.partitioned and ((a in self.side) != (b in self.side))

    def deliver(self, now: float, rounds: int = 100) -> int:
        delivered = 0
        for _ in range(rounds):  # one hop at a time, so that replies which cross are cut too
            batch, self.inflight = self.inflight, []
            for source, send in batch:
                node = self.nodes.get(send.to)
                if node is None or self._crosses(source, send.to):
                    continue
                delivered += 1
                self.carry(node, node.receive(send.data, source, now), now)
            if not self.inflight:
                break
        return delivered

    def _exchange(self, node: Node, request: ExchangeRequest, now: float) -> None:
        if self._crosses(node.address, request.to):
            self.carry(node, node.exchange_failed(request.exchange_id, "cut", now), now)
        else:
            super()._exchange(node, request, now)


def test_partitioned_halves_merge_through_push_pull_to_dead_members() -> None:
    config = Config.lan(push_pull_interval=5.0, reclaim_time=600.0)
    nodes = [make_node(i, config) for i in range(6)]
    link = PartitionedLink(side=[n.address for n in nodes[:3]])
    link.add(*nodes)
    for node in nodes:
        link.carry(node, node.start(0.0, [(n.name, n.address) for n in nodes]), 0.0)
    link.run(until=2.0)
    left, right = nodes[:3], nodes[3:]
    link.partitioned = True
    link.run(until=60.0, start=2.05)
    for n in left:
        assert [known(n, m.name).state for m in right] == [State.DEAD] * 3
    link.partitioned = False
    link.run(until=150.0, start=60.05)
    views = {tuple(sorted(m.name for m in n.members())) for n in nodes}
    assert len(views) == 1
    assert len(next(iter(views))) == 6
    assert sum(n.counters().get("heal_exchanges", 0) for n in nodes) > 0


def test_config_switches_exist_for_each_extension() -> None:
    plain = Config.lan(
        lifeguard_awareness=False,
        lifeguard_dynamic_suspicion=False,
        lifeguard_buddy=False,
        push_pull_interval=0,
    )
    assert attrs.asdict(plain)["push_pull_interval"] == 0
