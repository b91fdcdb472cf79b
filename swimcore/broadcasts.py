"""What a node remembers of user broadcasts: the newest version per key, within fixed bounds.

A broadcast under a key replaces an older one under the same key; "older" is decided by
``(version, origin)``, so two members broadcasting one key at the same version agree everywhere
on which wins.  Versions come from a Lamport clock: a node's next version under any key is one
above every version it has seen, so a key it forgot (below) still goes out above what the group
remembers of it.

Bounds, each dropped and counted, none of them permanent:

* at most ``capacity`` keys are remembered; the key touched longest ago is forgotten to make
  room (never "every new key is dropped for the rest of the node's life");
* a version more than :data:`MAX_VERSION_STEP` above the clock is forged or corrupt: dropped, so
  one datagram cannot pin a key at 2**64-1;
* keys without versions (memberlist user messages, keyed by a digest of their payload) are
  duplicates only within ``window`` seconds: the same payload later is news again, so a value
  toggled on, off, on ends at "on".
"""

from __future__ import annotations

import enum

#: The largest step a received version may take above the local clock.
MAX_VERSION_STEP = 2**32
MAX_VERSION = 2**64 - 1
#: Keys of user messages that carry no version (see the memberlist profile).
UNVERSIONED_PREFIX = "memberlist:"


class Verdict(enum.Enum):
    """What to do with a received broadcast."""

    NEW = "new"
    OLD = "old"
    LEAP = "leap"


class BroadcastVersions:
    """Newest ``(version, origin)`` per key, at most ``capacity`` keys, oldest forgotten first."""

    __slots__ = ("_capacity", "_clock", "_seen", "_window", "forgotten")

    def __init__(self, capacity: int, window: float) -> None:
        self._capacity = capacity
        self._window = window
        self._clock = 0
        #: key -> (version, origin, when); insertion order is touch order (oldest first).
        self._seen: dict[str, tuple[int, str, float]] = {}
        #: Keys forgotten to make room.
        self.forgotten = 0

    def __len__(self) -> int:
        return len(self._seen)

    @property
    def clock(self) -> int:
        return self._clock

    def judge(self, key: str, version: int, origin: str, now: float) -> Verdict:
        """Whether a received broadcast is news (it is recorded when it is)."""
        if version > self._clock + MAX_VERSION_STEP:
            return Verdict.LEAP
        seen = self._seen.get(key)
        if seen is not None:
            expired = key.startswith(UNVERSIONED_PREFIX) and now - seen[2] >= self._window
            if not expired and (version, origin) <= (seen[0], seen[1]):
                return Verdict.OLD
        self._record(key, version, origin, now)
        return Verdict.NEW

    def next_version(self, key: str, origin: str, now: float) -> int:
        """The version of a local broadcast under ``key``: above everything seen."""
        version = min(MAX_VERSION, self._clock + 1)
        self._record(key, version, origin, now)
        return version

    def _record(self, key: str, version: int, origin: str, now: float) -> None:
        self._seen.pop(key, None)
        while len(self._seen) >= self._capacity:
            del self._seen[next(iter(self._seen))]
            self.forgotten += 1
        self._seen[key] = (version, origin, now)
        self._clock = max(self._clock, version)
