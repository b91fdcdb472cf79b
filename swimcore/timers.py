"""A deadline heap with lazy deletion.

Timers are never cancelled: each entry carries a token the owner checks when it fires, so a
stale entry is skipped at no cost.  Ties are broken by insertion order, which keeps firing
order deterministic.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class TimerHeap(Generic[K]):
    """Timers keyed by an arbitrary payload, fired in (deadline, insertion) order."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, when: float, payload: K) -> None:
        """Fire ``payload`` at ``when``."""
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, payload))

    def next_deadline(self) -> float | None:
        """The earliest deadline, or ``None`` when nothing is scheduled."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> K | None:
        """Remove and return the earliest payload due at ``now``, or ``None``."""
        if self._heap and self._heap[0][0] <= now:
            return heapq.heappop(self._heap)[2]
        return None
