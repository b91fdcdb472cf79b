"""Every rule for how news changes a member's state, in one table.

The table maps (current state, kind of news) to what to do when the news carries the
incarnation already known and when it carries a higher one; older news is always ignored.
Rules follow SWIM and memberlist: alive news beats anything only with a strictly higher
incarnation; suspect, dead and left news beat an alive or suspect member at an equal or higher
incarnation; dead and left are final for their incarnation.  News about the local node itself
is not judged here: the node refutes it (see ``Node``).
"""

from __future__ import annotations

import enum

from swimcore.messages import State


class Verdict(enum.Enum):
    """What to do with a piece of news."""

    IGNORE = "ignore"
    APPLY = "apply"
    CONFIRM = "confirm"  # another member confirms a suspicion already held


#: The verdicts as module globals (reading them through the class costs a call of
#: ``EnumType``'s ``__getattr__`` hook on Python 3.11), ``_`` for IGNORE in the table.
IGNORE = _ = Verdict.IGNORE
APPLY, CONFIRM = Verdict.APPLY, Verdict.CONFIRM

#: (current state, news state) -> (verdict at the known incarnation, verdict at a higher one).
#: News at a lower incarnation than the one known is always ignored.
TABLE: dict[tuple[State, State], tuple[Verdict, Verdict]] = {
    (State.ALIVE, State.ALIVE): (_, APPLY),
    (State.ALIVE, State.SUSPECT): (APPLY, APPLY),
    (State.ALIVE, State.DEAD): (APPLY, APPLY),
    (State.ALIVE, State.LEFT): (APPLY, APPLY),
    (State.SUSPECT, State.ALIVE): (_, APPLY),
    # A suspicion at a higher incarnation means the member refuted the one we hold (news we
    # missed) and was suspected again: it starts a new suspicion, it does not confirm the old.
    (State.SUSPECT, State.SUSPECT): (CONFIRM, APPLY),
    (State.SUSPECT, State.DEAD): (APPLY, APPLY),
    (State.SUSPECT, State.LEFT): (APPLY, APPLY),
    (State.DEAD, State.ALIVE): (_, APPLY),
    (State.DEAD, State.SUSPECT): (_, _),
    (State.DEAD, State.DEAD): (_, _),
    (State.DEAD, State.LEFT): (_, APPLY),
    (State.LEFT, State.ALIVE): (_, APPLY),
    (State.LEFT, State.SUSPECT): (_, _),
    (State.LEFT, State.DEAD): (_, _),
    (State.LEFT, State.LEFT): (_, _),
}


def judge(current: State, known: int, news: State, incarnation: int) -> Verdict:
    """The verdict on news of state ``news`` at ``incarnation`` about a member known at
    ``known`` in state ``current``."""
    if incarnation < known:
        return IGNORE
    same, newer = TABLE[current, news]
    return same if incarnation == known else newer


def legal(before: State, after: State) -> bool:
    """Whether a member may move from ``before`` to ``after`` (for invariant checkers)."""
    return before is after or Verdict.APPLY in TABLE[before, after]
