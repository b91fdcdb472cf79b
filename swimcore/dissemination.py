"""The piggyback queue: infection-style dissemination of encoded updates.

Each update is queued under a key (a member name, or a user broadcast key); newer news under a
key replaces the older one.  Updates are handed out fewest-transmissions first and, among those,
freshest first, as many as fit the space left in a packet, and each is dropped after
``limit`` transmissions.  Updates live in buckets by transmission count so that choosing them
costs no sort.
"""

from __future__ import annotations

#: No encoded update is shorter than this (a ``left`` update with a one-byte name).
_SMALLEST = 11
#: A packet that is nearly full stops the search after this many updates in a row that do not
#: fit: scanning a long queue for a small enough one costs more than the space is worth.
_GIVE_UP = 32


class _Entry:
    """One queued update (a plain class, native in the compiled build: see ``Member``)."""

    __slots__ = ("data", "key", "priority", "size", "transmits")

    def __init__(self, key: str, data: bytes, transmits: int, priority: int, size: int) -> None:
        self.key = key
        self.data = data
        self.transmits = transmits
        #: Membership news is served before user broadcasts.
        self.priority = priority
        #: ``len(data)``, kept to spare the selection loop a call per entry.
        self.size = size


class BroadcastQueue:
    """Encoded updates awaiting retransmission, bounded to ``capacity`` entries."""

    __slots__ = ("_buckets", "_by_key", "_capacity", "evicted")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        # priority -> transmits -> key -> entry (dicts keep insertion order: oldest first)
        self._buckets: tuple[dict[int, dict[str, _Entry]], ...] = ({}, {})
        self._by_key: dict[str, _Entry] = {}
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
        entry = _Entry(key, data, 0, 1 if user else 0, len(data))
        self._by_key[key] = entry
        self._buckets[entry.priority].setdefault(0, {})[key] = entry

    def discard(self, key: str) -> None:
        """Forget whatever is queued under ``key``."""
        entry = self._by_key.pop(key, None)
        if entry is not None:
            bucket = self._buckets[entry.priority][entry.transmits]
            del bucket[key]
            if not bucket:
                del self._buckets[entry.priority][entry.transmits]
            if not self._by_key:
                self._by_key.clear()

    def _evict_one(self) -> None:
        # The entry most transmitted and oldest has done the most of its work already.
        for level in reversed(self._buckets):
            if level:
                bucket = level[max(level)]
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
        for level in self._buckets:
            if space < _SMALLEST or count >= max_count:
                break
            for transmits in sorted(level):
                for entry in reversed(level[transmits].values()):
                    size = entry.size
                    if size <= space:
                        chosen.append(entry)
                        space -= size
                        misses = 0
                        count += 1
                        if count >= max_count:
                            break
                    else:
                        misses += 1
                        if misses >= _GIVE_UP:
                            break
                if space < _SMALLEST or count >= max_count or misses >= _GIVE_UP:
                    break
        out = [entry.data for entry in chosen]
        by_key = self._by_key
        for entry in chosen:
            priority, key = entry.priority, entry.key
            level = self._buckets[priority]
            transmits = entry.transmits
            bucket = level[transmits]
            del bucket[key]
            if not bucket:
                del level[transmits]
            transmits += 1
            entry.transmits = transmits
            if transmits >= limits[priority]:
                del by_key[key]
            else:
                following = level.get(transmits)
                if following is None:
                    level[transmits] = {key: entry}
                else:
                    following[key] = entry
        if not by_key:
            # A dict keeps the room of its largest size: an emptied queue gives it back (a node
            # that queued news about every member at its join would hold it for good).
            by_key.clear()
        return out
