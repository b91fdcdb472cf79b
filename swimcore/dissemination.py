"""The piggyback queue: infection-style dissemination of encoded updates.

Each update is queued under a key (a member name, or a user broadcast key); newer news under a
key replaces the older one.  Updates are handed out fewest-transmissions first and, among those,
freshest first, as many as fit the space left in a packet, and each is dropped after
``limit`` transmissions.  Updates live in buckets by transmission count so that choosing them
costs no sort.

A bucket is a list, oldest first: its index in its priority's level is the transmission count
of the updates in it, which they do not hold themselves, so that the updates a packet takes
move up a bucket as slices (``del``, ``extend``) rather than one by one.  A discarded update
stays in its bucket, marked, until a take passes over it or the marks outnumber the queue.
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

    __slots__ = ("data", "key", "live", "priority", "size")

    def __init__(self, key: str, data: bytes, priority: int) -> None:
        self.key = key
        self.data = data
        #: Membership news is served before user broadcasts.
        self.priority = priority
        #: ``len(data)``, kept to spare the selection loop a call per entry.
        self.size = len(data)
        #: False once discarded (it may still sit in its bucket until swept).
        self.live = True


class BroadcastQueue:
    """Encoded updates awaiting retransmission, bounded to ``capacity`` entries."""

    __slots__ = ("_by_key", "_capacity", "_dead", "_levels", "_smallest", "evicted")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        # priority -> transmits -> entries, oldest first (discarded ones marked, not removed);
        # a level holds a bucket for every count up to the highest one reached, empty or not
        # (at most the retransmission limit).
        self._levels: tuple[list[list[_Entry]], ...] = ([[]], [[]])
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
        if key in by_key:
            self.discard(key)
        if len(by_key) >= self._capacity:
            self._evict_one()
        priority = 1 if user else 0
        entry = by_key[key] = _Entry(key, data, priority)
        self._levels[priority][0].append(entry)
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
        self._dead += 1
        if self._dead > _SWEEP_AT and self._dead > len(self._by_key):
            self._sweep()

    def _sweep(self) -> None:
        for level in self._levels:
            for bucket in level:
                bucket[:] = [entry for entry in bucket if entry.live]
        self._dead = 0

    def _evict_one(self) -> None:
        # The entry most transmitted and oldest has done the most of its work already.
        for level in reversed(self._levels):
            for bucket in reversed(level):
                for i, entry in enumerate(bucket):
                    if entry.live:
                        del bucket[: i + 1]  # the marks before it go too
                        self._dead -= i
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
        # Every entry scanned leaves its bucket: the chosen go up one (or out at their limit)
        # and land after the entries that stay in the bucket above, the skipped stay in their
        # order, the marked are dropped.
        count = misses = 0
        smallest = self._smallest
        by_key = self._by_key
        taken: list[list[_Entry]] = []
        for priority, level in enumerate(self._levels):
            if space < smallest or count >= max_count:
                break
            limit = limits[priority]
            # The updates chosen from the bucket before, bound for this one.
            moving: list[_Entry] | None = None
            transmits = 0
            for transmits, bucket in enumerate(level):
                if not bucket:
                    if moving is not None:
                        level[transmits] = moving
                        moving = None
                    continue
                # While every entry scanned is chosen, the chosen are the tail of the bucket
                # (listed once the scan ends); a marked or skipped one starts a list of them.
                chosen: list[_Entry] | None = None
                skipped: list[_Entry] | None = None
                top = len(bucket) - 1
                stop = top
                for stop in range(top, -1, -1):
                    entry = bucket[stop]
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
                        chosen = bucket[stop + 1 :]
                        chosen.reverse()
                    if not entry.live:
                        self._dead -= 1
                        continue
                    if skipped is None:
                        skipped = [entry]
                    else:
                        skipped.append(entry)
                    misses += 1
                    if misses >= _GIVE_UP:
                        break
                if chosen is None:
                    chosen = bucket[stop:]
                    chosen.reverse()
                del bucket[stop:]
                if skipped is not None:
                    skipped.reverse()
                    bucket.extend(skipped)
                if moving is not None:
                    bucket.extend(moving)
                    moving = None
                if chosen:
                    taken.append(chosen)
                    if transmits + 1 >= limit:
                        for entry in chosen:
                            entry.live = False
                            del by_key[entry.key]
                    else:
                        moving = chosen
                if space < smallest or count >= max_count or misses >= _GIVE_UP:
                    break
            if moving is not None:
                if transmits + 1 == len(level):
                    level.append(moving)
                else:
                    level[transmits + 1] += moving
        out = [entry.data for chosen in taken for entry in chosen]
        if not by_key:
            self._emptied()
        return out

    def _emptied(self) -> None:
        # A list keeps the room of its largest size, a level its buckets: an emptied queue
        # gives them back (a node that queued news about every member at its join would hold
        # it for good, and every node a bucket per transmission count).
        self._by_key.clear()
        self._levels = ([[]], [[]])
        self._dead = 0
        self._smallest = _LONGEST
