"""The piggyback queue: infection-style dissemination of encoded updates.

Each update is queued under a key (a member name, or a user broadcast key); newer news under a
key replaces the older one.  Updates are handed out fewest-transmissions first and, among those,
freshest first, as many as fit the space left in a packet, and each is dropped after
``limit`` transmissions.  Updates live in buckets by transmission count so that choosing them
costs no sort.

A bucket holds its updates oldest first; its index in its priority's level is the transmission
count of the updates in it, which they do not hold themselves.  An empty slot is ``None``, not
an empty bucket, so that a take walks past it without reading an object: in a simulation of
thousands of nodes a node's queue is out of the processor's caches, and every object read is a
cache miss.  Under steady news most buckets
fit a packet whole: such a bucket is handed out (its bytes copied as one list) and moves up a
slot as one object, with no work per update; only the bucket where the packet fills up is
walked update by update.  A discarded update stays in its bucket, marked, until a take passes
over it or the marks outnumber the queue.
"""

from __future__ import annotations

#: Longer than any encoded update (the smallest size of an empty queue).
_LONGEST = 1 << 30
#: A packet that is nearly full stops the search after this many updates in a row that do not
#: fit: scanning a long queue for a small enough one costs more than the space is worth.
_GIVE_UP = 32
#: Discarded updates left in buckets are swept out once there are more of them than this and
#: than updates queued.
_SWEEP_AT = 64


class _Entry:
    """One queued update (a plain class, native in the compiled build: see ``Member``)."""

    __slots__ = ("bucket", "data", "key", "live", "size")

    def __init__(self, key: str, data: bytes, bucket: _Bucket) -> None:
        self.key = key
        self.data = data
        #: ``len(data)``, kept to spare the selection loop a call per entry.
        self.size = len(data)
        #: False once discarded (it may still sit in its bucket until swept).
        self.live = True
        #: The bucket it sits in (a discard updates the bucket's counts).
        self.bucket = bucket


class _Bucket:
    """The updates of one priority at one transmission count, oldest first.

    ``data`` lists their bytes in the same order, so that a take handing the whole bucket out
    copies a list instead of reading each entry; ``size`` counts the bytes of the live entries
    and ``dead`` the marked ones.  A bucket taken whole moves up a slot as it is (its entries
    keep pointing at it); entries that join another bucket are pointed at that one.
    """

    __slots__ = ("data", "dead", "entries", "size")

    def __init__(self, entries: list[_Entry]) -> None:
        """A bucket of ``entries``, all live."""
        self.entries = entries
        self.data = [entry.data for entry in entries] if entries else []
        self.size = 0
        self.dead = 0
        for entry in entries:
            entry.bucket = self
            self.size += entry.size

    def extend(self, other: _Bucket) -> None:
        """Append ``other``'s entries after this bucket's own (``other`` is not used again)."""
        for entry in other.entries:
            entry.bucket = self
        self.entries += other.entries
        self.data += other.data
        self.size += other.size
        self.dead += other.dead


def _trim(level: list[_Bucket | None]) -> None:
    """Drop the empty slots at the end of ``level`` (slot 0 stays)."""
    while level[-1] is None and len(level) > 1:
        level.pop()


class BroadcastQueue:
    """Encoded updates awaiting retransmission, bounded to ``capacity`` entries."""

    __slots__ = ("_by_key", "_capacity", "_dead", "_levels", "_smallest", "evicted")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        # priority -> transmits -> bucket (discarded entries marked in it, not removed), or
        # None where no update is; a level ends at the highest count an update holds (at most
        # the retransmission limit), and its slot 0 is kept, empty or not.
        self._levels: tuple[list[_Bucket | None], ...] = ([None], [None])
        self._by_key: dict[str, _Entry] = {}
        #: Discarded entries still in buckets.
        self._dead = 0
        #: No queued update is shorter (the shortest queued since the queue was last empty): a
        #: packet with less room left takes nothing more, so the search stops there.
        self._smallest = _LONGEST
        #: Updates pushed out because the queue was full.
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: str) -> bool:
        return key in self._by_key

    def keys(self) -> list[str]:
        """Queued keys (for tests and introspection)."""
        return list(self._by_key)

    def put(self, key: str, data: bytes, *, user: bool = False) -> None:
        """Queue ``data`` under ``key``, replacing whatever was queued under it."""
        by_key = self._by_key
        old = by_key.get(key)
        if old is not None:
            # discard(key), inline: most news replaces older news still queued.
            del by_key[key]
            old.live = False
            if by_key:
                replaced = old.bucket
                replaced.dead += 1
                replaced.size -= old.size
                self._dead += 1
                if self._dead > len(by_key) and self._dead > _SWEEP_AT:
                    self._sweep()
            else:
                self._emptied()
        if len(by_key) >= self._capacity:
            self._evict_one()
        level = self._levels[1 if user else 0]
        bucket = level[0]
        if bucket is None:
            bucket = level[0] = _Bucket([])
        entry = by_key[key] = _Entry(key, data, bucket)
        bucket.entries.append(entry)
        bucket.data.append(data)
        bucket.size += entry.size
        if entry.size < self._smallest:  # noqa: PLR1730 (min() costs a call per update)
            self._smallest = entry.size

    def discard(self, key: str) -> None:
        """Forget whatever is queued under ``key``."""
        entry = self._by_key.pop(key, None)
        if entry is None:
            return
        entry.live = False
        if not self._by_key:
            self._emptied()
            return
        bucket = entry.bucket
        bucket.dead += 1
        bucket.size -= entry.size
        self._dead += 1
        if self._dead > len(self._by_key) and self._dead > _SWEEP_AT:
            self._sweep()

    def _sweep(self) -> None:
        for level in self._levels:
            for transmits, bucket in enumerate(level):
                if bucket is not None and bucket.dead:
                    bucket.entries = [entry for entry in bucket.entries if entry.live]
                    bucket.data = [entry.data for entry in bucket.entries]
                    bucket.dead = 0
                    if not bucket.entries:
                        level[transmits] = None
            _trim(level)
        self._dead = 0

    def _evict_one(self) -> None:
        # The entry most transmitted and oldest has done the most of its work already.
        for level in reversed(self._levels):
            for transmits in range(len(level) - 1, -1, -1):
                bucket = level[transmits]
                if bucket is None:
                    continue
                for i, entry in enumerate(bucket.entries):
                    if entry.live:
                        del bucket.entries[: i + 1]  # the marks before it go too
                        del bucket.data[: i + 1]
                        bucket.dead -= i
                        bucket.size -= entry.size
                        self._dead -= i
                        if not bucket.entries:
                            level[transmits] = None
                            _trim(level)
                        entry.live = False
                        del self._by_key[entry.key]
                        self.evicted += 1
                        if not self._by_key:
                            self._emptied()
                        return

    def take(self, space: int, limits: tuple[int, int], max_count: int) -> list[bytes]:
        """Updates that fit in ``space`` bytes (at most ``max_count`` of them).

        Each one handed out counts as a transmission; those that reach their limit (membership
        news ``limits[0]``, user broadcasts ``limits[1]``) leave the queue.
        """
        if not self._by_key:
            return []
        # Selection is O(levels + updates taken + misses): buckets are visited fewest
        # transmissions first, each newest first, and the scan stops once the packet is full.
        # The updates taken from a bucket go up one (or out at their limit), newest first,
        # after the entries that stay in the bucket above.
        count = misses = 0
        smallest = self._smallest
        by_key = self._by_key
        out: list[bytes] = []
        for priority, level in enumerate(self._levels):
            if space < smallest or count >= max_count:
                break
            limit = limits[priority]
            # The updates taken from the bucket before, bound for this one.
            moving: _Bucket | None = None
            transmits = 0
            for transmits, bucket in enumerate(level):
                if bucket is None:
                    if moving is not None:
                        level[transmits] = moving
                        moving = None
                    continue
                entries = bucket.entries
                taken: _Bucket
                if not bucket.dead and bucket.size <= space and count + len(entries) <= max_count:
                    # The whole bucket fits (most of them do): handed out newest first, and
                    # moved up as it is, the order reversed in place.
                    data = bucket.data
                    entries.reverse()
                    data.reverse()
                    out += data
                    space -= bucket.size
                    count += len(entries)
                    misses = 0
                    level[transmits] = moving
                    taken = bucket
                else:
                    taken, space, count, misses = self._take_some(
                        bucket, space, count, misses, max_count
                    )
                    out += taken.data
                    if not entries:
                        level[transmits] = moving
                    elif moving is not None:
                        bucket.extend(moving)
                if transmits + 1 < limit:
                    moving = taken if taken.entries else None
                else:
                    moving = None
                    for entry in taken.entries:
                        entry.live = False
                        del by_key[entry.key]
                if space < smallest or count >= max_count or misses >= _GIVE_UP:
                    break
            if moving is not None:
                if transmits + 1 == len(level):
                    level.append(moving)
                else:
                    above = level[transmits + 1]
                    if above is None:
                        level[transmits + 1] = moving
                    else:
                        above.extend(moving)
            if len(level) > 1 and level[-1] is None:
                _trim(level)
        if not by_key:
            self._emptied()
        return out

    def _take_some(
        self, bucket: _Bucket, space: int, count: int, misses: int, max_count: int
    ) -> tuple[_Bucket, int, int, int]:
        """Take what fits from ``bucket``, newest first, entry by entry (the bucket does not fit
        whole, or holds marked entries): the updates taken, as the bucket they move up as,
        and the space, count and misses after them.

        The marked entries scanned are dropped; the skipped stay, in their order.
        """
        smallest = self._smallest
        entries = bucket.entries
        # While every entry scanned is taken, the taken are the tail of the bucket (listed
        # once the scan ends); a marked or skipped one starts a list of them.
        chosen: list[_Entry] | None = None
        skipped: list[_Entry] | None = None
        dropped = 0
        top = len(entries) - 1
        stop = top
        for stop in range(top, -1, -1):
            entry = entries[stop]
            size = entry.size
            if size <= space and entry.live:
                if chosen is not None:
                    chosen.append(entry)
                space -= size
                misses = 0
                count += 1
                if count >= max_count or space < smallest:
                    break
                continue
            if chosen is None:
                chosen = entries[stop + 1 :]
                chosen.reverse()
            if not entry.live:
                dropped += 1
                continue
            if skipped is None:
                skipped = [entry]
            else:
                skipped.append(entry)
            misses += 1
            if misses >= _GIVE_UP:
                break
        if chosen is None:
            chosen = entries[stop:]
            chosen.reverse()
        del entries[stop:]
        del bucket.data[stop:]
        if dropped:
            bucket.dead -= dropped
            self._dead -= dropped
        if skipped is not None:
            skipped.reverse()
            entries += skipped
            bucket.data += [entry.data for entry in skipped]
        taken = _Bucket(chosen)
        bucket.size -= taken.size
        return taken, space, count, misses

    def _emptied(self) -> None:
        # A list keeps the room of its largest size, a level its buckets: an emptied queue
        # gives them back (a node that queued news about every member at its join would hold
        # it for good, and every node a bucket per transmission count).
        self._by_key.clear()
        self._levels = ([None], [None])
        self._dead = 0
        self._smallest = _LONGEST
