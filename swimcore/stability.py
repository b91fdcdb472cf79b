"""Stable views under partial failures: who may accuse, whom to believe, whom to damp.

SWIM lets any member start a suspicion and lets the suspect clear it by refuting.  When a few
members are partly reachable (heavy loss one way, a flapping link) this keeps every view
changing: the faulty member is suspected and refutes over and over, and, starved of acks, it
accuses healthy members too (the Rapid paper's criticism of SWIM and memberlist: Suresh et al.,
"Stable and Consistent Membership at Scale with Rapid", USENIX ATC 2018).  Three mechanisms,
each behind its own :class:`~swimcore.config.Config` switch, keep views stable:

* **Health-gated accusations** (``stability_health_gate``): Lifeguard's local health score
  (Dadgar et al., "Lifeguard: Local Health Awareness for More Accurate Failure Detection",
  2018) already stretches a node's probing when it misses acks and nacks; here a node whose
  score is at least ``stability_gate_score`` does not accuse at all (its failed probe says more
  about itself than about the target), as long as it still hears from other members (a packet
  within the last two protocol periods): the last survivor of a crash, which hears no one,
  accuses as SWIM does, so the gate never keeps a death unknown.  Counted as
  ``accusations_withheld``.
* **Corroborated suspicion** (``stability_accusers``): Rapid's multi-observer rule applied to
  SWIM's suspicion.  Another member's accusation of a member this node holds alive is relayed
  (so others can count it and the accused can refute) but believed only once
  ``stability_accusers`` distinct members accused the same incarnation within the minimum
  suspicion timeout; this node's own failed probe is always believed.  An accuser this node
  holds suspect, dead or unstable is not believed at all, nor is its declaration that a member
  this node holds alive is dead.  The suspicion, once believed, starts
  from the first accusation and counts every accuser as a confirmation, so a real crash is
  declared dead as early as before.
* **Flap damping** (``stability_damping``): BGP route-flap damping (RFC 2439) applied to
  membership.  Each refutation (the member re-announcing itself, unchanged, at a higher
  incarnation: every view hears it, whether it believed the accusation or not) is judged one
  corroboration window after it arrives: it adds 1 to the member's penalty, which halves every
  ``stability_half_life`` seconds, if an accuser of the refuted incarnation (heard before or
  after the refutation) is still believed then.  The window is what lets every view learn who
  the accusers were: a member losing most of its input accuses whomever it fails to reach
  before anyone knows it is faulty, and is suspect, dead or unstable everywhere by the
  verdict.  A return from the dead adds 1 at once.  At ``stability_suppress`` the member is
  reported :class:`~swimcore.actions.MemberUnstable` once and its further suspicions and
  refutations are not reported; once the penalty has decayed below ``stability_reuse`` while
  the member is alive, it is reported :class:`~swimcore.actions.MemberStable` (hysteresis:
  the thresholds differ, so a member on the edge does not flip).
* **Suspicion hold** (``stability_suspect_hold``): a suspicion is reported only once it has
  stood this long; one refuted sooner is reported neither suspected nor alive again.

The protocol itself is unchanged on the wire: a swimcore member is only stricter than a
memberlist member about what it believes and reports, never wrong to it.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from swimcore.config import Config

__all__ = ["Accusation", "Refutation", "Stability"]


@attrs.define(slots=True)
class Accusation:
    """Accusations of one member at one incarnation not yet believed."""

    incarnation: int
    first: float
    #: Distinct accusers, in arrival order (a dict for determinism).
    accusers: dict[str, None]


@attrs.define(slots=True)
class Refutation:
    """A member's refutations awaiting their verdict: flaps if an accuser of an incarnation
    they answer is believed here when the verdict is due."""

    #: The incarnations answered: from ``since`` up to (not including) ``until``.
    since: int
    until: int
    #: How many refutations (a flap each, if the verdict is that they are flaps).
    count: int
    #: Accusers heard of the incarnations answered, in arrival order.
    accusers: dict[str, None]


#: Accusers kept per refutation awaiting its verdict (a hostile peer cannot grow it further).
MAX_ACCUSERS = 64


class Stability:
    """One node's accusation and damping bookkeeping (bounded by ``max_members`` entries)."""

    __slots__ = (
        "_accusations",
        "_half_life",
        "_held",
        "_limit",
        "_needed",
        "_penalties",
        "_refutations",
        "_reuse",
        "_suppress",
        "_unstable",
        "damping",
        "dropped",
        "gate",
    )

    def __init__(self, config: Config) -> None:
        self.gate = (
            config.awareness_max
            if not config.stability_health_gate
            else (config.stability_gate_score)
        )
        self._needed = config.stability_accusers
        self.damping = config.stability_damping
        self._suppress = config.stability_suppress
        self._reuse = config.stability_reuse
        self._half_life = config.stability_half_life
        self._limit = config.max_members
        self._accusations: dict[str, Accusation] = {}
        #: Refutations awaiting their verdict, per member.
        self._refutations: dict[str, Refutation] = {}
        #: Penalty and the time it was last computed, per member.
        self._penalties: dict[str, tuple[float, float]] = {}
        self._unstable: dict[str, None] = {}
        #: Unstable members reported dead that came back unreported (a subset of _unstable).
        self._held: dict[str, None] = {}
        #: Entries dropped because a table was full (counted, never blocking).
        self.dropped = 0

    def _make_room(self, table: dict[str, Any], name: str) -> str | None:
        """Before ``name`` enters ``table``: drop (and count) its oldest entry when it is full;
        the name dropped, if any."""
        if name in table or len(table) < self._limit:
            return None
        oldest = next(iter(table))
        del table[oldest]
        self.dropped += 1
        return oldest

    # --------------------------------------------------------------------- accusers' health

    def withholds(self, health: int) -> bool:
        """Whether a node with Lifeguard score ``health`` keeps its failed probe to itself."""
        return health >= self.gate

    # ------------------------------------------------------------------------ corroboration

    @property
    def corroborates(self) -> bool:
        """Whether another member's accusation needs others beside it to be believed."""
        return self._needed > 1

    def accuse(self, name: str, incarnation: int, by: str, now: float, window: float) -> bool:
        """Record ``by``'s accusation of ``name``; True when it is new (relay it on)."""
        held = self._accusations.get(name)
        if held is None or incarnation > held.incarnation or now - held.first > window:
            self._make_room(self._accusations, name)
            held = self._accusations[name] = Accusation(incarnation, now, {})
        elif incarnation < held.incarnation or by in held.accusers:
            return False
        held.accusers[by] = None
        return True

    def believed(self, name: str) -> bool:
        """Whether enough distinct members accuse ``name`` for the suspicion to be believed."""
        held = self._accusations.get(name)
        return held is not None and len(held.accusers) >= self._needed

    # ------------------------------------------------------------------------- refutations

    def refuted(self, name: str, since: int, until: int) -> bool:
        """``name`` refuted news of itself at ``since`` by announcing ``until``: hold the
        refutation, with the accusers of it heard so far, for its verdict.  True when none
        was held (the caller arranges the verdict)."""
        held = self._accusations.get(name) if self._accusations else None
        accusers: dict[str, None] | None = None
        if held is not None and held.incarnation < until:
            del self._accusations[name]  # answered
            if held.incarnation >= since:
                accusers = held.accusers
        waiting = self._refutations.get(name)
        if waiting is not None:
            if until > waiting.until:  # noqa: PLR1730 (max() costs a call per refutation)
                waiting.until = until
            waiting.count += 1
            if accusers:
                for accuser in accusers:
                    self.heard(name, since, accuser)
            return False
        self._make_room(self._refutations, name)
        self._refutations[name] = Refutation(since, until, 1, {} if accusers is None else accusers)
        return True

    def heard(self, name: str, incarnation: int, by: str) -> None:
        """``by`` accused ``name`` at ``incarnation``: an accuser of a refutation awaiting its
        verdict if it answers that incarnation (news that arrives after its refutation
        counts)."""
        waiting = self._refutations.get(name)
        if waiting is None or not waiting.since <= incarnation < waiting.until:
            return
        if len(waiting.accusers) < MAX_ACCUSERS:
            waiting.accusers[by] = None

    def verdict_due(self, name: str) -> Refutation | None:
        """The refutations of ``name`` awaiting their verdict (forgotten here)."""
        return self._refutations.pop(name, None)

    def take(self, name: str, incarnation: int) -> Accusation | None:
        """The pending accusations of ``name`` at ``incarnation`` (forgotten here)."""
        held = self._accusations.pop(name, None)
        return held if held is not None and held.incarnation == incarnation else None

    # ------------------------------------------------------------------------------ damping

    def penalty(self, name: str, now: float) -> float:
        """``name``'s penalty decayed to ``now``."""
        value, since = self._penalties.get(name, (0.0, now))
        return value * math.pow(0.5, max(0.0, now - since) / self._half_life)

    def flapped(self, name: str, now: float, times: int = 1) -> bool:
        """``name`` flapped ``times`` times: raise its penalty; True when it becomes unstable."""
        oldest = self._make_room(self._penalties, name)
        if oldest is not None:
            self._unstable.pop(oldest, None)
            self._held.pop(oldest, None)
        # The ceiling bounds how long a member stays suppressed after its last flap.
        value = min(self.penalty(name, now) + times, 2.0 * self._suppress)
        self._penalties[name] = (value, now)
        if name not in self._unstable and value >= self._suppress:
            self._unstable[name] = None
            return True
        return False

    def unstable(self, name: str) -> bool:
        return name in self._unstable

    def names(self) -> list[str]:
        """Members currently damped, in the order they became unstable."""
        return list(self._unstable)

    def reuse_at(self, name: str) -> float:
        """When ``name``'s penalty decays below the reuse threshold (no further flaps)."""
        value, since = self._penalties.get(name, (0.0, 0.0))
        if value <= self._reuse:
            return since
        return since + self._half_life * math.log2(value / self._reuse)

    def settle(self, name: str, now: float) -> bool:
        """True when ``name`` is unstable and its penalty has decayed below reuse: it is
        stable again (and no longer damped)."""
        if name not in self._unstable or self.penalty(name, now) >= self._reuse:
            return False
        del self._unstable[name]
        del self._penalties[name]
        self._held.pop(name, None)
        return True

    def hold(self, name: str) -> None:
        """``name``, reported dead, came back while unstable: its return is not reported."""
        if name in self._unstable:
            self._held[name] = None

    def died(self, name: str) -> bool:
        """``name`` was declared dead: accusations end, its damping stays (coming back counts
        as one more flap).  True when its death was already reported and its return since
        was held out: the application still sees it dead, so the death is not news."""
        self._accusations.pop(name, None)
        self._refutations.pop(name, None)
        return self._release(name)

    def forget(self, name: str) -> bool:
        """``name`` left or was reclaimed: its accusations and damping end.  True when it had
        come back from a reported death unreported (its leaving is not news either)."""
        self._accusations.pop(name, None)
        self._refutations.pop(name, None)
        self._penalties.pop(name, None)
        self._unstable.pop(name, None)
        return self._release(name)

    def _release(self, name: str) -> bool:
        """Forget that ``name``'s return was held out; True when it was."""
        if name not in self._held:
            return False
        del self._held[name]
        return True
