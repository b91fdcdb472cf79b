"""The next leader's index: against a scan of a model table, under any sequence of changes."""

from __future__ import annotations

import gc
import random
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import given
from hypothesis import strategies as st

from swimcore import Address, leader, members
from swimcore.leader import LeaderRanks
from swimcore.members import Member, SharingTable
from swimcore.messages import State
from swimcore.roster import Roster, RosterTable

ADDRESSES = [
    Address("10.0.0.1", 1),
    Address("10.0.0.1", 2),
    Address("10.0.1.0", 1),
    Address("9.255.255.255", 65535),
    Address("::1", 1),
    Address("fe80::1", 7946),
    Address("255.255.255.255", 65535),
]
STATES = [State.ALIVE, State.SUSPECT, State.DEAD, State.LEFT]


class Table:
    """The part of a member table the index reads; ``get`` hands out the record itself."""

    def __init__(self) -> None:
        self.members: dict[str, Member] = {}

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members.values())

    def all(self) -> list[Member]:
        return list(self.members.values())

    def peek(self, name: str) -> Member | None:
        return self.members.get(name)

    def get(self, name: str) -> Member | None:
        return self.members.get(name)


def _best_rank(table: Table) -> tuple[int, int, int] | None:
    ranks = [m.address.leader_key() for m in table if m.state is State.ALIVE]
    return max(ranks, default=None)


change = st.tuples(
    st.sampled_from(["set", "remove", "best"]),
    st.integers(0, 11),
    st.sampled_from(ADDRESSES),
    st.sampled_from(STATES),
)


@given(st.lists(change, max_size=120))
def test_best_is_an_alive_member_of_the_highest_address(changes: list[tuple]) -> None:  # type: ignore[type-arg]
    table = Table()
    ranks = LeaderRanks()
    for op, index, address, state in changes:
        name = f"m{index}"
        if op == "set":  # joins, moves, changes state: a new record, as a node's table makes
            member = Member(name, address, 0, state, b"")
            table.members[name] = member
            if state is State.ALIVE:
                ranks.offer(member, table)
        elif op == "remove":
            table.members.pop(name, None)
        best = ranks.best(table) if op == "best" or index % 3 == 0 else None
        if best is not None or op == "best":
            expected = _best_rank(table)
            if expected is None:
                assert best is None
            else:
                assert best is not None and best.state is State.ALIVE
                assert table.peek(best.name) is best
                assert best.address.leader_key() == expected
        assert len(ranks) <= 2 * len(table) + 64 + 1  # rebuilt before stale entries run away


def test_equal_addresses_lead_in_table_order() -> None:
    table = Table()
    for name in ("b", "a", "c"):
        table.members[name] = Member(name, Address("10.0.0.9", 7946), 0, State.ALIVE, b"")
    table.members["low"] = Member("low", Address("10.0.0.8", 7946), 0, State.ALIVE, b"")
    ranks = LeaderRanks()
    assert [_leader_then_kill(ranks, table) for _ in range(5)] == ["b", "a", "c", "low", None]


def _leader_then_kill(ranks: LeaderRanks, table: Table) -> str | None:
    best = ranks.best(table)
    if best is None:
        return None
    best.state = State.DEAD
    return best.name


def test_stale_entries_are_bounded_while_members_come_and_go() -> None:
    """A member that dies and comes back 10,000 times leaves no trail of names or entries."""
    table = Table()
    table.members["top"] = Member("top", Address("10.0.0.2", 1), 0, State.ALIVE, b"")
    table.members["next"] = Member("next", Address("10.0.0.1", 1), 0, State.ALIVE, b"")
    ranks = LeaderRanks()
    for incarnation in range(10_000):
        best = ranks.best(table)
        assert best is not None and best.name == "top"
        back = Member("top", Address("10.0.0.2", 1), incarnation, State.ALIVE, b"")
        table.members["top"] = back
        ranks.offer(back, table)
    assert len(ranks) <= 2 * len(table) + 64 + 1


def test_building_for_a_large_table_allocates_no_object_per_member() -> None:
    """The heap's entries are integers, which the collector does not track: building it for
    50,000 members sets off no young collection to speak of (as tuples: about 140)."""
    table = Table()
    for i in range(50_000):
        address = Address(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 7946)
        table.members[f"m{i}"] = Member(f"m{i}", address, 0, State.ALIVE, b"")
    ranks = LeaderRanks()
    collections = gc.get_stats()[0]["collections"]
    best = ranks.best(table)
    assert best is not None and best.name == "m49999"
    assert gc.get_stats()[0]["collections"] - collections <= 2


#: Few addresses among many members: equal addresses, and so ties, are common.
TIED = [Address("10.0.0.1", 1), Address("10.0.0.2", 1), Address("::1", 1)]


def _roster_table(size: int, local_at: int) -> RosterTable:
    """A table over a roster of ``size`` members; the local node is the member at ``local_at``
    or, past the end, a member outside the roster."""
    roster = Roster((f"r{i}", TIED[i % len(TIED)]) for i in range(size))
    name = f"r{local_at}" if local_at < size else "me"
    local = Member(name, TIED[local_at % len(TIED)], 0, State.ALIVE, b"")
    return RosterTable(local, random.Random(1), roster)


roster_change = st.tuples(
    st.sampled_from(["state", "state", "move", "add", "remove", "best"]),
    st.integers(0, 9),
    st.sampled_from(TIED),
    st.sampled_from(STATES),
)


@given(st.integers(0, 7), st.lists(roster_change, max_size=150))
def test_over_a_roster_the_shared_ranking_picks_as_a_private_heap_does(
    local_at: int,
    changes: list[tuple],  # type: ignore[type-arg]
) -> None:
    """The index over a roster table names the same leader as the private heap built from the
    whole table, ties between equal addresses included, under any changes a node makes."""
    table = _roster_table(7, local_at)
    shared, private = LeaderRanks(table), LeaderRanks()
    for op, index, address, state in changes:
        name = f"r{index}" if index < 7 else f"x{index}"
        member = table.get(name)
        if member is table.local:
            continue
        offer = None
        if op == "state" and member is not None:
            table.set_state(member, state, 0.0)
            offer = member
        elif op == "move" and member is not None:
            member.address = address
            offer = member
        elif op == "add" and member is None:
            offer = Member(name, address, 1, state, b"")
            table.add(offer)
        elif op == "remove" and member is not None:
            table.remove(name)
        if offer is not None and offer.state is State.ALIVE:
            shared.offer(offer, table)
            private.offer(offer, table)
        if op == "best" or index % 3 == 0:
            expected = private.best(table)
            assert shared.best(table) is expected
            assert expected is None or table.peek(expected.name) is expected
        assert len(shared) == len(private)


def test_over_a_roster_each_node_holds_only_what_it_heard() -> None:
    """Fifty nodes over a 5,000-member roster lose the leader: the ranking is the roster's,
    built once, and each node's index holds a few entries (a heap of its own: 5,000 each)."""
    roster = Roster((f"m{i}", Address(f"10.0.{i // 256}.{i % 256}", 7946)) for i in range(5000))
    tables = [
        RosterTable(
            Member(f"m{i}", roster.records[f"m{i}"].address, 0, State.ALIVE, b""),
            random.Random(i),
            roster,
        )
        for i in range(50)
    ]
    indexes = [LeaderRanks(table) for table in tables]
    tracemalloc.start()
    try:
        for table, ranks in zip(tables, indexes, strict=True):
            top = table.get("m4999")
            assert top is not None
            table.set_state(top, State.DEAD, 0.0)
            if table is tables[1]:
                before = tracemalloc.get_traced_memory()[0]
            best = ranks.best(table)
            assert best is not None and best.name == "m4998"
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 49 * 2048, grown


def test_over_a_roster_a_member_back_from_the_dead_ranks_as_offered() -> None:
    """Ties go as the private heap sends them: a member dead when the index was built and
    back since ranks after one that stayed alive at the same address, whatever the roster's
    order (the roster's ranking must not count it from its old place)."""
    table = _roster_table(7, 9)  # r2, r5 at ::1 (the top); r1, r4 at 10.0.0.2; "me" below
    ranks = LeaderRanks(table)
    r1 = table.get("r1")
    assert r1 is not None
    table.set_state(r1, State.DEAD, 0.0)
    assert ranks.best(table) is table.peek("r2")
    table.set_state(r1, State.ALIVE, 0.0)
    ranks.offer(r1, table)
    for name in ("r2", "r5"):
        top = table.get(name)
        assert top is not None
        table.set_state(top, State.DEAD, 0.0)
    assert ranks.best(table) is table.peek("r4")
    r4 = table.get("r4")
    assert r4 is not None
    table.set_state(r4, State.DEAD, 0.0)
    assert ranks.best(table) is r1


def _kill_leader(ranks: LeaderRanks, table: SharingTable) -> str | None:
    """As ``_leader_then_kill``, through the table."""
    best = ranks.best(table)
    if best is None:
        return None
    table.set_state(best, State.DEAD, 0.0)
    return best.name


@contextmanager
def _own_process() -> Iterator[None]:
    """The process's shared records and their ranking start empty, and come back after."""
    saved = members._RECORDS, members._MINTED, leader._RANKING
    members._RECORDS, members._MINTED, leader._RANKING = {}, 0, None
    try:
        yield
    finally:
        members._RECORDS, members._MINTED, leader._RANKING = saved


sharing_change = st.tuples(
    st.integers(0, 2),
    st.sampled_from(
        ["learn", "learn", "state", "state", "move", "renew", "remove", "rebuild", "best"]
    ),
    st.integers(0, 8),
    st.sampled_from(TIED),
    st.sampled_from(STATES),
    st.booleans(),
)


@given(st.lists(sharing_change, max_size=150))
def test_tables_sharing_records_pick_as_a_private_heap_does(
    changes: list[tuple],  # type: ignore[type-arg]
) -> None:
    """Three tables of one process learn, change, renew and forget members (shared records,
    copies, moves; few addresses, so ties are common; the process's ranking made again at
    random): each one's index names the very record a private heap over its table names."""
    with _own_process():
        tables = [
            SharingTable(Member(f"n{t}", TIED[t], 0, State.ALIVE, b""), random.Random(t))
            for t in range(3)
        ]
        pairs = [(LeaderRanks(shares_records=True), LeaderRanks()) for _ in tables]
        for which, op, index, address, state, stale in changes:
            table = tables[which]
            # m0..m5, and the other tables' own nodes
            name = f"m{index}" if index < 6 else f"n{index - 6}"
            member = table.peek(name)
            if member is table.local:
                continue
            if stale:
                leader._RANKING = None
            offer = None
            if op == "learn" and member is None:
                offer = table.new_record(name, address, 0, state, b"")
                table.add(offer)
            elif op == "state" and member is not None:
                offer = table.get(name)
                assert offer is not None
                table.set_state(offer, state, 0.0)
            elif op == "move" and member is not None:
                offer = table.get(name)
                assert offer is not None
                offer.address = address
            elif op == "renew" and member is not None:
                table.remove(name)
                offer = table.new_record(name, address, member.incarnation + 1, state, b"")
                table.add(offer)
            elif op == "remove" and member is not None:
                table.remove(name)
            elif op == "rebuild":
                pairs[which] = (LeaderRanks(shares_records=True), LeaderRanks())
            shared, private = pairs[which]
            if offer is not None and offer.state is State.ALIVE:
                shared.offer(offer, table)
                private.offer(offer, table)
            if op in ("best", "rebuild") or index % 3 == 0:  # else built later, with more
                expected = private.best(table)
                assert shared.best(table) is expected
            assert len(shared) == len(private)


def test_tables_sharing_records_rank_equal_addresses_in_table_order() -> None:
    """Members at one address lead in each table's own order (the order it learned them),
    which differs between tables sharing their records."""
    with _own_process():
        top = Address("10.0.0.9", 1)
        local = [Member(n, Address("10.0.0.1", 1), 0, State.ALIVE, b"") for n in ("x", "y")]
        one, two = (SharingTable(m, random.Random(1)) for m in local)
        for table, order in ((one, "abc"), (two, "cab")):
            for name in order:
                table.add(table.new_record(name, top, 0, State.ALIVE, b""))
        for table, order in ((one, "abc"), (two, "cab")):
            ranks = LeaderRanks(shares_records=True)
            assert [_kill_leader(ranks, table) for _ in range(4)] == [*order, table.local.name]


def test_tables_sharing_records_rank_a_member_known_before_one_offered_since() -> None:
    """At equal addresses a member the table held when its index was built (read from the
    process's ranking) leads before one offered since (in the heap), as in a private heap."""
    with _own_process():
        local = Member("me", Address("10.0.0.1", 1), 0, State.ALIVE, b"")
        table = SharingTable(local, random.Random(1))
        for name, address in (("high", Address("10.0.0.9", 2)), ("a", Address("10.0.0.9", 1))):
            table.add(table.new_record(name, address, 0, State.ALIVE, b""))
        ranks = LeaderRanks(shares_records=True)
        assert ranks.best(table) is table.peek("high")
        late = table.new_record("late", Address("10.0.0.9", 1), 0, State.ALIVE, b"")
        table.add(late)
        ranks.offer(late, table)
        assert [_kill_leader(ranks, table) for _ in range(4)] == ["high", "a", "late", "me"]


def test_tables_sharing_records_each_hold_only_what_they_heard() -> None:
    """Fifty members of one process, each knowing the same 5,000 (the process's shared
    records), lose the leader: one ranking for the process, and each index a bit per member
    and a few entries (a private heap: 5,000 entries each, about 270 KiB)."""
    with _own_process():
        size = 5000
        addresses = [Address(f"10.0.{i // 256}.{i % 256}", 7946) for i in range(size)]
        tables = []
        for t in range(50):
            local = Member(f"m{t}", addresses[t], 0, State.ALIVE, b"")
            table = SharingTable(local, random.Random(t))
            for i in range(size):
                if i != t:
                    table.add(table.new_record(f"m{i}", addresses[i], 0, State.ALIVE, b""))
            tables.append(table)
        indexes = [LeaderRanks(shares_records=True) for _ in tables]
        tracemalloc.start()
        try:
            for table, ranks in zip(tables, indexes, strict=True):
                top = table.get(f"m{size - 1}")
                assert top is not None
                table.set_state(top, State.DEAD, 0.0)
                if table is tables[1]:
                    before = tracemalloc.get_traced_memory()[0]
                best = ranks.best(table)
                assert best is not None and best.name == f"m{size - 2}"
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert grown < 49 * 2048, grown
