"""The simulator's event queue: a calendar of time buckets that pops in exact heap order.

Events are tuples ``(when, seq, kind, payload)``: virtual time, a sequence number the queue
gives each event (so that events at equal times pop in the order they were pushed, and tuples
never compare past it), and what the simulator makes of them.  One ``heapq`` of every pending
event (one timer per host plus each datagram in flight: 10,000 and more in a large cluster)
makes each push and pop sift through about ``log2 n`` tuples scattered over memory, most of
them out of the CPU's caches once the cluster is large.

:class:`EventQueue` cuts virtual time into buckets :data:`BUCKET` seconds wide.  Events of
later buckets are appended to their bucket's list (no ordering work, and only the list's tail
is touched); the earliest bucket is a small heap, built when its turn comes and popped while
its tuples are still in cache.  Bucket numbers grow with time (``floor(when / BUCKET)``, exact
because :data:`BUCKET` is a power of two), so every event of an earlier bucket comes before
every event of a later one, and within the current heap tuples compare as they always did:
the order of pops is exactly ``heapq``'s, for any sequence of pushes (tests/test_sim_events.py
checks it against ``heapq``).
"""

from __future__ import annotations

import heapq
from typing import Any

#: Width of a bucket in virtual seconds (a power of two: ``when * _PER_SECOND`` is exact).
#: 15.6 ms: with the LAN preset a 10,000-member cluster puts about a thousand events in each
#: (a heap that fits the caches), a 100-member one about ten (the calendar costs little).
BUCKET = 1.0 / 64
_PER_SECOND = 1.0 / BUCKET
#: Times at or past this (an unbounded pause's end, ``math.inf``) share one last bucket; the
#: simulator never runs that far (its clock ends at 2**40 s).
_FAR = 2.0**50
_FAR_BUCKET = _FAR * _PER_SECOND

#: An event: ``(when, seq, kind, payload)``.
Event = tuple[float, int, int, Any]


class EventQueue:
    """Pending events popped in ``(when, seq)`` order, as a heap of them would pop them.

    The simulator's loop pops from :attr:`heap` directly (``heapq.heappop``, no call of
    this class per event) and calls :meth:`advance` when it is empty.
    """

    __slots__ = ("_current", "_keys", "_later", "_seq", "heap")

    def __init__(self) -> None:
        #: The earliest bucket's events (and any pushed at or before it): a ``heapq`` list,
        #: the same list for the queue's life.
        self.heap: list[Event] = []
        #: The bucket number ``heap`` holds; later buckets are in ``_later``.
        self._current = -1.0
        #: Later bucket number -> its events in push order.
        self._later: dict[float, list[Event]] = {}
        #: The numbers of ``_later``'s buckets: a heap.
        self._keys: list[float] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self.heap) + sum(map(len, self._later.values()))

    def push(self, when: float, kind: int, payload: Any) -> None:
        """Add the event ``(when, seq, kind, payload)``, ``seq`` the next sequence number."""
        self._seq += 1
        event = (when, self._seq, kind, payload)
        key = (when * _PER_SECOND) // 1.0 if when < _FAR else _FAR_BUCKET
        if key <= self._current:
            heapq.heappush(self.heap, event)
            return
        bucket = self._later.get(key)
        if bucket is None:
            self._later[key] = [event]
            heapq.heappush(self._keys, key)
        else:
            bucket.append(event)

    def advance(self) -> bool:
        """Fill the empty :attr:`heap` with the next bucket's events; ``False`` when there
        are none (nothing is pending)."""
        if not self._keys:
            return False
        key = heapq.heappop(self._keys)
        heap = self.heap
        heap[:] = self._later.pop(key)
        heapq.heapify(heap)
        self._current = key
        return True

    def first(self) -> float | None:
        """The earliest event's time, or ``None`` when the queue is empty."""
        if not self.heap and not self.advance():
            return None
        when: float = self.heap[0][0]
        return when

    def pop_due(self, until: float) -> Event | None:
        """Remove and return the earliest event if its time is at most ``until``, else
        ``None``."""
        heap = self.heap
        if (heap or self.advance()) and heap[0][0] <= until:
            return heapq.heappop(heap)
        return None
