"""Cluster operations as values: what a fault script, a random fault plan and a hypothesis
state machine all hand to :meth:`~swimcore.transports.sim.SimCluster.apply`.

Nodes are named by their index in the cluster (stable across restarts; ``Join`` adds the next
index).  Each operation is frozen and prints as a line of a replayable script.
"""

from __future__ import annotations

import attrs


@attrs.frozen(slots=True)
class Crash:
    """Node ``index`` stops silently."""

    index: int


@attrs.frozen(slots=True)
class Restart:
    """A new process takes over ``index``'s name and address and joins again.

    With ``bump`` it starts above the incarnation its previous life reached (as a process that
    persists it would); without, it starts at 0 and relies on refuting what the group remembers.
    """

    index: int
    bump: bool = False


@attrs.frozen(slots=True)
class Leave:
    """Node ``index`` leaves gracefully and stops after the cluster's linger time."""

    index: int


@attrs.frozen(slots=True)
class Join:
    """A brand-new node joins through the cluster's seeds."""


@attrs.frozen(slots=True)
class Pause:
    """Node ``index`` handles nothing for ``duration`` seconds, then catches up late."""

    index: int
    duration: float


@attrs.frozen(slots=True)
class Partition:
    """Cut the nodes in ``side`` off from all others, for ``duration`` seconds or until a
    :class:`Heal`.  With ``both_ways`` False the cut is one way: what ``side`` sends to the
    others is lost, what they send to it still arrives."""

    side: tuple[int, ...]
    both_ways: bool = True
    duration: float | None = None


@attrs.frozen(slots=True)
class Heal:
    """Remove every cut."""


@attrs.frozen(slots=True)
class LossBurst:
    """Every datagram is lost with ``loss`` for ``duration`` seconds."""

    loss: float
    duration: float


@attrs.frozen(slots=True)
class OneWayLoss:
    """Datagrams sent by ``index`` are lost with ``loss`` for ``duration`` (its inbound
    traffic is untouched)."""

    index: int
    loss: float
    duration: float


@attrs.frozen(slots=True)
class Corruption:
    """Datagrams are damaged (bit flips and truncation, ``rate`` each) for ``duration``."""

    rate: float
    duration: float


@attrs.frozen(slots=True)
class Chaos:
    """Duplication and reordering (``rate`` each) for ``duration``."""

    rate: float
    duration: float


Op = (
    Crash
    | Restart
    | Leave
    | Join
    | Pause
    | Partition
    | Heal
    | LossBurst
    | OneWayLoss
    | Corruption
    | Chaos
)
