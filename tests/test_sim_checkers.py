"""The invariant checkers: quiet on correct runs, loud on every kind of broken rule."""

from __future__ import annotations

import itertools

import attrs
import pytest
from helpers import STABILITY_OFF
from sim_helpers import FAST, sweep_every_period

from swimcore import (
    Config,
    MemberAlive,
    MemberFailed,
    MemberInfo,
    MemberJoined,
    MemberStable,
    MemberSuspected,
    Node,
    State,
    transitions,
)
from swimcore.timing import detection_deadline
from swimcore.transitions import Verdict, judge
from swimcore.transports.sim.checkers import (
    SafetyChecker,
    rule_allows,
    view_differences,
)
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.metrics import Recorder
from swimcore.transports.sim.ops import Crash, Heal, LossBurst, Partition, Pause


def _stressed_run(seed: int, *, stable: bool = False) -> SafetyChecker:
    """Two nodes stall and datagrams are lost just after start, while the first alive news is
    still spreading: suspicions then meet alive news at the same incarnation.  (Without the
    TCP fallback probe: the simulator loses datagrams only, and the fallback would save most
    of the probes whose suspicions this run is about; and, unless ``stable``, without the
    stability mechanisms, which would hold back every one of those suspicions.)"""
    config = attrs.evolve(FAST, tcp_fallback_probe=False, **({} if stable else STABILITY_OFF))
    cluster = SimCluster(12, seed=seed, config=config)
    checker = SafetyChecker(cluster.net)
    sweep_every_period(cluster, checker)
    cluster.schedule([(0.2, Pause(3, 2.5)), (0.2, Pause(5, 2.0)), (0.2, LossBurst(0.2, 6.0))])
    cluster.run_for(20.0)
    return checker


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_a_correct_core_passes_the_checkers(seed: int) -> None:
    checker = _stressed_run(seed)
    checker.raise_if_violated()
    assert checker.transitions > 50 and checker.records_swept > 1000


@pytest.mark.parametrize("seed", [0, 1])
def test_the_stability_mechanisms_pass_the_checkers_and_calm_the_run(seed: int) -> None:
    """The same stress with the mechanisms on: no rule broken, and far fewer events (the
    suspicions of the stalled members are held back or never believed)."""
    checker = _stressed_run(seed, stable=True)
    checker.raise_if_violated()
    assert checker.records_swept > 1000
    assert checker.transitions < _stressed_run(seed).transitions


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_alive_beating_suspect_at_an_equal_incarnation_is_caught(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        transitions.TABLE, (State.SUSPECT, State.ALIVE), (Verdict.APPLY, Verdict.APPLY)
    )
    checker = _stressed_run(seed)
    rules = {v.rule for v in checker.violations}
    assert "incarnation rule broken" in rules
    assert any("SUSPECT@0 -> ALIVE@0" in v.detail for v in checker.violations)


def test_resurrecting_a_dead_member_at_its_incarnation_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        transitions.TABLE, (State.DEAD, State.ALIVE), (Verdict.APPLY, Verdict.APPLY)
    )
    cluster = SimCluster(12, seed=3, config=FAST)
    checker = SafetyChecker(cluster.net)
    # A node cut off long enough to be declared dead while its old alive news still spreads.
    cluster.schedule([(0.1, Pause(4, 30.0)), (0.1, LossBurst(0.1, 20.0))])
    cluster.run_for(40.0)
    assert "resurrected at a dead incarnation" in {v.rule for v in checker.violations}


# ------------------------------------------------------------------------ hand-made events


def _pair() -> tuple[SimCluster, SafetyChecker, Node, str]:
    cluster = SimCluster(3, seed=0, config=FAST)
    checker = SafetyChecker(cluster.net)
    return cluster, checker, cluster.node(0), cluster.node(1).name


def _info(name: str, incarnation: int, state: State, cluster: SimCluster) -> MemberInfo:
    return MemberInfo(name, cluster.node(1).address, incarnation, state)


def test_a_node_declaring_itself_dead_is_caught() -> None:
    _, checker, node, _ = _pair()
    me = MemberInfo(node.name, node.address, 0, State.DEAD)
    checker.on_action(1.0, node, MemberFailed(me))
    assert [v.rule for v in checker.violations] == ["declared itself dead"]


def test_an_incarnation_going_down_is_caught() -> None:
    cluster, checker, node, peer = _pair()
    checker.on_action(1.0, node, MemberSuspected(_info(peer, 5, State.SUSPECT, cluster)))
    checker.on_action(2.0, node, MemberAlive(_info(peer, 3, State.ALIVE, cluster)))
    assert [v.rule for v in checker.violations] == ["incarnation decreased"]


def test_a_forgotten_member_may_come_back_at_any_incarnation() -> None:
    cluster, checker, node, peer = _pair()
    checker.on_action(1.0, node, MemberFailed(_info(peer, 4, State.DEAD, cluster)))
    checker.on_action(2.0, node, MemberJoined(_info(peer, 4, State.ALIVE, cluster)))
    assert [v.rule for v in checker.violations] == ["resurrected at a dead incarnation"]
    later = 2.0 + FAST.reclaim_time
    checker.on_action(later, node, MemberFailed(_info(peer, 5, State.DEAD, cluster)))
    checker.on_action(
        later + FAST.reclaim_time, node, MemberJoined(_info(peer, 0, State.ALIVE, cluster))
    )
    assert len(checker.violations) == 1


def test_an_event_whose_member_state_disagrees_is_caught() -> None:
    cluster, checker, node, peer = _pair()
    checker.on_action(1.0, node, MemberSuspected(_info(peer, 1, State.ALIVE, cluster)))
    assert "event state" in {v.rule for v in checker.violations}


def test_the_sweep_catches_changes_no_event_reported() -> None:
    cluster, checker, node, peer = _pair()
    cluster.run_for(1.0)
    checker.sweep()
    assert checker.violations == []
    record = node._table.get(peer)  # reach in, as a bug in the core would
    assert record is not None
    record.state = State.DEAD
    record.incarnation = 0
    checker.sweep()
    assert "silent transition" in {v.rule for v in checker.violations}


def test_fail_fast_raises_at_the_violation() -> None:
    cluster = SimCluster(3, seed=0, config=FAST)
    checker = SafetyChecker(cluster.net, fail_fast=True)
    node = cluster.node(0)
    with pytest.raises(AssertionError, match="declared itself dead"):
        checker.on_action(
            1.0, node, MemberFailed(MemberInfo(node.name, node.address, 0, State.DEAD))
        )


# ------------------------------------------------------------------------------ seeding


def test_a_checker_seeds_a_fresh_bootstrapped_cluster_from_its_roster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Attached before the cluster runs, the checker reads no node's table (each holds the
    roster it was started from: O(members) for the cluster, not O(members^2)); attached
    once it ran, it reads every table."""
    reads = [0]
    original = Node.all_members

    def counting(self: Node) -> list[MemberInfo]:
        reads[0] += 1
        return original(self)

    monkeypatch.setattr(Node, "all_members", counting)
    cluster = SimCluster(30, seed=2, config=FAST)
    SafetyChecker(cluster.net)
    assert reads[0] == 0
    cluster.run_for(0.5)
    SafetyChecker(cluster.net)
    assert reads[0] == 30


@pytest.mark.parametrize("seed", [0, 3])
def test_a_checker_seeded_from_the_roster_judges_as_one_that_read_the_tables(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same run twice with a broken transition table: one checker attached before the
    run (seeded from the roster), one after a run of no time (seeded from each table); they
    find the same violations."""
    monkeypatch.setitem(
        transitions.TABLE, (State.SUSPECT, State.ALIVE), (Verdict.APPLY, Verdict.APPLY)
    )
    config = attrs.evolve(FAST, tcp_fallback_probe=False, **STABILITY_OFF)
    found = []
    for run_first in (False, True):
        cluster = SimCluster(12, seed=seed, config=config)
        if run_first:
            cluster.run_for(0.0)
        checker = SafetyChecker(cluster.net)
        sweep_every_period(cluster, checker)
        cluster.schedule([(0.2, Pause(3, 2.5)), (0.2, Pause(5, 2.0)), (0.2, LossBurst(0.2, 6.0))])
        cluster.run_for(20.0)
        found.append([str(v) for v in checker.violations])
    assert found[0] and found[0] == found[1]


# ------------------------------------------------------------------ the rules, both ways


@pytest.mark.parametrize(
    ("before", "after"), list(itertools.product(State, State)), ids=lambda s: s.name
)
def test_what_the_core_applies_the_checker_allows(before: State, after: State) -> None:
    """The checker's independent statement agrees with the core's table on every case."""
    for known, news in ((3, 2), (3, 3), (3, 4)):
        applies = judge(before, known, after, news) is Verdict.APPLY
        if applies:
            assert rule_allows(before, known, after, news), (before, known, after, news)
        if rule_allows(before, known, after, news) and before is not after:
            assert applies, (before, known, after, news)


# ---------------------------------------------------------------------------- liveness


def test_every_survivor_declares_a_crash_within_the_derived_deadline() -> None:
    cluster = SimCluster(30, seed=8, config=FAST)
    recorder = Recorder(cluster)
    cluster.run_for(2.0)
    cluster.apply(Crash(11))
    deadline = detection_deadline(FAST, 30)
    cluster.run_for(deadline)
    detection = recorder.report().detections[0]
    assert detection.survivors == 29
    assert detection.detected_by == 29
    assert detection.first is not None and detection.all is not None
    assert detection.first <= detection.all <= deadline
    assert view_differences(cluster.views(), cluster.expected_view()) == []


def test_a_member_readmitted_after_flapping_is_followed_by_the_checker() -> None:
    """A flapping link makes a member fail and come back while unstable (its return held out,
    then reported as ``MemberStable``): the checker reads that as the member alive again, so
    its next suspicion is a legal transition, not a violation."""
    cluster = SimCluster(10, seed=5, config=Config.lan(), bootstrap=False, seeds=1)
    checker = SafetyChecker(cluster.net)
    stable: list[object] = []
    cluster.net.observers.append(lambda now, node, action: stable.append(action))
    cluster.schedule(
        [(40.0 + 30 * i, Partition((7, 8, 9))) for i in range(22)]
        + [(60.0 + 30 * i, Heal()) for i in range(22)]
    )
    cluster.run_until(760.0)
    assert any(isinstance(action, MemberStable) for action in stable)
    checker.raise_if_violated()
