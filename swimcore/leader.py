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
from collections import Counter
from typing import Protocol

from swimcore.address import Address
from swimcore.members import Member, minted, shared_records
from swimcore.messages import State
from swimcore.roster import RosterTable

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


class _Ranking:
    """The process's shared records (``members.shared_records``) ranked by address, once for
    every table that shares them: entries ``position - rank`` ascending, and the ranks that
    more than one record holds (``tied``: such members are ranked in each table's order)."""

    __slots__ = ("minted", "position", "ranked", "ranks", "records", "tied")

    def __init__(self) -> None:
        self.minted, records = shared_records()
        ranks = [_rank(record.address) for record in records]
        self.records = records
        self.ranks = ranks
        self.position = {record.name: place for place, record in enumerate(records)}
        self.ranked = sorted([place - rank for place, rank in enumerate(ranks)])
        self.tied: set[int] = set()
        if len(set(ranks)) < len(ranks):
            self.tied = {rank for rank, count in Counter(ranks).items() if count > 1}


#: The latest :class:`_Ranking`, made again once a quarter of it (and 64) is stale.  Indexes
#: built from an older one keep it until they are rebuilt.
_RANKING: _Ranking | None = None


def _current_ranking() -> _Ranking:
    global _RANKING  # noqa: PLW0603 (a cache; threads racing to renew it each get a valid one)
    ranking = _RANKING
    if ranking is None or minted() - ranking.minted > len(ranking.records) // 4 + 64:
        ranking = _RANKING = _Ranking()
    return ranking


class LeaderRanks:
    """Alive members by address rank, for the next leader (bounded: at most twice the table's
    size plus a little in entries and names, then rebuilt).  Of members with equal addresses,
    the one ranked first (in table order, then as offered) leads.

    Given the :class:`~swimcore.roster.RosterTable` it serves, the index holds only what that
    table heard news of: the roster's members, which every node started from it shares, are
    ranked once in the roster (:meth:`~swimcore.roster.Roster.ranked`) and read through a
    cursor.  A private heap per node made crashing the leader of a 2,000-member simulation
    cost 250 MiB (every node ranked every member at once); 10,000 members would need 6 GB.

    With ``shares_records`` (the tables after the first in a process, whose records are the
    process's shared ones), the members a table held alive at the address of the process's
    shared record when the index was built are read, through a cursor, from one ranking of
    those records for the whole process (a bit each here), and only the others go in the heap.
    """

    __slots__ = (
        "_covered",
        "_cursor",
        "_first",
        "_heap",
        "_held",
        "_local",
        "_names",
        "_ranking",
        "_shared",
        "_shares_records",
        "_skip",
    )

    def __init__(self, shared: RosterTable | None = None, *, shares_records: bool = False) -> None:
        #: ``None`` until first needed, and after it outgrew its bound.
        self._heap: list[int] | None = None
        #: The name of each slot from ``_first`` on that an entry points at.
        self._names: list[str] = []
        #: Entries built plus entries offered since: the bound's measure.
        self._held = 0
        #: The table over a roster, when there is one; then slot 0 is the local node, slots
        #: 1 to ``len(roster)`` the roster's members in its order, and ``_names`` comes after.
        self._shared = shared
        self._first = 0 if shared is None else len(shared.roster) + 1
        self._local = "" if shared is None else shared.local.name
        #: How far the shared ranking (the roster's or the process's) was read, and the
        #: roster's members it leaves to the heap (those the table held records of its own for
        #: when the index was built).
        self._cursor = 0
        self._skip: set[str] = set()
        #: The process's ranking this index reads (``shares_records``), and a bit per entry of
        #: it: set for the members it stands for here.
        self._shares_records = shares_records and shared is None
        self._ranking: _Ranking | None = None
        self._covered = bytearray()

    def __len__(self) -> int:
        """Entries held, live and stale (the bound's measure)."""
        return self._held

    def offer(self, member: Member, table: _Table) -> None:
        """``member`` is alive (it joined, came back, moved or changed): rank it."""
        heap = self._heap
        if heap is None:
            return  # built from the table when needed, with this member in it
        if self._held > 2 * len(table) + 64:
            self._heap = None  # mostly stale entries: rebuilt when next needed
            self._names = []
            self._skip = set()
            self._ranking = None
            self._covered = bytearray()
            return
        names = self._names
        heapq.heappush(heap, self._first + len(names) - _rank(member.address))
        names.append(member.name)
        self._held += 1

    def best(self, table: _Table) -> Member | None:
        """The alive member with the highest address, the table's own record (``None``: none)."""
        heap = self._heap
        if heap is None:
            heap = self._heap = self._build(table)
        while heap:
            entry = heap[0]
            slot = entry & _SLOT_MASK
            name = self._name(slot)
            member = table.peek(name)
            if (
                member is not None
                and member.state is State.ALIVE
                and _rank(member.address) == slot - entry
            ):
                break
            heapq.heappop(heap)
        shared = self._shared
        if shared is not None:
            # The roster's best entry not yet passed, if it ranks above the heap's.
            ranked, _ = shared.roster.ranked(_rank)
            cursor = self._cursor
            while cursor < len(ranked) and (not heap or ranked[cursor] < heap[0]):
                entry = ranked[cursor]
                slot = entry & _SLOT_MASK
                name = shared.roster.names[slot - 1]
                member = table.peek(name)
                if (
                    name not in self._skip
                    and member is not None
                    and member.state is State.ALIVE
                    and _rank(member.address) == slot - entry
                ):
                    self._cursor = cursor
                    return table.get(name)
                cursor += 1  # passed for good: if it comes back alive, it is offered
            self._cursor = cursor
        elif (ranking := self._ranking) is not None:
            # The process's best entry not yet passed that stands for a member here, if it
            # ranks at least as high as the heap's (at equal ranks it was built, not offered).
            ranked, records, covered = ranking.ranked, ranking.records, self._covered
            floor = (heap[0] & _SLOT_MASK) - heap[0] if heap else None
            cursor = self._cursor
            while cursor < len(ranked):
                entry = ranked[cursor]
                place = entry & _SLOT_MASK
                rank = place - entry
                if floor is not None and rank < floor:
                    break
                if covered[place >> 3] >> (place & 7) & 1:
                    name = records[place].name
                    member = table.peek(name)
                    if (
                        member is not None
                        and member.state is State.ALIVE
                        and _rank(member.address) == rank
                    ):
                        self._cursor = cursor
                        return table.get(name)
                cursor += 1  # passed for good, as above
            self._cursor = cursor
        return table.get(self._name(heap[0] & _SLOT_MASK)) if heap else None

    def _name(self, slot: int) -> str:
        first = self._first
        if slot >= first:
            return self._names[slot - first]
        if slot:
            assert self._shared is not None
            return self._shared.roster.names[slot - 1]
        return self._local

    def _build(self, table: _Table) -> list[int]:
        shared = self._shared
        if shared is not None:
            heap = self._build_over_roster(shared)
        elif self._shares_records:
            heap = self._build_over_process(table)
        else:
            alive = [m for m in table.all() if m.state is State.ALIVE]
            self._names = [m.name for m in alive]
            heap = [slot - _rank(m.address) for slot, m in enumerate(alive)]
            self._held = len(heap)
        heapq.heapify(heap)
        return heap

    def _build_over_roster(self, shared: RosterTable) -> list[int]:
        # The roster's members the table holds no record of its own for are alive at the
        # roster's addresses, and the roster's ranking has them.  The rest go in the heap.
        _, position = shared.roster.ranked(_rank)
        first = self._first
        local = shared.local
        own = shared.own
        names: list[str] = []
        heap = []
        heard = 0
        for name, member in own.items():
            place = position.get(name)
            if place is not None:
                heard += 1
            if member is None or member.state is not State.ALIVE:
                continue
            if member is local:
                slot = 0
            elif place is not None:
                slot = place + 1
            else:
                slot = first + len(names)
                names.append(name)
            heap.append(slot - _rank(member.address))
        self._names = names
        self._skip = set(own)
        self._cursor = 0
        self._held = len(position) - heard + len(heap)
        return heap

    def _build_over_process(self, table: _Table) -> list[int]:
        # An alive member at the address of the process's shared record of it is covered by
        # the process's ranking (a bit), unless another member may tie with it: one of the
        # others here (their ranks are known only now) or another record of the ranking.
        # Ties go in the heap, which ranks them in table order as a private heap does.
        ranking = self._ranking = _current_ranking()
        position, ranks, records = ranking.position, ranking.ranks, ranking.records
        alive = [m for m in table.all() if m.state is State.ALIVE]
        places: list[int] = []
        others: set[int] = set()
        for member in alive:
            place = position.get(member.name, -1)
            if place >= 0 and (member is records[place] or _rank(member.address) == ranks[place]):
                places.append(place)
            else:
                places.append(-1)
                others.add(_rank(member.address))
        clash = others | ranking.tied
        covered = self._covered = bytearray((len(records) >> 3) + 1)
        names: list[str] = []
        heap = []
        for member, place in zip(alive, places, strict=True):
            if place >= 0 and ranks[place] not in clash:
                covered[place >> 3] |= 1 << (place & 7)
            else:
                heap.append(len(names) - _rank(member.address))
                names.append(member.name)
        self._names = names
        self._cursor = 0
        self._held = len(alive)
        return heap
