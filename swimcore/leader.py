"""Who holds the join address: the alive member with the highest address, found in O(log n).

The leader changes in O(1) while members join or come back (a higher address takes over at
once); only when the leader itself stops being alive must the next one be found.  Scanning the
table for it cost O(n) per departure, so one datagram declaring the top 60 addresses dead held a
10,000-member node for 0.7 s (100,000 members: 11 s).  :class:`LeaderRanks` is a heap with lazy
deletion instead: an entry whose member is gone, not alive or has moved since is dropped when it
reaches the top.  It is built on first need (a group whose leader never leaves never pays for
it) and rebuilt when stale entries outnumber the members.

An entry is one integer: the address's rank negated (``heapq`` keeps the smallest first) with
the member's slot in a list of names below it.  Integers are not tracked by the garbage
collector, so building the heap of a 50,000-member table allocates no container per member: as
tuples it made 100,000 tracked objects, enough to set off full collections of the whole process
inside the one datagram that needed it.
"""

from __future__ import annotations

import heapq
from typing import Protocol

from swimcore.address import Address
from swimcore.members import Member
from swimcore.messages import State

__all__ = ["LeaderRanks"]

#: Bits below the rank that hold the slot of the member's name (more slots than any table has).
_SLOT_BITS = 32
_SLOT_MASK = (1 << _SLOT_BITS) - 1


class _Table(Protocol):
    def __len__(self) -> int: ...

    def all(self) -> list[Member]: ...

    def peek(self, name: str) -> Member | None: ...

    def get(self, name: str) -> Member | None: ...


def _rank(address: Address) -> int:
    """``address.leader_key()`` as one integer with the same order (IPv6 above IPv4)."""
    family, ip, port = address.leader_key()
    return ((family << 128 | ip) << 16 | port) << _SLOT_BITS


class LeaderRanks:
    """Alive members by address rank, for the next leader (bounded: at most twice the table's
    size plus a little in entries and names, then rebuilt).  Of members with equal addresses,
    the one ranked first (in table order, then as offered) leads."""

    __slots__ = ("_heap", "_names")

    def __init__(self) -> None:
        #: ``None`` until first needed, and after it outgrew its bound.
        self._heap: list[int] | None = None
        #: The name of each slot an entry points at.
        self._names: list[str] = []

    def __len__(self) -> int:
        """Names held, live and stale (the bound's measure)."""
        return len(self._names)

    def offer(self, member: Member, table: _Table) -> None:
        """``member`` is alive (it joined, came back, moved or changed): rank it."""
        heap = self._heap
        if heap is None:
            return  # built from the table when needed, with this member in it
        names = self._names
        if len(names) > 2 * len(table) + 64:
            self._heap = None  # mostly stale entries: rebuilt when next needed
            self._names = []
            return
        heapq.heappush(heap, len(names) - _rank(member.address))
        names.append(member.name)

    def best(self, table: _Table) -> Member | None:
        """The alive member with the highest address, the table's own record (``None``: none)."""
        heap = self._heap
        names = self._names
        if heap is None:
            alive = [m for m in table.all() if m.state is State.ALIVE]
            names = self._names = [m.name for m in alive]
            heap = self._heap = [slot - _rank(m.address) for slot, m in enumerate(alive)]
            heapq.heapify(heap)
        while heap:
            entry = heap[0]
            slot = entry & _SLOT_MASK
            name = names[slot]
            member = table.peek(name)
            if (
                member is not None
                and member.state is State.ALIVE
                and _rank(member.address) == slot - entry
            ):
                return table.get(name)
            heapq.heappop(heap)
        return None
