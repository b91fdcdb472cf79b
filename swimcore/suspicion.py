"""Suspicion timeouts, including Lifeguard's dynamic one.

A suspicion starts at ``max_timeout`` and shrinks logarithmically toward ``min_timeout`` as
independent members confirm it, reaching the minimum after ``needed`` confirmations (the
formula memberlist uses).  With the dynamic timeout off, ``max_timeout == min_timeout``.
"""

from __future__ import annotations

import math

import attrs


@attrs.define(slots=True)
class Suspicion:
    """One member's pending suspicion."""

    incarnation: int
    started: float
    min_timeout: float
    max_timeout: float
    needed: int
    #: Members that confirmed, in arrival order (a dict, never a set, for determinism).
    confirmers: dict[str, None] = attrs.field(factory=dict)
    #: Sequence number of the last-chance probe sent when the timeout expired, if any.
    verify_seq: int | None = None
    #: This node's own failed probe of the suspect has been gossiped as a confirmation.
    confirmed_locally: bool = False
    #: Bumped whenever the deadline moves, so stale timer entries are skipped.
    token: int = 0
    #: Reported to the application (at once, or once it stood ``stability_suspect_hold``).
    announced: bool = False

    def timeout(self) -> float:
        """The current timeout given the confirmations so far."""
        if self.needed < 1:
            return self.min_timeout
        fraction = math.log(len(self.confirmers) + 1) / math.log(self.needed + 1)
        value = self.max_timeout - fraction * (self.max_timeout - self.min_timeout)
        return max(self.min_timeout, value)

    def deadline(self) -> float:
        return self.started + self.timeout()

    def confirm(self, by: str) -> bool:
        """Record an independent confirmation; True when it is new and moves the deadline."""
        if by in self.confirmers or len(self.confirmers) >= self.needed:
            return False
        self.confirmers[by] = None
        self.token += 1
        return True
