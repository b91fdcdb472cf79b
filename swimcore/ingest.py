"""Snapshots on their way into the member table: decoded and merged a slice at a time.

A full-state snapshot of tens of thousands of rows costs seconds of CPU to decode and merge;
done in one call it would hold the protocol loop past every probe timeout, and the member
would be suspected by its peers for having received it (issue 13, item 2).  So a node checks
at once what a snapshot is (its size, authentication, checksum, header and row count: a bad
one is refused before it costs anything), queues it here, and then each step decodes at most
one slice of rows of the oldest snapshot and merges them; the driver handles whatever arrived
between two steps (the node schedules the next step a moment later).  Decoding and merging
are the same queue and the same step: there is no second mechanism.

Bounds, each one dropping and counting, never refusing the newest snapshot:

* at most :data:`MAX_PENDING` snapshots, holding together at most ``max_members`` rows still
  to merge and :data:`MAX_PENDING` times the exchange limit in bytes; a new snapshot drops the
  oldest pending ones until it fits (fresher state replaces older state);
* at most one pending snapshot per peer that answered this node: a newer answer from the same
  peer replaces the older one.

A malformed row found late ends that snapshot: rows merged before it stay (each was valid),
the rest are dropped and counted; the table is never left half-changed by one row.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from swimcore.address import Address
from swimcore.errors import DecodeError
from swimcore.messages import MemberState, PushPull, SnapshotRows

#: Snapshots pending at once (each at most the exchange limit in bytes).
MAX_PENDING = 4


class ListRows:
    """Rows decoded already (a small snapshot, or one the application admitted whole)."""

    __slots__ = ("_pos", "_rows", "count", "error", "join", "label", "left")

    def __init__(self, label: str, join: bool, rows: Sequence[MemberState]) -> None:
        self._rows = rows
        self._pos = 0
        self.label = label
        self.join = join
        self.count = self.left = len(rows)
        self.error: DecodeError | None = None

    @property
    def nbytes(self) -> int:
        return 0  # decoded rows: bounded by the row count (``max_members``), not by bytes

    def take(self, n: int) -> list[MemberState]:
        rows = list(self._rows[self._pos : self._pos + n])
        self._pos += len(rows)
        self.left -= len(rows)
        return rows

    def user_state(self) -> bytes:
        return b""  # the application's state of these rows was handed over already

    def read_all(self) -> PushPull:
        return PushPull(self.label, self.join, tuple(self.take(self.left)))


@attrs.define(slots=True)
class Ingest:
    """One snapshot being read and merged."""

    rows: SnapshotRows
    #: The peer whose answer this is (``None`` for a request this node answered).
    source: Address | None
    #: Rows of it that may be merged (the table's ``max_members`` at most).
    cap: int
    #: A join exchange whose outcome waits for the application's verdict on the whole.
    exchange_id: int | None = None
    #: Rows read and held for the application's verdict (``admit_merge``), else ``None``.
    held: list[MemberState] | None = None
    #: Rows read so far that count against ``cap``, and rows merged.
    taken: int = 0
    merged: int = 0

    @property
    def backlog(self) -> int:
        """Rows of it still to merge."""
        return self.cap - self.merged


class IngestQueue:
    """The pending snapshots, oldest first, within the bounds of the module docstring."""

    __slots__ = ("_jobs", "max_bytes", "max_rows")

    def __init__(self, max_rows: int, max_bytes: int) -> None:
        # A list, not a deque: at most MAX_PENDING jobs, and an empty deque holds a block of 64
        # slots (760 bytes) for as long as the node lives.
        self._jobs: list[Ingest] = []
        self.max_rows = max_rows
        self.max_bytes = max_bytes

    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def head(self) -> Ingest:
        return self._jobs[0]

    @property
    def backlog(self) -> int:
        """Rows still to merge, over every pending snapshot."""
        return sum(job.backlog for job in self._jobs)

    def pop(self) -> Ingest:
        """Remove the oldest snapshot (read and merged, or given up)."""
        return self._jobs.pop(0)

    def add(self, job: Ingest) -> list[Ingest]:
        """Queue ``job``; returns the pending snapshots it replaced (for the caller to count)."""
        jobs = self._jobs
        dropped = [other for other in jobs if job.source is not None and other.source == job.source]
        for other in dropped:
            jobs.remove(other)
        rows = sum(other.backlog for other in jobs)
        size = sum(other.rows.nbytes for other in jobs)
        while jobs and (
            len(jobs) >= MAX_PENDING
            or rows + job.backlog > self.max_rows
            or size + job.rows.nbytes > self.max_bytes
        ):
            oldest = jobs.pop(0)
            rows -= oldest.backlog
            size -= oldest.rows.nbytes
            dropped.append(oldest)
        jobs.append(job)
        return dropped
