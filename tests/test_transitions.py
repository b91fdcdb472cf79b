"""The member-state transition table, checked rule by rule against the protocol's rules.

``EXPECTED`` restates the rules of SWIM and memberlist independently of the table in
``swimcore/transitions.py``: alive news wins only with a strictly higher incarnation; suspect,
dead and left news win over a live member at an equal or higher incarnation; dead and left are
final for their incarnation (only alive news at a higher incarnation revives, and a member
that failed may still announce it left at a higher incarnation).
"""

from __future__ import annotations

import itertools

import pytest

from swimcore.messages import State
from swimcore.transitions import TABLE, Verdict, judge, legal

A, S, D, L = State.ALIVE, State.SUSPECT, State.DEAD, State.LEFT

#: (current, news) -> verdict at a lower, the equal, and a higher incarnation than known.
EXPECTED: dict[tuple[State, State], tuple[Verdict, Verdict, Verdict]] = {
    (A, A): (Verdict.IGNORE, Verdict.IGNORE, Verdict.APPLY),
    (A, S): (Verdict.IGNORE, Verdict.APPLY, Verdict.APPLY),
    (A, D): (Verdict.IGNORE, Verdict.APPLY, Verdict.APPLY),
    (A, L): (Verdict.IGNORE, Verdict.APPLY, Verdict.APPLY),
    (S, A): (Verdict.IGNORE, Verdict.IGNORE, Verdict.APPLY),
    (S, S): (Verdict.IGNORE, Verdict.CONFIRM, Verdict.APPLY),
    (S, D): (Verdict.IGNORE, Verdict.APPLY, Verdict.APPLY),
    (S, L): (Verdict.IGNORE, Verdict.APPLY, Verdict.APPLY),
    (D, A): (Verdict.IGNORE, Verdict.IGNORE, Verdict.APPLY),
    (D, S): (Verdict.IGNORE, Verdict.IGNORE, Verdict.IGNORE),
    (D, D): (Verdict.IGNORE, Verdict.IGNORE, Verdict.IGNORE),
    (D, L): (Verdict.IGNORE, Verdict.IGNORE, Verdict.APPLY),
    (L, A): (Verdict.IGNORE, Verdict.IGNORE, Verdict.APPLY),
    (L, S): (Verdict.IGNORE, Verdict.IGNORE, Verdict.IGNORE),
    (L, D): (Verdict.IGNORE, Verdict.IGNORE, Verdict.IGNORE),
    (L, L): (Verdict.IGNORE, Verdict.IGNORE, Verdict.IGNORE),
}


def test_table_covers_every_pair_of_states() -> None:
    pairs = list(itertools.product(State, State))
    assert sorted(TABLE) == sorted(pairs)
    assert sorted(EXPECTED) == sorted(pairs)


@pytest.mark.parametrize(("current", "news"), sorted(TABLE), ids=lambda s: s.name.lower())
def test_rule(current: State, news: State) -> None:
    known = 7
    got = tuple(judge(current, known, news, known + delta) for delta in (-1, 0, 1))
    assert got == EXPECTED[current, news]


@pytest.mark.parametrize(("current", "news"), sorted(TABLE), ids=lambda s: s.name.lower())
def test_rule_far_from_known(current: State, news: State) -> None:
    """The test is a comparison, not a distance: far above acts like just above."""
    below, _, above = EXPECTED[current, news]
    assert judge(current, 2**40, news, 0) is below
    assert judge(current, 0, news, 2**64 - 1) is above


@pytest.mark.parametrize(("current", "news"), sorted(TABLE), ids=lambda s: s.name.lower())
def test_table_entry_is_consistent(current: State, news: State) -> None:
    same, newer = TABLE[current, news]
    assert newer is not Verdict.CONFIRM, "a higher incarnation is never a mere confirmation"
    assert (same is Verdict.CONFIRM) == (current is news is S)
    assert same is Verdict.IGNORE or newer is Verdict.APPLY, "what wins when equal wins above"


@pytest.mark.parametrize("news", [S, D, L])
@pytest.mark.parametrize("current", [D, L])
def test_dead_and_left_are_final_for_their_incarnation(current: State, news: State) -> None:
    assert judge(current, 3, news, 3) is Verdict.IGNORE
    assert judge(current, 3, A, 3) is Verdict.IGNORE
    assert judge(current, 3, A, 4) is Verdict.APPLY


@pytest.mark.parametrize("current", list(State))
def test_alive_news_needs_a_strictly_higher_incarnation(current: State) -> None:
    assert judge(current, 0, A, 0) is Verdict.IGNORE
    assert judge(current, 0, A, 1) is Verdict.APPLY
    assert judge(current, 2**64 - 2, A, 2**64 - 1) is Verdict.APPLY
    assert judge(current, 2**64 - 1, A, 2**64 - 1) is Verdict.IGNORE


def test_equal_incarnation_alive_does_not_override_suspect() -> None:
    assert judge(S, 5, A, 5) is Verdict.IGNORE


def test_suspect_news_confirms_a_held_suspicion_and_never_revives() -> None:
    assert judge(S, 5, S, 5) is Verdict.CONFIRM
    # Suspected again after a refutation this node missed: a new suspicion, a new timer.
    assert judge(S, 5, S, 9) is Verdict.APPLY
    assert judge(D, 5, S, 9) is Verdict.IGNORE


@pytest.mark.parametrize(("before", "after"), list(itertools.product(State, State)))
def test_legal_moves(before: State, after: State) -> None:
    expected = before is after or Verdict.APPLY in EXPECTED[before, after]
    assert legal(before, after) is expected


def test_no_path_from_dead_back_to_suspect() -> None:
    assert not legal(D, S)
    assert not legal(L, S)
    assert not legal(L, D)
    assert legal(D, A)
    assert legal(D, L)
