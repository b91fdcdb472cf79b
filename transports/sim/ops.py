"""Cluster operations as values: what a fault script, a random fault plan and a hypothesis
state machine all hand to :meth:`~swimcore.transports.sim.SimCluster.apply`.

Nodes are named by their index in the cluster (stable across restarts; ``Join`` adds the next
index).  Each operation is frozen and prints as a line of a replayable script.

Each checks its fields when it is built and raises :class:`~swimcore.errors.ConfigError`
for a negative index, a loss or rate outside 0..1, or a duration that is negative, NaN or
infinite.  An index at or past the cluster's size is not refused: a scripted operation may name
a node that joins before it applies, and one that applies to no node yet is skipped, as one on a
crashed node is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from swimcore.errors import ConfigError
from swimcore.transports.sim.faults import _non_negative, _probability


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _index(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not _is_index(value):
        raise ConfigError(
            f"{attribute.name} must be a node index (an integer >= 0, counted from the "
            f"cluster's first node), got {value!r}"
        )


def _side(instance: object, attribute: attrs.Attribute[Any], value: Sequence[Any]) -> None:
    if not value:
        raise ConfigError("a Partition side needs at least one node index (Heal() removes cuts)")
    bad = [i for i in value if not _is_index(i)]
    if bad:
        raise ConfigError(
            f"side must hold node indexes (integers >= 0, counted from the cluster's first "
            f"node), got {bad[0]!r} in {value!r}"
        )


def _optional_duration(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _non_negative(instance, attribute, value)


@attrs.frozen(slots=True)
class Crash:
    """Node ``index`` stops silently."""

    index: int = attrs.field(validator=_index)


@attrs.frozen(slots=True)
class Restart:
    """A new process takes over ``index``'s name and address and joins again.

    With ``bump`` it starts above the incarnation its previous life reached (as a process that
    persists it would); without, it starts at 0 and relies on refuting what the group remembers.
    """

    index: int = attrs.field(validator=_index)
    bump: bool = False


@attrs.frozen(slots=True)
class Leave:
    """Node ``index`` leaves gracefully and stops after the cluster's linger time."""

    index: int = attrs.field(validator=_index)


@attrs.frozen(slots=True)
class Join:
    """A brand-new node joins through the cluster's seeds."""


@attrs.frozen(slots=True)
class Pause:
    """Node ``index`` handles nothing for ``duration`` seconds, then catches up late."""

    index: int = attrs.field(validator=_index)
    duration: float = attrs.field(validator=_non_negative)


@attrs.frozen(slots=True)
class Partition:
    """Cut the nodes in ``side`` off from all others, for ``duration`` seconds or until a
    :class:`Heal`.  With ``both_ways`` False the cut is one way: what ``side`` sends to the
    others is lost, what they send to it still arrives."""

    side: tuple[int, ...] = attrs.field(validator=_side)
    both_ways: bool = True
    duration: float | None = attrs.field(default=None, validator=_optional_duration)


@attrs.frozen(slots=True)
class Heal:
    """Remove every cut."""


@attrs.frozen(slots=True)
class LossBurst:
    """Every datagram is lost with ``loss`` for ``duration`` seconds."""

    loss: float = attrs.field(validator=_probability)
    duration: float = attrs.field(validator=_non_negative)


@attrs.frozen(slots=True)
class OneWayLoss:
    """Datagrams sent by ``index`` are lost with ``loss`` for ``duration`` (its inbound
    traffic is untouched)."""

    index: int = attrs.field(validator=_index)
    loss: float = attrs.field(validator=_probability)
    duration: float = attrs.field(validator=_non_negative)


@attrs.frozen(slots=True)
class Corruption:
    """Datagrams are damaged (bit flips and truncation, ``rate`` each) for ``duration``."""

    rate: float = attrs.field(validator=_probability)
    duration: float = attrs.field(validator=_non_negative)


@attrs.frozen(slots=True)
class Chaos:
    """Duplication and reordering (``rate`` each) for ``duration``."""

    rate: float = attrs.field(validator=_probability)
    duration: float = attrs.field(validator=_non_negative)


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
