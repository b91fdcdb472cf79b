"""Who holds the join address: the alive member with the highest address, found in O(log n).

The leader changes in O(1) while members join or come back (a higher address takes over at
once); only when the leader itself stops being alive must the next one be found.  Scanning the
table for it cost O(n) per departure, so one datagram declaring the top 60 addresses dead held a
10,000-member node for 0.7 s (100,000 members: 11 s).  :class:`LeaderRanks` is a max-heap of
``(address rank, name)`` with lazy deletion instead: an entry whose member is gone, not alive or
has moved since is dropped when it reaches the top.  It is built on first need (a group whose
leader never leaves never pays for it) and rebuilt when stale entries outnumber the members.
"""

from __future__ import annotations

import heapq
from typing import Protocol

from swimcore.members import Member
from swimcore.messages import State

__all__ = ["LeaderRanks"]

#: A heap key: the address rank negated (heapq keeps the smallest first), then the name.
_Entry = tuple[tuple[int, int, int], str]


class _Table(Protocol):
    def __len__(self) -> int: ...

    def all(self) -> list[Member]: ...

    def peek(self, name: str) -> Member | None: ...

    def get(self, name: str) -> Member | None: ...


def _entry(member: Member) -> _Entry:
    family, ip, port = member.address.leader_key()
    return (-family, -ip, -port), member.name


class LeaderRanks:
    """Alive members by address rank, for the next leader (bounded: at most twice the table's
    size plus a little, then rebuilt)."""

    __slots__ = ("_heap",)

    def __init__(self) -> None:
        #: ``None`` until first needed, and after it outgrew its bound.
        self._heap: list[_Entry] | None = None

    def offer(self, member: Member, table: _Table) -> None:
        """``member`` is alive (it joined, came back, moved or changed): rank it."""
        heap = self._heap
        if heap is None:
            return  # built from the table when needed, with this member in it
        if len(heap) > 2 * len(table) + 64:
            self._heap = None  # mostly stale entries: rebuilt when next needed
            return
        heapq.heappush(heap, _entry(member))

    def best(self, table: _Table) -> Member | None:
        """The alive member with the highest address, the table's own record (``None``: none)."""
        heap = self._heap
        if heap is None:
            heap = self._heap = [_entry(m) for m in table.all() if m.state is State.ALIVE]
            heapq.heapify(heap)
        while heap:
            entry = heap[0]
            member = table.peek(entry[1])
            if member is not None and member.state is State.ALIVE and _entry(member) == entry:
                return table.get(entry[1])
            heapq.heappop(heap)
        return None
