"""The member table: every member this node knows, and the indexes the protocol needs.

Besides the records themselves the table keeps, incrementally, the list of live peers (alive or
suspect, the local node excluded) for O(1) random choice, and the round-robin probe order that is
reshuffled on every pass with newcomers inserted at random positions.

Two kinds, the same behaviour (the same choices from the same random generator): a
:class:`MemberTable` holds a record of its own for every member, its indexes inside; a
:class:`SharingTable`, which every node after the first in a process gets (:func:`new_table`),
holds the records it learned from the process's shared ones (one per name and news, the same
object in every member's table that heard the same news), copies a record only to change it,
and keeps no index per record: while it is small it looks a member up in its lists when that
member dies, leaves, comes back or is forgotten, and from ``INDEXED_AT`` live peers on it keeps
the indexes in a dictionary by name.  Hundreds of members in one process each hold a row for
every other: shared, the row is a dictionary entry and two list slots, with no record of its own.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import ClassVar

from swimcore.actions import MemberInfo
from swimcore.address import Address
from swimcore.messages import State

_LIVE = (State.ALIVE, State.SUSPECT)

#: Table indexes (``Member.place``), one int object each for every table in the process: a
#: record keeps its place, and Python makes a new 32-byte object for every int above 256,
#: which in a process of n members holding n records each is most of n^2 objects.  Grown as
#: tables grow, to at most ``_SHARED_PLACES``; places beyond are plain ints.  Replaced whole,
#: never changed in place: tables on other threads see one consistent list or the other.
_PLACES: list[int] = list(range(257))
_SHARED_PLACES = 1 << 17


def _shared(place: int) -> int:
    """``place``, as the shared int object where there is one (see ``_PLACES``)."""
    global _PLACES  # noqa: PLW0603 (replaced whole: see above)
    places = _PLACES
    if place < len(places):
        return places[place]
    if place >= _SHARED_PLACES:
        return place
    grown = min(2 * place + 1, _SHARED_PLACES)
    places = _PLACES = [*places, *range(len(places), grown)]
    return places[place]


def _place(live_pos: int, ahead: int) -> int:
    """The packed ``Member.place`` of a live-list position (-1: none) and the ahead flag."""
    return _shared(2 * live_pos + 2 + ahead)


class Member:
    """One member's record (mutable; handed out only as :class:`MemberInfo`).

    Records compare by identity.  A node holds one record per peer, and a process with hundreds
    of members holds hundreds of thousands, so a record holds only what every member needs:
    the five fields of its news and one int, ``place``, which packs the table's two indexes
    (its position in the table's list of live peers and whether it is still ahead in the
    current probe pass; read them as :attr:`live_pos` and :attr:`ahead`).  When a member
    entered a dead or left state is kept by its table (:meth:`MemberTable.since`), not here:
    only those few need it.  A plain class rather than attrs: the compiled build makes it a
    native class, whose fields compiled code reads and writes directly.

    A record shared by the tables of a process (:class:`SharingTable`) holds ``place`` -1 and
    is never changed: a table copies it to change it.
    """

    __slots__ = ("address", "incarnation", "meta", "name", "place", "state")

    def __init__(
        self, name: str, address: Address, incarnation: int, state: State, meta: bytes
    ) -> None:
        self.name = name
        self.address = address
        self.incarnation = incarnation
        self.state = state
        self.meta = meta
        #: ``2 * (live_pos + 1) + ahead``, written only by the table holding the record (-1: a
        #: record shared by the tables of a process, which none writes).
        self.place = 0

    @property
    def live_pos(self) -> int:
        """Position in the table's list of live peers; -1 when not live (or not in a table)."""
        place = self.place
        return (place >> 1) - 1 if place >= 0 else -1

    @property
    def ahead(self) -> bool:
        """Still ahead in the table's current probe pass (a shared record: never marked)."""
        return self.place > 0 and bool(self.place & 1)

    def __repr__(self) -> str:
        return (
            f"Member(name={self.name!r}, address={self.address!r}, "
            f"incarnation={self.incarnation!r}, state={self.state!r}, meta={self.meta!r}, "
            f"live_pos={self.live_pos!r}, ahead={self.ahead!r})"
        )

    def info(self) -> MemberInfo:
        return MemberInfo(self.name, self.address, self.incarnation, self.state, self.meta)


#: ``Member.place`` of a record shared by the tables of a process (see :func:`_shared_record`):
#: no table changes it, nor any other field of it.
_SHARED = -1
#: The latest shared record made for each name, at most ``_SHARED_NAMES`` names (then emptied:
#: records already shared stay so; only memory, never a choice, depends on it).
_RECORDS: dict[str, Member] = {}
_SHARED_NAMES = 1 << 16
#: Shared records made so far in this process: how stale a copy of ``_RECORDS`` is.
_MINTED = 0
#: Tables made in this process: the first is a :class:`MemberTable`, the others share records.
_TABLES = 0


def _shared_record(
    name: str, address: Address, incarnation: int, state: State, meta: bytes
) -> Member:
    """A record of this news that tables in this process may share (and must not change)."""
    record = _RECORDS.get(name)
    if (
        record is not None
        and record.incarnation == incarnation
        and record.state is state
        and (
            record.address is address
            # equal addresses, and the same IP object value (an IPv6 scope id too)
            or (record.address == address and record.address.ip == address.ip)
        )
        and (record.meta is meta or record.meta == meta)
    ):
        return record
    global _MINTED  # noqa: PLW0603 (a count; a race between threads only ages a copy sooner)
    record = Member(name, address, incarnation, state, meta)
    record.place = _SHARED
    if len(_RECORDS) >= _SHARED_NAMES:
        _RECORDS.clear()
    _RECORDS[name] = record
    _MINTED += 1
    return record


def minted() -> int:
    """How many shared records this process has made (see :func:`shared_records`)."""
    return _MINTED


def shared_records() -> tuple[int, list[Member]]:
    """The latest shared record of each name (read only) and :func:`minted` when copied:
    what the tables of this process that share records hold alike."""
    count = _MINTED
    return count, list(_RECORDS.values())  # one C-level copy: no thread can change it midway


def new_table(local: Member, rng: random.Random) -> MemberTable:
    """A table for a new node: a :class:`MemberTable` for the first in this process, a
    :class:`SharingTable` for every other (a process running one member pays nothing for
    sharing; one running many shares what their tables hold alike)."""
    global _TABLES  # noqa: PLW0603 (a count; a race between threads only picks the kind)
    _TABLES += 1
    if _TABLES == 1:
        return MemberTable(local, rng)
    return SharingTable(local, rng)


class MemberTable:
    """Members by name, with the live-peer index and the probe order."""

    #: Whether the records are the process's shared ones (:class:`SharingTable`), ranked
    #: once for all such tables by the next-leader index (``swimcore.leader``).
    shares_records: ClassVar[bool] = False

    __slots__ = (
        "_gone_ahead",
        "_live",
        "_members",
        "_order",
        "_order_pos",
        "_rng",
        "_since",
        "live_peers",
        "local",
    )

    def __init__(self, local: Member, rng: random.Random) -> None:
        self.local = local
        self._rng = rng
        self._members: dict[str, Member] = {local.name: local}
        #: Live peers' names; each record's ``live_pos`` is its index here.
        self._live: list[str] = []
        #: Alive or suspect members other than the local node: ``len(_live)``, kept as a count
        #: (read for every datagram sent, where a property would cost a call).
        self.live_peers = 0
        self._order: list[str] = []
        self._order_pos = 0
        # A name still ahead in the current pass is queued once however often it flaps: its
        # record's ``ahead`` says so, or, once the record is removed, ``_gone_ahead`` (a new
        # record under that name takes its old place).
        self._gone_ahead: dict[str, None] = {}
        #: When each member that is not live (dead or left) entered that state: what reclaim
        #: and the address rules read; bounded by the table, forgotten with the member.
        self._since: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, name: str) -> bool:
        return name in self._members

    def get(self, name: str) -> Member | None:
        """The record for ``name``, safe to change through the table."""
        return self._members.get(name)

    def new_record(
        self, name: str, address: Address, incarnation: int, state: State, meta: bytes
    ) -> Member:
        """A record of this news to :meth:`add` (taken with :meth:`get` to change it)."""
        return Member(name, address, incarnation, state, meta)

    def current(self, records: list[Member]) -> list[Member]:
        """The records this table holds now for those of ``records`` it held earlier (from
        :meth:`all`), as they stand: here the same objects (records change in place)."""
        return records

    def live_pos(self, name: str) -> int:
        """The position of ``name`` in the list of live peers (-1: not live, or unknown)."""
        member = self._members.get(name)
        return -1 if member is None else member.live_pos

    def ahead(self, name: str) -> bool:
        """Whether ``name`` is still ahead in the current probe pass."""
        member = self._members.get(name)
        return member is not None and member.ahead

    def peek(self, name: str) -> Member | None:
        """The record for ``name``, to read only (subclasses may hand out a shared one)."""
        return self._members.get(name)

    def all(self) -> list[Member]:
        """Every record, the local node first, then in the order they were learned."""
        return list(self._members.values())

    def live_names_are(self, names: frozenset[str]) -> bool:
        """Whether the live records (alive or suspect, the local one included) are named by
        exactly ``names``."""
        if self.live_peers + (self.local.state in _LIVE) != len(names):
            return False
        return all(m.name in names for m in self._members.values() if m.state in _LIVE)

    def since(self, member: Member) -> float:
        """When ``member``, dead or left, entered that state (raises ``KeyError`` for a live
        member: only members that are not live keep the time)."""
        return self._since[member.name]

    def info_of(self, member: Member) -> MemberInfo:
        """The public view of ``member``, one of this table's records."""
        return member.info()

    def row_parts(self, value: Callable[[Member], int]) -> tuple[int, list[Member], int]:
        """What an anti-entropy digest sums ``value`` over: the number of records, the records
        whose ``value`` is still to add (here every one), and the sum of the others' (0).

        ``value`` must depend only on a record's fields.
        """
        return len(self._members), list(self._members.values()), 0

    def add(self, member: Member, now: float = 0.0) -> None:
        """Insert a new member (not yet in the table); ``now``: when a member added dead or
        left entered that state."""
        self._members[member.name] = member
        if member.state in _LIVE:
            self._enter_live(member)
        else:
            self._since[member.name] = now

    def set_state(self, member: Member, state: State, now: float) -> None:
        """Move ``member`` (a record from :meth:`get`) to ``state``, keeping the indexes
        current."""
        assert member.place != _SHARED, "a shared record is changed only through a copy (get)"
        was_live = member.state in _LIVE
        member.state = state
        is_live = state in _LIVE
        if is_live:
            self._since.pop(member.name, None)
        else:
            self._since[member.name] = now
        if member is self.local:
            return
        if is_live and not was_live:
            self._enter_live(member)
        elif was_live and not is_live:
            self._leave_live(member)

    def remove(self, name: str) -> None:
        """Forget a member entirely (after its reclaim time)."""
        member = self._members.pop(name)
        self._since.pop(name, None)
        if member.state in _LIVE:
            self._leave_live(member)
        if member.place & 1:
            self._gone_ahead[name] = None

    def _enter_live(self, member: Member) -> None:
        name = member.name
        ahead = member.place & 1
        member.place = _place(len(self._live), 1)
        self._live.append(name)
        self.live_peers += 1
        if ahead:
            return
        if name in self._gone_ahead:
            del self._gone_ahead[name]  # a removed record was ahead: its place stands
            return
        # New members go to a random place in the current pass, as SWIM's round robin asks.
        pos = self._rng.randint(self._order_pos, len(self._order))
        self._order.insert(pos, name)

    def _leave_live(self, member: Member) -> None:
        place = member.place
        pos = (place >> 1) - 1
        member.place = place & 1  # not live, still ahead or not (0 and 1 are shared ints)
        last = self._live.pop()
        self.live_peers -= 1
        if last != member.name:
            self._live[pos] = last
            moved = self._members[last]
            moved.place = _place(pos, moved.place & 1)

    def random_live(
        self, count: int, exclude: tuple[str, ...] = (), *, alive_only: bool = False
    ) -> list[Member]:
        """Up to ``count`` distinct random live peers, none of them in ``exclude``.

        With ``alive_only``, suspects are skipped too (they make poor relays).
        """
        if count <= 0 or not self._live:
            return []
        want = count + len(exclude)
        if alive_only:
            want *= 3  # oversample: suspects are rare, and a short answer is acceptable
        picked = self._rng.sample(self._live, min(len(self._live), want))
        out = []
        for name in picked:
            member = self._members[name]
            if name in exclude or (alive_only and member.state is not State.ALIVE):
                continue
            out.append(member)
            if len(out) == count:
                break
        return out

    def next_probe_target(self) -> Member | None:
        """The next live peer in round-robin order, reshuffling at the end of each pass."""
        for _ in range(2):
            while self._order_pos < len(self._order):
                name = self._order[self._order_pos]
                self._order_pos += 1
                self._gone_ahead.pop(name, None)
                member = self._members.get(name)
                if member is None:
                    continue
                member.place = _shared(member.place & ~1)  # no longer ahead
                if member.state in _LIVE and member is not self.local:
                    return member
            # End of a pass: rebuild from the live peers (drops the dead and duplicates).
            self._order = list(self._live)
            self._rng.shuffle(self._order)
            self._order_pos = 0
            self._gone_ahead.clear()
            members = self._members
            for name in self._order:
                record = members[name]
                record.place = _shared(record.place | 1)  # ahead
            if not self._order:
                return None
        return None


#: Live peers a :class:`SharingTable` holds before it keeps its indexes in a dictionary: a
#: scan of a list of names costs 20-90 ns a name, so below this a death costs well under a
#: millisecond, and above it one datagram declaring 60 members dead would hold the node for
#: 60 scans (0.3 s at 50,000 members).
INDEXED_AT = 4096


class SharingTable(MemberTable):
    """A :class:`MemberTable` whose records may be shared with the other tables of the process.

    A member learned through :meth:`new_record` gets the process's shared record of that news
    (:func:`_shared_record`): a member of a process of n members then costs the others no
    record each, only their rows: an entry in the table's dictionary and in its two lists
    (live peers, probe order).  :meth:`get` hands out the table's own copy of a shared record,
    made the first time it is asked for, since the caller may change it.  Records from
    :meth:`peek`, :meth:`all`, :meth:`random_live` and :meth:`next_probe_target` may be shared
    and must only be read (as a :class:`~swimcore.roster.RosterTable`'s).

    No record holds this table's indexes (``Member.place``).  While the table is small, a
    member's place in the list of live peers is looked up when it stops being live, and whether
    it is still ahead in the probe pass (in the rest of the probe order) when it comes back or
    is forgotten: a death, a departure, a return or a reclaim, each a scan of a list in C.
    From ``indexed_at`` live peers on, the places are kept in a dictionary by name instead
    (packed as ``Member.place`` is; 20-35 bytes more a row, where a scan would hold the node
    for milliseconds).  Learning a member, probing, choosing and passes cost what they
    cost in a :class:`MemberTable`, less the pass's marking of every member ahead while the
    table is small.  The same operations give the same choices as a :class:`MemberTable`'s
    from the same random generator.
    """

    __slots__ = ("_indexed_at", "_places")

    shares_records: ClassVar[bool] = True

    def __init__(self, local: Member, rng: random.Random, indexed_at: int = INDEXED_AT) -> None:
        super().__init__(local, rng)
        self._indexed_at = indexed_at
        #: Places by name, once the table reached ``indexed_at`` live peers (``None`` before):
        #: what a :class:`MemberTable` keeps in ``Member.place``, absent where that is 0.
        self._places: dict[str, int] | None = None

    def get(self, name: str) -> Member | None:
        """The record for ``name``, this table's own (safe to change through the table)."""
        members = self._members
        record = members.get(name)
        if record is not None and record.place == _SHARED:
            record = members[name] = Member(
                record.name, record.address, record.incarnation, record.state, record.meta
            )
        return record

    def new_record(
        self, name: str, address: Address, incarnation: int, state: State, meta: bytes
    ) -> Member:
        """The process's shared record of this news, to :meth:`add` (read only)."""
        return _shared_record(name, address, incarnation, state, meta)

    def current(self, records: list[Member]) -> list[Member]:
        """As :meth:`MemberTable.current`: a shared record may since have been copied to be
        changed; the copy is the one that stands (one no longer held stands as it was)."""
        members = self._members
        return [
            members.get(record.name, record) if record.place == _SHARED else record
            for record in records
        ]

    def live_pos(self, name: str) -> int:
        """As :meth:`MemberTable.live_pos`."""
        member = self._members.get(name)
        if member is None or member.state not in _LIVE or member is self.local:
            return -1
        return self._live_pos(name)

    def _live_pos(self, name: str) -> int:
        places = self._places
        if places is None:
            return self._live.index(name)
        return (places[name] >> 1) - 1

    def ahead(self, name: str) -> bool:
        """As :meth:`MemberTable.ahead`."""
        return name in self._members and self._in_pass(name)

    def _in_pass(self, name: str) -> bool:
        """Whether ``name`` is in the rest of the current probe pass: held ahead (what a
        :class:`MemberTable`'s record marks), or removed while ahead (``_gone_ahead``)."""
        places = self._places
        if places is not None:
            return bool(places.get(name, 0) & 1) or name in self._gone_ahead
        try:
            self._order.index(name, self._order_pos)
        except ValueError:
            return False
        return True

    def add(self, member: Member, now: float = 0.0) -> None:
        """Insert a new member (not yet in the table), as :meth:`MemberTable.add`."""
        name = member.name
        self._members[name] = member
        if member.state not in _LIVE:
            self._since[name] = now
            return
        # A new record is not ahead; its name is, if a record removed while ahead had it.
        self._join_live(name, name in self._gone_ahead)

    def _insert(self, name: str) -> None:
        # New members go to a random place in the current pass, as SWIM's round robin asks.
        pos = self._rng.randint(self._order_pos, len(self._order))
        self._order.insert(pos, name)

    def _join_live(self, name: str, ahead: bool) -> None:
        """Add ``name`` to the live peers; if it is not ahead in the pass (``ahead``: in the
        rest of the probe order), it goes to a random place there.  Either way it is ahead
        after, and a place it held as a removed record is its own again."""
        self._gone_ahead.pop(name, None)
        live = self._live
        places = self._places
        if places is not None:
            places[name] = _place(len(live), 1)
        live.append(name)
        self.live_peers += 1
        if places is None and len(live) >= self._indexed_at:
            self._index(name)
        if not ahead:
            self._insert(name)

    def _index(self, entering: str) -> None:
        """Keep the places in a dictionary from now on (``entering`` will be ahead)."""
        places = {name: _place(pos, 0) for pos, name in enumerate(self._live)}
        members = self._members
        for name in self._order[self._order_pos :]:
            if name in members:
                places[name] = _shared(places.get(name, 0) | 1)
        places[entering] = _shared(places[entering] | 1)
        self._places = places

    def remove(self, name: str) -> None:
        """Forget a member entirely (after its reclaim time)."""
        member = self._members.pop(name)
        self._since.pop(name, None)
        if member.state in _LIVE:
            self._leave_live(member)
        if name not in self._gone_ahead and self._in_pass(name):
            self._gone_ahead[name] = None
        if self._places is not None:
            self._places.pop(name, None)

    def _enter_live(self, member: Member) -> None:
        # A member coming back (from set_state): it keeps its place if it still has one.
        name = member.name
        self._join_live(name, name in self._gone_ahead or self._in_pass(name))

    def _leave_live(self, member: Member) -> None:
        live = self._live
        name = member.name
        pos = self._live_pos(name)
        last = live.pop()
        self.live_peers -= 1
        if pos < len(live):
            live[pos] = last
        places = self._places
        if places is None:
            return
        ahead = places.pop(name) & 1
        if ahead:
            places[name] = ahead  # not live, still ahead (1 is a shared int)
        if last != name:
            places[last] = _place(pos, places[last] & 1)

    def next_probe_target(self) -> Member | None:
        """As :meth:`MemberTable.next_probe_target` (the record may be shared: read only)."""
        members = self._members
        for _ in range(2):
            order = self._order
            places = self._places
            while self._order_pos < len(order):
                name = order[self._order_pos]
                self._order_pos += 1
                self._gone_ahead.pop(name, None)
                if places is not None and name in places:
                    place = places[name] & ~1  # no longer ahead
                    if place:
                        places[name] = _shared(place)
                    else:
                        del places[name]
                member = members.get(name)
                if member is not None and member.state in _LIVE and member is not self.local:
                    return member
            # End of a pass: rebuild from the live peers (drops the dead and duplicates).
            self._order = list(self._live)
            self._rng.shuffle(self._order)
            self._order_pos = 0
            self._gone_ahead.clear()
            if places is not None:
                for name in self._order:
                    places[name] = _shared(places[name] | 1)  # ahead
            if not self._order:
                return None
        return None
