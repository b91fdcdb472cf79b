"""Membership shared by many nodes: a :class:`Roster` and the copy-on-access table over it.

A simulator that builds 10,000 nodes each knowing 10,000 members cannot give each node its own
10,000 records and indexes (10^8 objects).  A :class:`Roster` is built once and never changed;
every node started from it (``Node.start(now, roster)``) gets a :class:`RosterTable`, which
uses the roster's records as its base and copies a record into its own storage the first time
:meth:`RosterTable.get` hands it out (copy on access), so a node only pays for the members it
has heard news about.  Everything else is indexed without per-member storage: random choice
samples positions and skips members that are not live, and the probe order is a lazy
Fisher-Yates shuffle that remembers only the positions it has touched: still a fresh random
permutation on every pass, with newcomers inserted at random positions among those ahead.

:class:`RosterTable` has the interface of :class:`~swimcore.members.MemberTable`; records from
:meth:`~RosterTable.all`, :meth:`~RosterTable.random_live` and
:meth:`~RosterTable.next_probe_target` may be shared and must only be read.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping

from swimcore.actions import MemberInfo
from swimcore.address import Address
from swimcore.members import Member, MemberTable
from swimcore.messages import State
from swimcore.wire.native.codec import interned

_LIVE = (State.ALIVE, State.SUSPECT)
#: Tables with at most this many positions pick random members by scanning them all.
_SCAN_LIMIT = 64


class Roster:
    """An initial membership (every member alive at incarnation 0), shareable by many tables.

    Iterating it gives ``(name, address)`` pairs, so it can be passed wherever such pairs are
    expected; ``MemberTable.add_many`` recognises it and shares it instead of copying.
    """

    __slots__ = (
        "_by_address",
        "_infos",
        "_outside",
        "_ranked",
        "_values",
        "best",
        "names",
        "records",
    )

    def __init__(self, members: Iterable[tuple[str, Address]]) -> None:
        records: dict[str, Member] = {}
        best: Member | None = None
        for name, address in members:
            if name in records:
                continue
            member = records[name] = Member(name, interned(address), 0, State.ALIVE, b"")
            if best is None or address.leader_key() > best.address.leader_key():
                best = member
        #: Never mutated once built: tables copy a record before changing it.
        self.records = records
        self.names = tuple(records)
        #: The member with the highest address (the zgroup leader rule), if any.
        self.best = best.name if best is not None else None
        #: The last ``row_values`` computed: the function, its value per record, their sum.
        self._values: tuple[Callable[[Member], int], dict[str, int], int] | None = None
        self._by_address: dict[Address, str] | None = None
        #: Each record's public view, made when first asked for (see :meth:`info`).
        self._infos: dict[str, MemberInfo] = {}
        self._ranked: tuple[Callable[[Address], int], list[int], dict[str, int]] | None = None
        self._outside: tuple[frozenset[str], tuple[str, ...]] | None = None

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[tuple[str, Address]]:
        for member in self.records.values():
            yield member.name, member.address

    def info(self, name: str) -> MemberInfo:
        """The public view of the record of ``name``, made once: the record never changes, so
        every table over the roster hands out the same one (a simulator reading the views of
        10,000 nodes would otherwise make 10^8 of them)."""
        found = self._infos.get(name)
        if found is None:
            found = self._infos[name] = self.records[name].info()
        return found

    def outside(self, names: frozenset[str]) -> tuple[str, ...]:
        """The roster's names not in ``names``: computed once for the last set asked about
        (a test asks the same of every node over this roster in turn)."""
        cached = self._outside
        if cached is None or cached[0] is not names:
            cached = self._outside = (names, tuple(n for n in self.names if n not in names))
        return cached[1]

    def names_at(self, addresses: Iterable[Address]) -> dict[Address, str]:
        """The member at each of ``addresses`` that has one: the index behind it is built once
        for every table over this roster (how bootstrapped nodes find their seeds' names)."""
        if self._by_address is None:
            self._by_address = {m.address: m.name for m in self.records.values()}
        index = self._by_address
        return {address: index[address] for address in addresses if address in index}

    def ranked(self, rank: Callable[[Address], int]) -> tuple[list[int], dict[str, int]]:
        """Every record's ``(position + 1) - rank(address)``, ascending, and each name's
        position: sorted once for every table over this roster (how each node finds its next
        leader without an index of its own: ``swimcore.leader.LeaderRanks``)."""
        if self._ranked is None or self._ranked[0] is not rank:
            entries = [
                slot - rank(member.address)
                for slot, member in enumerate(self.records.values(), start=1)
            ]
            entries.sort()
            self._ranked = (rank, entries, {name: i for i, name in enumerate(self.names)})
        return self._ranked[1], self._ranked[2]

    def row_values(self, value: Callable[[Member], int]) -> tuple[dict[str, int], int]:
        """``value`` of every record by name, and their sum: computed once for every table
        over this roster (the records never change)."""
        if self._values is None or self._values[0] is not value:
            values = {name: value(member) for name, member in self.records.items()}
            self._values = (value, values, sum(values.values()))
        return self._values[1], self._values[2]


class RosterTable(MemberTable):
    """A member table whose initial records are a shared :class:`Roster` (copy on access)."""

    # ``local``, ``_rng``, ``_since`` and ``live_peers`` are MemberTable's slots, reused.
    __slots__ = (
        "_ahead",
        "_base",
        "_base_names",
        "_count",
        "_extras",
        "_extras_pos",
        "_own",
        "_pass_added",
        "_pass_extras",
        "_pass_len",
        "_pass_pos",
        "_roster",
        "_swaps",
        "_visited",
    )

    def __init__(self, local: Member, rng: random.Random, roster: Roster) -> None:
        # MemberTable.__init__ is deliberately not called: none of its storage is used.
        self.local = local
        self._rng = rng
        #: Shared base records (the roster's) and their order.
        self._roster = roster
        self._base: dict[str, Member] = roster.records
        self._base_names: tuple[str, ...] = roster.names
        #: This table's own records; ``None`` marks a base member that was removed.
        self._own: dict[str, Member | None] = {local.name: local}
        #: Names not in the base (learned one by one), for positions and insertion order.
        self._extras: list[str] = []
        self._extras_pos: dict[str, int] = {}
        peers = len(roster.names) - (1 if local.name in roster.records else 0)
        self._count = 1 + peers
        self.live_peers = peers
        # The current probe pass: positions 0.._pass_len-1 over the base names, the extras as
        # they were when the pass began, then members added during the pass.  ``_swaps`` holds
        # the lazy Fisher-Yates swaps; positions below ``_pass_pos`` are done.
        self._pass_extras: list[str] = []
        self._pass_added: list[str] = []
        self._pass_len = 0
        self._pass_pos = 0
        self._swaps: dict[int, int] = {}
        #: Names probed in this pass, and names outside the base still ahead in it.
        self._visited: dict[str, None] = {}
        self._ahead: dict[str, None] = {}
        #: When each member that is not live entered that state (see ``MemberTable.since``).
        self._since: dict[str, float] = {}

    def __len__(self) -> int:
        return self._count

    def __contains__(self, name: str) -> bool:
        own = self._own
        if name in own:
            return own[name] is not None
        return name in self._base

    @property
    def roster(self) -> Roster:
        """The shared roster this table's base records come from."""
        return self._roster

    @property
    def own(self) -> Mapping[str, Member | None]:
        """This table's own records by name (read only!): the local node first, then base
        members as it copied or removed them (``None``) and members outside the base, these in
        table order."""
        return self._own

    def peek(self, name: str) -> Member | None:
        """The record for ``name`` without copying a shared one (read only!)."""
        own = self._own
        if name in own:
            return own[name]
        return self._base.get(name)

    def get(self, name: str) -> Member | None:
        """The record for ``name``, this table's own (safe to change through the table)."""
        own = self._own
        if name in own:
            return own[name]
        shared = self._base.get(name)
        if shared is None:
            return None
        member = own[name] = Member(
            shared.name,
            shared.address,
            shared.incarnation,
            shared.state,
            shared.meta,
        )
        return member

    def info_of(self, member: Member) -> MemberInfo:
        """As :meth:`MemberTable.info_of`; a record still the roster's has the roster's view."""
        if self._base.get(member.name) is member:
            return self._roster.info(member.name)
        return member.info()

    def live_names_are(self, names: frozenset[str]) -> bool:
        """As :meth:`MemberTable.live_names_are`, reading only this table's own records and
        the roster's names outside ``names`` (each of which must be one of them)."""
        if self.live_peers + (self.local.state in _LIVE) != len(names):
            return False
        # With the counts equal, no live record outside ``names`` means every name is live.
        own = self._own
        for name, member in own.items():
            if member is not None and member.state in _LIVE and name not in names:
                return False
        return all(name in own for name in self._roster.outside(names))

    def all(self) -> list[Member]:
        """Every record (read only), the local node first, then in the order they were learned."""
        local = self.local
        own = self._own
        base = self._base
        out = [local]
        for name in self._base_names:
            member = own[name] if name in own else base[name]
            if member is not None and member is not local:
                out.append(member)
        out += [member for name in self._extras_pos if (member := own[name]) is not None]
        return out

    def row_parts(self, value: Callable[[Member], int]) -> tuple[int, list[Member], int]:
        """As :meth:`MemberTable.row_parts`, leaving only this table's own records to add: the
        base's part is the roster's, shared (an anti-entropy digest then costs O(news heard),
        not O(members))."""
        base, total = self._roster.row_values(value)
        own = []
        for name, member in self._own.items():
            if name in base:
                total -= base[name]
            if member is not None:
                own.append(member)
        return self._count, own, total

    def add(self, member: Member, now: float = 0.0) -> None:
        """Insert a new member (not yet in the table), as :meth:`MemberTable.add`."""
        name = member.name
        self._own[name] = member
        if name not in self._base:
            self._extras_pos[name] = len(self._extras)
            self._extras.append(name)
        self._count += 1
        if member.state in _LIVE:
            self._live_add(name)
        else:
            self._since[name] = now

    def set_state(self, member: Member, state: State, now: float) -> None:
        """Move ``member`` (a record from :meth:`get`) to ``state``, keeping the indexes current."""
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
            self._live_add(member.name)
        elif was_live and not is_live:
            self.live_peers -= 1

    def remove(self, name: str) -> None:
        """Forget a member entirely (after its reclaim time)."""
        member = self.peek(name)
        if member is None:
            raise KeyError(name)
        self._since.pop(name, None)
        if name in self._base:
            self._own[name] = None
        else:
            del self._own[name]
            pos = self._extras_pos.pop(name)
            last = self._extras.pop()
            if last != name:
                self._extras[pos] = last
                self._extras_pos[last] = pos
        self._count -= 1
        if member.state in _LIVE:
            self.live_peers -= 1

    def _live_add(self, name: str) -> None:
        self.live_peers += 1
        # A member not ahead in the current pass goes to a random place among those that are
        # (SWIM's round robin); one already ahead is not queued twice.
        if name in self._ahead or (name in self._base and name not in self._visited):
            return
        self._ahead[name] = None
        self._pass_added.append(name)
        self._pass_len += 1

    def _at(self, position: int) -> str:
        """The name at a position of the current pass (before shuffling)."""
        base = self._base_names
        if position < len(base):
            return base[position]
        position -= len(base)
        extras = self._pass_extras
        if position < len(extras):
            return extras[position]
        return self._pass_added[position - len(extras)]

    def _eligible(self, name: str, alive_only: bool) -> Member | None:
        if name == self.local.name:
            return None
        member = self.peek(name)
        if member is None or member.state not in _LIVE:
            return None
        if alive_only and member.state is not State.ALIVE:
            return None
        return member

    def random_live(
        self, count: int, exclude: tuple[str, ...] = (), *, alive_only: bool = False
    ) -> list[Member]:
        """Up to ``count`` distinct random live peers (read only), none of them in ``exclude``.

        With ``alive_only``, suspects are skipped too (they make poor relays).
        """
        if count <= 0 or not self.live_peers:
            return []
        base = self._base_names
        extras = self._extras
        positions = len(base) + len(extras)
        picked: dict[str, Member] = {}
        if positions > _SCAN_LIMIT:
            # Sample positions and skip the unfit: uniform over the fit members.
            rng = self._rng
            for _ in range(4 * (count + len(exclude)) + 16):
                position = rng.randrange(positions)
                name = base[position] if position < len(base) else extras[position - len(base)]
                if name in picked or name in exclude:
                    continue
                member = self._eligible(name, alive_only)
                if member is not None:
                    picked[name] = member
                    if len(picked) == count:
                        return list(picked.values())
        # Few positions, or few fit members among them: choose among all that fit.
        fit = [
            member
            for name in (*base, *extras)
            if name not in picked
            and name not in exclude
            and (member := self._eligible(name, alive_only)) is not None
        ]
        more = self._rng.sample(fit, min(len(fit), count - len(picked)))
        return [*picked.values(), *more]

    def next_probe_target(self) -> Member | None:
        """The next live peer (read only) in round-robin order, a new permutation each pass."""
        rng = self._rng
        for _ in range(2):
            swaps = self._swaps
            while self._pass_pos < self._pass_len:
                i = self._pass_pos
                j = rng.randrange(i, self._pass_len)
                value = swaps.get(j, j)
                if j != i:
                    swaps[j] = swaps.get(i, i)
                swaps.pop(i, None)
                self._pass_pos = i + 1
                name = self._at(value)
                self._ahead.pop(name, None)
                self._visited[name] = None
                member = self._eligible(name, alive_only=False)
                if member is not None:
                    return member
            # End of a pass: the next one covers every member known now.
            self._pass_extras = list(self._extras)
            self._pass_added = []
            self._pass_len = len(self._base_names) + len(self._pass_extras)
            self._pass_pos = 0
            self._swaps = {}
            self._visited = {}
            self._ahead = dict.fromkeys(self._pass_extras)
            if not self.live_peers:
                return None
        return None
