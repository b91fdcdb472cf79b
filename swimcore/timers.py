"""A deadline heap with lazy deletion, at most one pending entry per payload.

Scheduling a payload that is already pending moves it: only the newest entry of a payload
fires.  Cancelling a payload forgets its entry, so that a timer whose work is already done (a
probe acked before its timeout) neither fires nor wakes the driver: :meth:`next_deadline`
drops superseded and cancelled entries from the top before it answers.  Dead entries further
down are compacted away when they outnumber the live ones, so the heap stays within a constant
factor of the payloads pending however often news makes the node re-arm the same timer (a
member flapping between alive and dead must not leave a timer behind per flip).  Ties are
broken by insertion order, which keeps firing order deterministic.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)

#: The payload of an entry that will not fire (superseded or cancelled), left in the heap
#: until it reaches the top.
_DEAD: Any = object()


class TimerHeap(Generic[K]):
    """Timers keyed by an arbitrary payload, fired in (deadline, insertion) order."""

    __slots__ = ("_heap", "_pending", "_seq")

    def __init__(self) -> None:
        # Entries are [deadline, insertion number, payload] lists, as in the heapq
        # documentation's priority queue: lists compare in C and never reach the payload
        # (insertion numbers are unique), and an entry is killed in place by replacing its
        # payload, so that skipping dead entries needs no lookup.
        self._heap: list[list[Any]] = []
        #: payload -> its one live entry in the heap
        self._pending: dict[K, list[Any]] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._pending)

    def schedule(self, when: float, payload: K) -> None:
        """Fire ``payload`` at ``when`` (instead of any earlier schedule of the same payload)."""
        self._seq += 1
        entry = [when, self._seq, payload]
        old = self._pending.get(payload)
        if old is not None:
            old[2] = _DEAD
        self._pending[payload] = entry
        heapq.heappush(self._heap, entry)
        if len(self._heap) > 2 * len(self._pending) + 64:
            self._heap = [e for e in self._heap if e[2] is not _DEAD]
            heapq.heapify(self._heap)

    def cancel(self, payload: K) -> None:
        """Forget ``payload``'s pending entry, if any (it will neither fire nor wake anyone)."""
        entry = self._pending.pop(payload, None)
        if entry is not None:
            entry[2] = _DEAD

    def _drop_superseded(self) -> None:
        heap = self._heap
        while heap and heap[0][2] is _DEAD:
            heapq.heappop(heap)

    def next_deadline(self) -> float | None:
        """The earliest deadline, or ``None`` when nothing is scheduled."""
        self._drop_superseded()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> K | None:
        """Remove and return the earliest payload due at ``now``, or ``None``."""
        self._drop_superseded()
        if self._heap and self._heap[0][0] <= now:
            payload: K = heapq.heappop(self._heap)[2]
            del self._pending[payload]
            return payload
        return None
