"""The member tables' indexes: the live list and the probe order, against a model.

The plain table keeps each record's place in the live list and whether it is still ahead in
the current probe pass in the record itself; the sharing table keeps them beside its records,
which it may share with other tables.  The model below keeps them the simplest way (two
dictionaries keyed by name); fed the same operations and the same random seed, each table must
choose the same probe targets and the same random peers, so that the simulator's traces do not
depend on how the table stores its indexes.
"""

from __future__ import annotations

import random

import hypothesis.strategies as st
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from swimcore import Address, State
from swimcore.members import Member, MemberTable, SharingTable

NAMES = [f"m{i}" for i in range(12)]
_LIVE = (State.ALIVE, State.SUSPECT)


def _record(i: int, state: State = State.ALIVE) -> Member:
    return Member(NAMES[i], Address(f"10.2.0.{i + 1}", 7946), 0, state, b"")


class _Model:
    """SWIM's round robin over names: live list with positions, order, names ahead."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.states: dict[str, State] = {}
        self.live: list[str] = []
        self.pos: dict[str, int] = {}
        self.order: list[str] = []
        self.at = 0
        self.ahead: dict[str, None] = {}

    def enter(self, name: str) -> None:
        self.pos[name] = len(self.live)
        self.live.append(name)
        if name not in self.ahead:
            self.ahead[name] = None
            self.order.insert(self.rng.randint(self.at, len(self.order)), name)

    def leave(self, name: str) -> None:
        pos = self.pos.pop(name)
        last = self.live.pop()
        if last != name:
            self.live[pos] = last
            self.pos[last] = pos

    def set(self, name: str, state: State) -> None:
        was = self.states.get(name)
        self.states[name] = state
        if state in _LIVE and was not in _LIVE:
            self.enter(name)
        elif was in _LIVE and state not in _LIVE:
            self.leave(name)

    def remove(self, name: str) -> None:
        if self.states.pop(name) in _LIVE:
            self.leave(name)

    def next(self) -> str | None:
        for _ in range(2):
            while self.at < len(self.order):
                name = self.order[self.at]
                self.at += 1
                self.ahead.pop(name, None)
                if self.states.get(name) in _LIVE:
                    return name
            self.order = list(self.live)
            self.rng.shuffle(self.order)
            self.at = 0
            self.ahead = dict.fromkeys(self.order)
            if not self.order:
                return None
        return None


class TableMatchesModel(RuleBasedStateMachine):
    kind: type[MemberTable] = MemberTable

    def __init__(self) -> None:
        super().__init__()
        self.table = self.make_table()
        self.model = _Model(random.Random(7))
        #: When each member that is not live entered its state (a step count as the time).
        self.since: dict[str, float] = {}
        self.now = 0.0

    def make_table(self) -> MemberTable:
        return self.kind(_record(0), random.Random(7))

    @rule(i=st.integers(1, len(NAMES) - 1), state=st.sampled_from(State))
    def change(self, i: int, state: State) -> None:
        self.now += 1.0
        member = self.table.get(NAMES[i])
        if member is None:
            self.learn(i, state)
        else:
            self.table.set_state(member, state, self.now)
        self.model.set(NAMES[i], state)
        if state in _LIVE:
            self.since.pop(NAMES[i], None)
        else:
            self.since[NAMES[i]] = self.now

    def learn(self, i: int, state: State) -> None:
        record = _record(i, state)
        self.table.add(self.table.new_record(record.name, record.address, 0, state, b""), self.now)

    @rule(i=st.integers(1, len(NAMES) - 1))
    def remove(self, i: int) -> None:
        if NAMES[i] in self.table:
            self.table.remove(NAMES[i])
            self.model.remove(NAMES[i])
            self.since.pop(NAMES[i], None)

    @rule()
    def probe(self) -> None:
        target = self.table.next_probe_target()
        assert (target.name if target is not None else None) == self.model.next()

    @rule(count=st.integers(1, 4))
    def pick(self, count: int) -> None:
        picked = [m.name for m in self.table.random_live(count)]
        live = self.model.live
        assert picked == self.model.rng.sample(live, min(len(live), count))

    @invariant()
    def live_positions(self) -> None:
        assert self.table.live_peers == len(self.model.live)
        for pos, name in enumerate(self.model.live):
            assert name in self.table and self.table.live_pos(name) == pos
        for member in self.table.all()[1:]:
            if member.state not in _LIVE:
                assert self.table.live_pos(member.name) == -1
                assert self.table.since(member) == self.since[member.name]
            else:
                with pytest.raises(KeyError):
                    self.table.since(member)  # only members that are not live keep a time


TableMatchesModel.TestCase.settings = settings(
    max_examples=200, stateful_step_count=60, deadline=None
)
TestTableMatchesModel = TableMatchesModel.TestCase


class SharingTableMatchesModel(TableMatchesModel):
    """The same, on a table whose records are the process's shared ones; beside it, a
    bystander table learns the same news and changes nothing: its records must not move when
    the table changes its own (each change goes to a copy)."""

    kind = SharingTable

    def __init__(self) -> None:
        super().__init__()
        self.bystander = SharingTable(_record(0), random.Random(8))
        #: What the bystander learned, by name.
        self.learned: dict[str, tuple[State, int]] = {}

    def learn(self, i: int, state: State) -> None:
        super().learn(i, state)
        name = NAMES[i]
        if name not in self.bystander:
            self.bystander.add(
                self.bystander.new_record(name, _record(i).address, 0, state, b""), self.now
            )
            self.learned[name] = (state, 0)

    @invariant()
    def bystander_unmoved(self) -> None:
        assert {m.name: (m.state, m.incarnation) for m in self.bystander.all()[1:]} == (
            self.learned
        )

    @invariant()
    def names_ahead(self) -> None:
        for member in self.table.all()[1:]:
            assert self.table.ahead(member.name) == (member.name in self.model.ahead)


SharingTableMatchesModel.TestCase.settings = TableMatchesModel.TestCase.settings
TestSharingTableMatchesModel = SharingTableMatchesModel.TestCase


class IndexedSharingTableMatchesModel(SharingTableMatchesModel):
    """The same, on a sharing table that keeps its places in a dictionary from its third live
    peer on (``INDEXED_AT`` is 4,096): the switch happens mid-run, in any state of the pass."""

    def make_table(self) -> MemberTable:
        return SharingTable(_record(0), random.Random(7), indexed_at=3)


IndexedSharingTableMatchesModel.TestCase.settings = TableMatchesModel.TestCase.settings
TestIndexedSharingTableMatchesModel = IndexedSharingTableMatchesModel.TestCase


@pytest.mark.parametrize("kind", [MemberTable, SharingTable])
@pytest.mark.parametrize("seed", range(8))
def test_a_record_removed_and_learned_again_within_a_pass_keeps_one_place(
    seed: int, kind: type[MemberTable]
) -> None:
    table = kind(_record(0), random.Random(seed))

    def learn(i: int) -> None:
        table.add(table.new_record(NAMES[i], _record(i).address, 0, State.ALIVE, b""))

    for i in range(1, 6):
        learn(i)
    first = table.next_probe_target()
    assert first is not None
    ahead = next(name for name in NAMES[1:6] if name != first.name)
    gone = table.get(ahead)
    assert gone is not None
    table.set_state(gone, State.DEAD, 1.0)
    table.remove(ahead)  # reclaimed while still ahead in the pass
    learn(NAMES.index(ahead))  # and learned again
    rest = [table.next_probe_target() for _ in range(4)]
    names = [first.name, *(m.name for m in rest if m is not None)]
    assert sorted(names) == NAMES[1:6]  # each once: the new record took the old place
