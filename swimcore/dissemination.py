"""The piggyback queue: infection-style dissemination of encoded updates.

Each update is queued under a key (a member name, or a user broadcast key); newer news under a
key replaces the older one.  Updates are handed out fewest-transmissions first and, among those,
freshest first, as many as fit the space left in a packet, and each is dropped after
``limit`` transmissions.  Updates live in buckets by transmission count so that choosing them
costs no sort.
"""

from __future__ import annotations

#: Longer than any encoded update (the smallest size of an empty queue).
_LONGEST = 1 << 30
#: A packet that is nearly full stops the search after this many updates in a row that do not
#: fit: scanning a long queue for a small enough one costs more than the space is worth.
_GIVE_UP = 32


class _Entry:
    """One queued update (a plain class, native in the compiled build: see ``Member``)."""

    __slots__ = ("bucket", "data", "key", "priority", "size", "transmits")

    def __init__(self, key: str, data: bytes, priority: int, bucket: dict[str, _Entry]) -> None:
        self.key = key
        self.data = data
        self.transmits = 0
        #: Membership news is served before user broadcasts.
        self.priority = priority
        #: ``len(data)``, kept to spare the selection loop a call per entry.
        self.size = len(data)
        #: The bucket of its priority and transmission count that holds it.
        self.bucket = bucket


class BroadcastQueue:
    """Encoded updates awaiting retransmission, bounded to ``capacity`` entries."""

    __slots__ = ("_by_key", "_capacity", "_levels", "_smallest", "evicted")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        # priority -> transmits -> key -> entry (dicts keep insertion order: oldest first); a
        # level holds a bucket for every count up to the highest one reached, empty or not
        # (at most the retransmission limit).
        self._levels: tuple[list[dict[str, _Entry]], ...] = ([{}], [{}])
        self._by_key: dict[str, _Entry] = {}
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
        self.discard(key)
        if len(self._by_key) >= self._capacity:
            self._evict_one()
        priority = 1 if user else 0
        bucket = self._levels[priority][0]
        entry = bucket[key] = self._by_key[key] = _Entry(key, data, priority, bucket)
        self._smallest = min(self._smallest, entry.size)

    def discard(self, key: str) -> None:
        """Forget whatever is queued under ``key``."""
        entry = self._by_key.pop(key, None)
        if entry is not None:
            bucket = entry.bucket
            del bucket[key]
            if not bucket:
                bucket.clear()  # an emptied dict keeps the room of its largest size otherwise
            if not self._by_key:
                self._emptied()

    def _evict_one(self) -> None:
        # The entry most transmitted and oldest has done the most of its work already.
        for level in reversed(self._levels):
            for bucket in reversed(level):
                if bucket:
                    self.discard(next(iter(bucket)))
                    self.evicted += 1
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
        chosen: list[_Entry] = []
        count = misses = 0
        smallest = self._smallest
        for level in self._levels:
            if space < smallest or count >= max_count:
                break
            for bucket in level:
                if not bucket:
                    continue
                for entry in reversed(bucket.values()):
                    size = entry.size
                    if size <= space:
                        chosen.append(entry)
                        space -= size
                        misses = 0
                        count += 1
                        if count >= max_count or space < smallest:
                            break
                    else:
                        misses += 1
                        if misses >= _GIVE_UP:
                            break
                if space < smallest or count >= max_count or misses >= _GIVE_UP:
                    break
        out = [entry.data for entry in chosen]
        by_key = self._by_key
        for entry in chosen:
            key = entry.key
            bucket = entry.bucket
            del bucket[key]
            if not bucket:
                bucket.clear()
            transmits = entry.transmits + 1
            if transmits >= limits[entry.priority]:
                del by_key[key]
                continue
            entry.transmits = transmits
            level = self._levels[entry.priority]
            if transmits == len(level):
                level.append({})
            following = level[transmits]
            following[key] = entry
            entry.bucket = following
        if not by_key:
            self._emptied()
        return out

    def _emptied(self) -> None:
        # A dict keeps the room of its largest size, a level its buckets: an emptied queue
        # gives them back (a node that queued news about every member at its join would hold
        # it for good, and every node a bucket per transmission count).
        self._by_key.clear()
        self._levels = ([{}], [{}])
        self._smallest = _LONGEST
