"""Lifeguard's local health awareness.

A score from 0 to ``maximum - 1`` that rises when this node's own probes fail, when relays' nacks
it expected do not arrive, or when it hears it is suspected, and falls on each successful probe.
A node in poor health probes less eagerly: its probe interval and timeout are multiplied by
``score + 1``, so a slow node stops accusing healthy ones.
"""

from __future__ import annotations


class Awareness:
    """The local health score."""

    __slots__ = ("_max", "enabled", "score")

    def __init__(self, maximum: int, *, enabled: bool = True) -> None:
        self._max = maximum
        self.enabled = enabled
        self.score = 0

    def apply(self, delta: int) -> None:
        """Move the score by ``delta``, clamped to ``0 .. maximum - 1``."""
        if self.enabled:
            self.score = min(self._max - 1, max(0, self.score + delta))

    def scale(self, duration: float) -> float:
        """``duration`` stretched by the current health multiplier."""
        return duration * (self.score + 1)
