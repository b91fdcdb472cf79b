"""Hypothesis drives a simulated cluster through generated fault schedules.

The rules are cluster operations (crash, restart, partition, heal, loss burst, pause, leave,
join, corruption, duplication and reordering, advance time) and the invariants are the safety
checkers, which run on every membership transition and sweep every table once per protocol
period.  When the schedule ends every fault stops and the cluster must converge within the
deadline derived from its configuration.

Every random number in a run is derived from the seed hypothesis draws (per node, per network,
per restart), so a failing schedule shrinks to a short list of operations that replays exactly;
no ``random.Random`` outlives one example, so there is nothing to ``register_random``.
"""

from __future__ import annotations

import os

import attrs
import hypothesis.strategies as st
import pytest
from helpers import STABILITY_OFF
from hypothesis import Phase, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sim_helpers import FAST, settle, sweep_every_period

from swimcore import Config, State
from swimcore.transitions import TABLE, Verdict
from swimcore.transports.sim.checkers import InvariantViolation, SafetyChecker, view_differences
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.metrics import Recorder
from swimcore.transports.sim.ops import (
    Chaos,
    Corruption,
    Crash,
    Heal,
    Join,
    Leave,
    LossBurst,
    OneWayLoss,
    Op,
    Partition,
    Pause,
    Restart,
)

INDEXES = st.integers(0, 12)
DURATIONS = st.floats(0.1, 8.0, allow_nan=False).map(lambda d: round(d, 2))
LOSS = st.floats(0.05, 0.6, allow_nan=False).map(lambda p: round(p, 2))


class ClusterMachine(RuleBasedStateMachine):
    """A small cluster under a generated schedule of operations."""

    #: The configuration every member runs (the defaults, stability mechanisms included).
    config: Config = FAST

    def __init__(self) -> None:
        super().__init__()
        self.cluster: SimCluster | None = None
        self.checker: SafetyChecker | None = None
        self.recorder: Recorder | None = None

    @initialize(seed=st.integers(0, 2**32 - 1), size=st.integers(3, 10), bootstrap=st.booleans())
    def build(self, seed: int, size: int, bootstrap: bool) -> None:
        self.cluster = SimCluster(
            size, seed=seed, config=self.config, bootstrap=bootstrap, seeds=2, join_spread=0.05
        )
        self.checker = SafetyChecker(self.cluster.net)
        self.recorder = Recorder(self.cluster, updates=False)
        sweep_every_period(self.cluster, self.checker)
        self.cluster.run_for(1.0)

    def _do(self, op: Op) -> None:
        assert self.cluster is not None
        self.cluster.apply(op)

    @rule(index=INDEXES)
    def crash(self, index: int) -> None:
        self._do(Crash(index))

    @rule(index=INDEXES, bump=st.booleans())
    def restart(self, index: int, bump: bool) -> None:
        self._do(Restart(index, bump))

    @rule(index=INDEXES)
    def leave(self, index: int) -> None:
        self._do(Leave(index))

    @rule()
    def join(self) -> None:
        self._do(Join())

    @rule(index=INDEXES, duration=DURATIONS)
    def pause(self, index: int, duration: float) -> None:
        self._do(Pause(index, duration))

    @rule(
        side=st.lists(INDEXES, min_size=1, max_size=5, unique=True).map(sorted),
        both_ways=st.booleans(),
        duration=st.none() | DURATIONS,
    )
    def partition(self, side: list[int], both_ways: bool, duration: float | None) -> None:
        self._do(Partition(tuple(side), both_ways, duration))

    @rule()
    def heal(self) -> None:
        self._do(Heal())

    @rule(loss=LOSS, duration=DURATIONS)
    def loss_burst(self, loss: float, duration: float) -> None:
        self._do(LossBurst(loss, duration))

    @rule(index=INDEXES, loss=LOSS, duration=DURATIONS)
    def one_way_loss(self, index: int, loss: float, duration: float) -> None:
        self._do(OneWayLoss(index, loss, duration))

    @rule(rate=st.sampled_from([0.02, 0.1, 0.3]), duration=DURATIONS)
    def corruption(self, rate: float, duration: float) -> None:
        self._do(Corruption(rate, duration))

    @rule(rate=st.sampled_from([0.1, 0.3]), duration=DURATIONS)
    def chaos(self, rate: float, duration: float) -> None:
        self._do(Chaos(rate, duration))

    @rule(seconds=st.floats(0.05, 15.0, allow_nan=False).map(lambda s: round(s, 2)))
    def advance(self, seconds: float) -> None:
        assert self.cluster is not None
        self.cluster.run_for(seconds)

    @invariant()
    def safe(self) -> None:
        if self.checker is not None:
            self.checker.raise_if_violated()

    def teardown(self) -> None:
        cluster, checker, recorder = self.cluster, self.checker, self.recorder
        if cluster is None or checker is None or recorder is None:
            return
        checker.raise_if_violated()
        took = settle(cluster)
        checker.raise_if_violated()
        assert took < float("inf"), view_differences(cluster.views(), cluster.expected_view())
        for detection in recorder.report().detections:
            if detection.restarted_at is None:
                assert detection.detected_by == detection.survivors, detection


ClusterMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("SWIMCORE_SIM_EXAMPLES", "40")),
    stateful_step_count=25,
    deadline=None,
    # The same schedules on every run: a random search here has found clusters that never
    # detect a crash after most members crash at once (see LIVENESS_FINDINGS below), and a
    # test that fails one run in three tells nothing about the change being tested.
    derandomize=True,
    database=None,
)
TestClusterMachine = ClusterMachine.TestCase


def _shrunk_schedule() -> ClusterMachine:
    """The schedule hypothesis shrank a run with a broken rule to (join, pause, advance).
    (With the stability mechanisms off: they would hold back the suspicion of the paused
    member that the broken rule needs.)"""
    machine = ClusterMachine()
    machine.config = attrs.evolve(FAST, **STABILITY_OFF)
    machine.build(seed=2, size=3, bootstrap=False)
    machine.join()
    machine.pause(index=0, duration=2.0)
    machine.advance(seconds=3.0)
    return machine


def test_the_shrunk_schedule_replays_and_catches_the_broken_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _shrunk_schedule().safe()  # correct core: nothing to report
    monkeypatch.setitem(TABLE, (State.SUSPECT, State.ALIVE), (Verdict.APPLY, Verdict.APPLY))
    machine = _shrunk_schedule()
    with pytest.raises(InvariantViolation, match=r"SUSPECT@0 -> ALIVE@0"):
        machine.safe()


@pytest.mark.slow
def test_hypothesis_finds_the_broken_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TABLE, (State.SUSPECT, State.ALIVE), (Verdict.APPLY, Verdict.APPLY))
    search = settings(
        max_examples=300,
        stateful_step_count=25,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        report_multiple_bugs=False,
    )
    with pytest.raises(InvariantViolation):
        run_state_machine_as_test(ClusterMachine, settings=search)


#: Schedules a random search found in which a crash is never detected once most of the
#: cluster crashed at once: the survivors keep the last crashed member in their views. A
#: finding, kept failing on purpose (strict): the first one below was fixed by bounding the
#: health gate (GATE_LIMIT), this one is not yet understood.
LIVENESS_FINDINGS = [(8, True, (0, 1, 2, 4, 7))]


@pytest.mark.xfail(strict=True, reason="a crash after most of the cluster crashed is not detected")
@pytest.mark.parametrize(("size", "bootstrap", "crashes"), LIVENESS_FINDINGS)
def test_a_crash_is_detected_after_most_members_crash(
    size: int, bootstrap: bool, crashes: tuple[int, ...]
) -> None:
    machine = ClusterMachine()
    machine.build(seed=0, size=size, bootstrap=bootstrap)
    for index in crashes:
        machine.crash(index=index)
        machine.safe()
    machine.teardown()


def test_a_crash_is_detected_after_half_the_members_crash_with_a_bounded_gate() -> None:
    """The first schedule found: 8 members joined through the first, four crash (the first
    among them); the survivors' health gate withheld every accusation of the first until the
    gate was bounded (GATE_LIMIT failed probes in a row)."""
    machine = ClusterMachine()
    machine.build(seed=0, size=8, bootstrap=False)
    for index in (6, 0, 0, 1, 3):
        machine.crash(index=index)
        machine.safe()
    machine.teardown()
