"""Every rule for how news changes a member's state, in one table.

The table maps (current state, kind of news) to the incarnation test the news must pass and
the state it leads to.  Rules follow SWIM and memberlist: alive news beats anything only with a
strictly higher incarnation; suspect, dead and left news beat an alive or suspect member at an
equal or higher incarnation; dead and left are final for their incarnation.  News about the
local node itself is not judged here: the node refutes it (see ``Node``).
"""

from __future__ import annotations

import enum

from swimcore.messages import State


class Test(enum.Enum):
    """How the news' incarnation must compare with the one known."""

    NEWER = ">"
    SAME_OR_NEWER = ">="
    NEVER = "never"


class Verdict(enum.Enum):
    """What to do with a piece of news."""

    IGNORE = "ignore"
    APPLY = "apply"
    CONFIRM = "confirm"  # another member confirms a suspicion already held


#: (current state, news state) -> (test, verdict when it passes)
TABLE: dict[tuple[State, State], tuple[Test, Verdict]] = {
    (State.ALIVE, State.ALIVE): (Test.NEWER, Verdict.APPLY),
    (State.ALIVE, State.SUSPECT): (Test.SAME_OR_NEWER, Verdict.APPLY),
    (State.ALIVE, State.DEAD): (Test.SAME_OR_NEWER, Verdict.APPLY),
    (State.ALIVE, State.LEFT): (Test.SAME_OR_NEWER, Verdict.APPLY),
    (State.SUSPECT, State.ALIVE): (Test.NEWER, Verdict.APPLY),
    (State.SUSPECT, State.SUSPECT): (Test.SAME_OR_NEWER, Verdict.CONFIRM),
    (State.SUSPECT, State.DEAD): (Test.SAME_OR_NEWER, Verdict.APPLY),
    (State.SUSPECT, State.LEFT): (Test.SAME_OR_NEWER, Verdict.APPLY),
    (State.DEAD, State.ALIVE): (Test.NEWER, Verdict.APPLY),
    (State.DEAD, State.SUSPECT): (Test.NEVER, Verdict.IGNORE),
    (State.DEAD, State.DEAD): (Test.NEVER, Verdict.IGNORE),
    (State.DEAD, State.LEFT): (Test.NEWER, Verdict.APPLY),
    (State.LEFT, State.ALIVE): (Test.NEWER, Verdict.APPLY),
    (State.LEFT, State.SUSPECT): (Test.NEVER, Verdict.IGNORE),
    (State.LEFT, State.DEAD): (Test.NEVER, Verdict.IGNORE),
    (State.LEFT, State.LEFT): (Test.NEVER, Verdict.IGNORE),
}


def judge(current: State, known: int, news: State, incarnation: int) -> Verdict:
    """The verdict on news of state ``news`` at ``incarnation`` about a member known at
    ``known`` in state ``current``."""
    test, verdict = TABLE[current, news]
    if test is Test.NEWER and incarnation > known:
        return verdict
    if test is Test.SAME_OR_NEWER and incarnation >= known:
        return verdict
    return Verdict.IGNORE


def legal(before: State, after: State) -> bool:
    """Whether a member may move from ``before`` to ``after`` (for invariant checkers)."""
    if before is after:
        return True
    return TABLE[before, after][1] is Verdict.APPLY
