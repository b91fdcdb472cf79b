"""The shared roster table behaves like the plain member table, and never changes the roster."""

from __future__ import annotations

import random

import hypothesis.strategies as st
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from swimcore import Address, Config, MemberInfo, State, antientropy
from swimcore.members import Member, MemberTable
from swimcore.roster import Roster, RosterTable
from swimcore.transports.sim import SimCluster
from swimcore.transports.sim.ops import Crash, Join, Leave, Restart

NAMES = [f"m{i}" for i in range(100)]
_LIVE = (State.ALIVE, State.SUSPECT)


def _address(i: int) -> Address:
    return Address(f"10.1.{i // 250}.{i % 250 + 1}", 7946)


def _local() -> Member:
    return Member("m0", _address(0), 0, State.ALIVE, b"")


def _roster(size: int) -> Roster:
    return Roster((NAMES[i], _address(i)) for i in range(size))


def _by_name(info: MemberInfo) -> str:
    return info.name


def _snapshot(table: MemberTable) -> list[tuple[str, State, int]]:
    return sorted((m.name, m.state, m.incarnation) for m in table.all())


class TablesAgree(RuleBasedStateMachine):
    """The same operations on a plain table and on a roster table give the same contents."""

    def __init__(self) -> None:
        super().__init__()
        size = 40
        self.roster = _roster(size)
        self.frozen = [
            (m.name, m.address, m.incarnation, m.state, m.place)
            for m in self.roster.records.values()
        ]
        self.plain = MemberTable(_local(), random.Random(1))
        for name, address in list(self.roster)[1:]:
            self.plain.add(Member(name, address, 0, State.ALIVE, b""))
        self.shared = RosterTable(_local(), random.Random(1), self.roster)

    @rule(
        i=st.integers(1, 99),
        state=st.sampled_from(State),
        incarnation=st.integers(0, 5),
        meta=st.sampled_from([b"", b"x"]),
    )
    def change(self, i: int, state: State, incarnation: int, meta: bytes) -> None:
        name = NAMES[i]
        for table in (self.plain, self.shared):
            member = table.get(name)
            if member is None:
                table.add(Member(name, _address(i), incarnation, state, meta), 1.0)
            else:
                member.incarnation = incarnation
                member.meta = meta
                table.set_state(member, state, 1.0)

    @rule(i=st.integers(1, 99))
    def remove(self, i: int) -> None:
        name = NAMES[i]
        if name in self.plain:
            self.plain.remove(name)
            self.shared.remove(name)

    @rule()
    def probe(self) -> None:
        target = self.shared.next_probe_target()
        if self.shared.live_peers == 0:
            assert target is None
        else:
            assert target is not None and target.state in (State.ALIVE, State.SUSPECT)
            assert target.name != "m0"

    @precondition(lambda self: self.shared.live_peers > 0)
    @rule(count=st.integers(1, 5), alive_only=st.booleans())
    def pick(self, count: int, alive_only: bool) -> None:
        exclude = ("m1", "m2")
        picked = self.shared.random_live(count, exclude, alive_only=alive_only)
        names = [m.name for m in picked]
        assert len(set(names)) == len(names) <= count
        assert not set(names) & {"m0", *exclude}
        for member in picked:
            assert (
                member.state is State.ALIVE
                if alive_only
                else member.state
                in (
                    State.ALIVE,
                    State.SUSPECT,
                )
            )
        fit = [
            m
            for m in self.plain.all()
            if m.name not in ("m0", *exclude)
            and (m.state is State.ALIVE if alive_only else m.state in (State.ALIVE, State.SUSPECT))
        ]
        assert len(picked) == min(count, len(fit))

    @invariant()
    def agree(self) -> None:
        assert len(self.shared) == len(self.plain)
        assert self.shared.live_peers == self.plain.live_peers
        assert _snapshot(self.shared) == _snapshot(self.plain)
        for name in NAMES[:50]:
            assert (name in self.shared) == (name in self.plain)

    @invariant()
    def views_agree(self) -> None:
        # A record still the roster's hands out the roster's one view; a copy, its own.
        views = sorted((self.shared.info_of(m) for m in self.shared.all()), key=_by_name)
        assert views == sorted((m.info() for m in self.plain.all()), key=_by_name)
        for member in self.shared.all():
            if self.roster.records.get(member.name) is member:
                assert self.shared.info_of(member) is self.roster.info(member.name)
            else:
                assert self.shared.info_of(member) is not self.shared.info_of(member)

    @rule()
    def local_leaves(self) -> None:
        for table in (self.plain, self.shared):
            table.set_state(table.local, State.LEFT, 1.0)

    @invariant()
    def live_names_agree(self) -> None:
        # Whether the live records are exactly a set of names: the truth, and near misses.
        live = frozenset(m.name for m in self.plain.all() if m.state in _LIVE)
        near = [live, frozenset(NAMES[:40]), live | {"m45"}, live | {"m5"}, live ^ {"m5", "m45"}]
        near += [live - {name} for name in sorted(live)[:3]]
        for names in near:
            assert self.plain.live_names_are(names) is (names == live)
            assert self.shared.live_names_are(names) is (names == live)

    @invariant()
    def digests_agree(self) -> None:
        # The roster table sums only the records it holds itself: its digest must still be
        # the one computed over every record.
        every_row = antientropy.table_digest(self.shared.all())
        assert antientropy.digest_of(self.shared) == every_row == antientropy.digest_of(self.plain)

    @invariant()
    def roster_untouched(self) -> None:
        assert [
            (m.name, m.address, m.incarnation, m.state, m.place)
            for m in self.roster.records.values()
        ] == self.frozen


TablesAgree.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestTablesAgree = TablesAgree.TestCase


def test_each_pass_probes_every_live_member_once() -> None:
    table = RosterTable(_local(), random.Random(3), _roster(60))
    first_pass = [table.next_probe_target() for _ in range(59)]
    names = [m.name for m in first_pass if m is not None]
    assert sorted(names) == sorted(NAMES[1:60])
    second_pass = [table.next_probe_target() for _ in range(59)]
    assert sorted(m.name for m in second_pass if m is not None) == sorted(NAMES[1:60])
    assert names != [m.name for m in second_pass if m is not None]  # reshuffled


@pytest.mark.parametrize("seed", range(6))
def test_a_newcomer_is_probed_in_the_current_pass_and_only_once(seed: int) -> None:
    table = RosterTable(_local(), random.Random(seed), _roster(30))
    seen = [table.next_probe_target() for _ in range(10)]
    table.add(Member("new", _address(77), 0, State.ALIVE, b""))
    dead = table.get(NAMES[5])
    assert dead is not None
    table.set_state(dead, State.DEAD, 1.0)
    table.set_state(dead, State.ALIVE, 2.0)  # flaps back: still queued at most once
    again = NAMES[5] in [m.name for m in seen if m is not None]  # re-queued if already probed
    rest = [table.next_probe_target() for _ in range(30 - 10 + again)]
    names = [m.name for m in seen + rest if m is not None]
    assert names.count("new") == 1
    assert names.count(NAMES[5]) == 1 + again
    assert sorted(set(names)) == sorted({*NAMES[1:30], "new"})


def test_get_copies_a_shared_record_once() -> None:
    roster = _roster(10)
    table = RosterTable(_local(), random.Random(5), roster)
    first = table.get("m3")
    assert first is not None and first is not roster.records["m3"]
    assert table.get("m3") is first
    first.incarnation = 9
    assert roster.records["m3"].incarnation == 0


def test_converged_agrees_with_the_views_through_a_crash_a_restart_a_leave_and_a_join() -> None:
    """``SimCluster.converged`` (each node's ``members_are``, which reads only the records a
    node over the shared roster changed) says what comparing every node's whole view says,
    at every step of a run that diverges and converges again."""
    cluster = SimCluster(30, seed=5, config=Config.lan())
    cluster.schedule([(2.0, Crash(3)), (4.0, Leave(7)), (30.0, Restart(3)), (32.0, Join())])
    seen = set()
    while cluster.now < 60.0:
        cluster.run_for(0.5)
        expected = cluster.expected_view()
        by_views = all(view == expected for view in cluster.views().values())
        assert cluster.converged() is by_views, cluster.now
        seen.add(by_views)
        for index, view in cluster.views().items():  # any iterable of names will do
            assert cluster.node(index).members_are(reversed(view))
            assert not cluster.node(index).members_are(view[1:])
    assert seen == {True, False}
