# mypy: disable-error-code="misc"
# Each method declares ``self: Node`` (the mixin pattern), which mypy reports under "misc"
# because Node is a subclass of this mixin, not a supertype of it; bodies are checked as Node.
"""Exchanges: joins, push-pull anti-entropy (digests first), reconnecting to the dead and the
seeds, refusals, application state, and merging received snapshots a slice at a time (a mixin
of :class:`~swimcore.node.Node`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import attrs

from swimcore import antientropy, ingest
from swimcore import counter_names as cn
from swimcore._compiling import mypyc_attr, trait
from swimcore._node_base import (
    _DIGEST,
    _JOIN,
    _LIVE,
    _MESSAGE,
    _SYNC,
    _VETOED,
    ENCODE_SLICE,
    MAX_PENDING_EXCHANGES,
    MERGE_PAUSE,
    MERGE_SLICE,
    Timer,
    _sealed_look,
    _stale,
)
from swimcore.actions import (
    ExchangeRefused,
    ExchangeRequest,
    JoinFailed,
    MemberInfo,
    MessageFailed,
    Outgoing,
)
from swimcore.address import Address
from swimcore.errors import AuthError, DecodeError, LabelError
from swimcore.members import Member
from swimcore.messages import (
    Alive,
    DirectMessage,
    Left,
    MemberState,
    PushPull,
    SnapshotRows,
    State,
    StreamPing,
    Suspect,
)
from swimcore.timing import SEED_BACKOFF_ROUNDS, push_pull_interval
from swimcore.wire import SnapshotWriter

if TYPE_CHECKING:
    from swimcore.node import Node


@trait
@mypyc_attr(allow_interpreted_subclasses=True)
class Exchanges:
    """The node's exchanges (see the module docstring); its methods run on a :class:`Node`."""

    __slots__ = ()

    _refusal: tuple[str, str] | None

    def _push_pull_interval(self: Node) -> float:
        return push_pull_interval(self.config, self._live_count())

    def _push_pull(self: Node) -> None:
        """Anti-entropy: a full-state exchange with a random live member."""
        if self._leaving:
            return
        peers = self._table.random_live(1)
        if peers and self._digests and self._state_out is None:
            # (With application state the digest of the table says nothing of it: exchange.)
            self._request(peers[0].address, _DIGEST, self._digest(None), "")
        elif peers:
            self._request_exchange(peers[0].address, join=False)
        elif self._seeds:
            self._request_joins()

    def _reconnect(self: Node) -> None:
        """Partition healing: a full-state exchange with a member believed dead, or a seed.

        When a partition made two parts of the group declare each other dead, exchanges with
        remembered dead members (until they are reclaimed) and with the configured seeds are
        how the parts find each other again: each side learns it was declared dead, refutes,
        and the next exchanges carry the refutations across.

        A round tries a dead member with probability dead / live (this node counted live), as
        serf does: the whole group then sends about one attempt per dead member a round, not
        one per live member (a member that really crashed is not tried by thousands), while
        every member of the smaller side of a partition, which sees at least as many dead as
        live, tries in every round.

        A partition longer than ``reclaim_time`` leaves no dead member to try, so the seeds
        are tried too, whatever else the table holds: in every round the leader in this view
        (each part of a partition has one) tries every configured seed that is not a live
        member in its view, and any other member tries such a seed in the first, second,
        fourth, eighth and sixteenth round of its absence, then every ``SEED_BACKOFF_ROUNDS``
        rounds.  A part cut off from a seed reaches it again within one ``reconnect_interval``
        (plus the exchange) after the network heals; a member that alone names a seed (one
        that was down when it joined through another) reaches it at its next try, at most
        ``SEED_BACKOFF_ROUNDS`` rounds after it is up; and a seed gone for good costs the group one
        attempt a round and one per ``SEED_BACKOFF_ROUNDS`` members, not one per member.
        Nothing is sent while no member is believed dead and every seed is a live member.
        """
        if self._leaving:
            return
        dead, live = len(self._dead), self._live_count()
        if dead and (dead >= live or self._rng.random() * live < dead):
            # Each dead member in turn, the one tried longest ago first: every one still
            # reachable is tried within as many rounds as there are (an insider that moved
            # names to addresses where no one answers cannot keep this one away for long).
            oldest = next(iter(self._dead))
            del self._dead[oldest]
            self._dead[oldest] = None
            address = self._address_of(oldest)
            if address is not None:
                self._count(cn.HEAL_EXCHANGES)
                self._request_exchange(address, join=False)
        leader, waits = self._leader is self._table.local, self._seed_waits
        for seed in self._seeds:
            name = self._seed_names.get(seed)
            member = self._table.peek(name) if name is not None else None
            if member is not None and member.address == seed and member.state in _LIVE:
                waits.pop(seed, None)  # back: tried at once if it goes missing again
                continue
            wait, gap = waits.get(seed, (0, 1))
            if wait:
                waits[seed] = (wait - 1, gap)
            else:
                waits[seed] = (gap - 1, min(2 * gap, SEED_BACKOFF_ROUNDS))
            if leader or not wait:
                self._count(cn.HEAL_EXCHANGES)
                self._request_exchange(seed, join=False)

    def _address_of(self: Node, name: str) -> Address | None:
        member = self._table.peek(name)
        return member.address if member is not None else None

    def _request_joins(self: Node) -> None:
        if self._table.live_peers or self._leaving:
            return
        self._join_round.restart()
        for seed in self._seeds:
            self._request_exchange(seed, join=True)
        if self._seeds:
            jitter = (1.0 + 0.5 * self._rng.random()) * self._join_backoff
            self._timers.schedule(
                self._now + self.config.join_retry_interval * jitter, (Timer.JOIN_RETRY, 0, "")
            )

    def _request_exchange(self: Node, to: Address, *, join: bool) -> None:
        # The snapshot is built when the driver reads the request's data, once connected: a
        # reconnect to a member that is really gone then costs no O(members) snapshot.
        self._request(to, _JOIN if join else _SYNC, self._snapshot(join=join), "")

    def _digest(self: Node, asked: antientropy.Digest | None) -> Outgoing:
        """A periodic push-pull's first step, the digest of this table (antientropy), or the
        answer to ``asked``: summed a slice of records per step."""
        label, table = self.config.label, self._table
        return Outgoing(
            _TableSteps(lambda: antientropy.writer(table, label, asked), self._seal, table.current)
        )

    def _digest_reply(self: Node, address: Address, reply: object) -> None:
        """The peer compared digests: nothing to do, or the full exchange."""
        if not isinstance(reply, antientropy.Digest) or reply.kind == antientropy.REQUEST:
            self._count(cn.DROPPED_MALFORMED_EXCHANGE)
        elif reply.kind == antientropy.MATCH:
            self._count(cn.DIGESTS_MATCHED)
        else:
            self._count(cn.DIGESTS_DIFFERED)
            self._request_exchange(address, join=False)

    def _request(self: Node, to: Address, purpose: int, data: bytes | Outgoing, name: str) -> None:
        """Ask for an exchange carrying ``data`` (bytes are sealed here; an :class:`Outgoing`
        seals its own, built when the driver reads it)."""
        if len(self._exchanges) >= MAX_PENDING_EXCHANGES:
            # A driver that never reports back must not make the table grow: the oldest
            # request is given up (its late reply is dropped as unknown).
            oldest = next(iter(self._exchanges))
            address, kind, whom = self._exchanges.pop(oldest)
            self._count(cn.EXCHANGES_GIVEN_UP)
            if kind == _JOIN:
                self._join_failed(oldest, address, "given up")
            elif kind == _MESSAGE:
                self._out.append(MessageFailed(oldest, whom, "given up"))
        self._exchange_seq += 1
        self._exchanges[self._exchange_seq] = (to, purpose, name)
        if purpose == _JOIN:
            self._join_round.add(self._exchange_seq, to)
        self._count(cn.EXCHANGES_REQUESTED)
        payload = self._seal(data) if isinstance(data, bytes) else data
        self._out.append(ExchangeRequest(self._exchange_seq, to, payload))

    def _decode_exchange(
        self: Node, data: bytes
    ) -> PushPull | SnapshotRows | DirectMessage | StreamPing | antientropy.Digest | None:
        """The exchange in ``data``, or ``None`` when it is dropped (counted; ``_refusal`` set
        when the peer should be told why).  A snapshot of at most ``MERGE_SLICE`` rows comes
        decoded (a :class:`PushPull`); a larger one with only its header checked, its rows to
        be decoded a slice at a time (see :mod:`swimcore.ingest`)."""
        self._refusal = None
        if len(data) > self.exchange_limit:
            self._count(cn.DROPPED_EXCHANGE_TOO_LARGE)
            return None
        opened = self._open(data)
        if opened is None:
            self._refusal = ("auth_failed", "it did not open with this member's keys")
            return None
        data = opened
        try:
            snapshot: PushPull | SnapshotRows | DirectMessage | StreamPing | antientropy.Digest
            if self._digests and antientropy.is_digest(data):
                snapshot = antientropy.decode(data)
            else:
                snapshot = self._wire.open_exchange(data)
                if (
                    not isinstance(snapshot, DirectMessage | StreamPing)
                    and snapshot.count <= MERGE_SLICE
                ):
                    snapshot = snapshot.read_all()
        except AuthError as exc:  # the memberlist profile opens streams inside its own layers
            self._count(cn.DROPPED_AUTH_FAILED)
            self._refusal = ("auth_failed", _auth_detail(exc))
            return None
        except LabelError as exc:  # the memberlist profile reads labels inside its layers too
            self._count(cn.DROPPED_FOREIGN_LABEL)
            self._refusal = ("foreign_label", f"the sender's label is {exc.label!r}")
            return None
        except DecodeError:
            self._count(cn.DROPPED_MALFORMED_EXCHANGE)
            if self._keyring is None and self.config.wire == "native" and _sealed_look(data):
                # Most often an encrypted payload sent to a member without a key.
                self._refusal = (
                    "auth_failed",
                    "unreadable: encrypted, but this member has no key?",
                )
            return None
        if snapshot.label != self.config.label:
            self._count(cn.DROPPED_FOREIGN_LABEL)
            self._refusal = ("foreign_label", f"the sender's label is {snapshot.label!r}")
            return None
        if isinstance(snapshot, PushPull) and len(snapshot.members) > self.config.max_members:
            # More rows than the table can hold (a peer configured larger): merge what fits.
            self._count(cn.DROPPED_SNAPSHOT_ROWS, len(snapshot.members) - self.config.max_members)
            snapshot = attrs.evolve(snapshot, members=snapshot.members[: self.config.max_members])
        elif (
            not isinstance(snapshot, PushPull | DirectMessage | StreamPing | antientropy.Digest)
            and snapshot.count > self.config.max_members
        ):
            self._count(cn.DROPPED_SNAPSHOT_ROWS, snapshot.count - self.config.max_members)
        return snapshot

    def _join_failed(self: Node, exchange_id: int, seed: Address, reason: str) -> None:
        self._out.append(JoinFailed(seed, reason))
        self._join_ended(exchange_id, reason)

    def _join_ended(self: Node, exchange_id: int, failure: str | None) -> None:
        """An exchange of a join attempt ended: report the attempt once all of it has."""
        result = self._join_round.finish(exchange_id, failure)
        if result is not None:
            self._out.append(result)

    def _merge_vetoed(self: Node, rows: Sequence[MemberState]) -> bool:
        """Whether the application refuses the whole snapshot of ``rows`` (counted if so)."""
        if self._admit_merge is None:
            return False
        infos = [
            MemberInfo(row.name, row.address, row.incarnation, row.state, row.meta) for row in rows
        ]
        try:
            vetoed = not self._admit_merge(infos)
        except Exception:
            self._count(cn.ADMISSION_ERRORS)
            vetoed = True
        if vetoed:
            self._count(cn.MERGES_VETOED)
        return vetoed

    def _refuse(self: Node, reason: str, detail: str, request: bytes | None = None) -> bytes | None:
        """Report a refused exchange once; the reply telling the peer why (framed by the wire
        profile as ``request`` was, so its sender can read it; ``None`` without a request)."""
        if self._reports.first(("refused", reason, detail), self._now):
            self._out.append(ExchangeRefused(reason, detail))
        if request is None:
            return None
        return self._wire.encode_refusal(request, reason, detail)

    def _snapshot(self: Node, *, join: bool) -> Outgoing:
        """This table as a push-pull, sealed, built a slice per step (see :class:`Outgoing`)."""

        def begin() -> tuple[list[Member], SnapshotWriter]:
            records = self._table.all()
            state = self._local_state(join)
            return records, self._wire.snapshot_writer(self.config.label, join, len(records), state)

        return Outgoing(_TableSteps(begin, self._seal, self._table.current))

    def _local_state(self: Node, join: bool) -> bytes:
        """The application's state for a full-state exchange (``b""`` without a hook)."""
        if self._state_out is None:
            return b""
        try:
            return bytes(self._state_out(join))
        except Exception:
            self._count(cn.STATE_ERRORS)
            return b""

    def _merge_remote_state(self: Node, user_state: bytes, join: bool) -> None:
        """Hand the application the state a peer's exchange carried (if any)."""
        if self._state_in is None or not user_state:
            return
        try:
            self._state_in(user_state, join)
            self._count(cn.STATES_MERGED)
        except Exception:
            self._count(cn.STATE_ERRORS)

    def _merge(self: Node, snapshot: PushPull) -> None:
        """Merge a small snapshot (read whole): at once, or after the snapshots pending."""
        if not self._ingests:
            self._merge_rows(snapshot.members)
        else:
            rows = ingest.ListRows(snapshot.label, snapshot.join, snapshot.members)
            self._ingest(rows, None, None)

    def _ingest(
        self: Node, rows: SnapshotRows, source: Address | None, join_id: int | None
    ) -> None:
        """Queue a snapshot to read and merge a slice per step; the first slice at once when
        nothing else is pending.  ``join_id``: a join whose outcome waits for it."""
        cap = min(rows.count, self.config.max_members)
        held: list[MemberState] | None = None
        if self._admit_merge is not None and not isinstance(rows, ingest.ListRows):
            held = []
        job = ingest.Ingest(rows, source, cap, join_id, held)
        idle = not self._ingests
        for dropped in self._ingests.add(job):
            self._give_up(dropped, cn.DROPPED_MERGE_BACKLOG, "superseded by a newer snapshot")
        if idle:
            self._merge_slice()

    def _give_up(self: Node, job: ingest.Ingest, reason: str, why: str) -> None:
        """Count the rows of ``job`` that will not be merged (those merged stay)."""
        self._count(reason, job.backlog)
        if job.exchange_id is not None and job.source is not None:
            self._join_failed(job.exchange_id, job.source, why)
            job.exchange_id = None

    def _merge_slice(self: Node) -> None:
        """One step: decode and merge at most ``MERGE_SLICE`` rows of the oldest snapshot."""
        queue = self._ingests
        if not queue:
            return
        job = queue.head
        rows = job.rows.take(MERGE_SLICE)
        kept = rows[: job.cap - job.taken]
        job.taken += len(kept)
        if job.held is not None:
            job.held.extend(kept)
        else:
            self._merge_rows(kept)
            job.merged += len(kept)
        done = False
        if job.rows.error is not None:
            self._count(cn.DROPPED_MALFORMED_EXCHANGE)
            self._give_up(job, cn.DROPPED_MALFORMED_ROWS, "bad reply")
            done = True
        elif not job.rows.left:
            done = self._read_to_the_end(job)
        if done:
            queue.pop()
        if queue:
            self._count(cn.MERGE_SLICES)
            self._timers.schedule(self._now + MERGE_PAUSE, (Timer.MERGE, 0, ""))

    def _read_to_the_end(self: Node, job: ingest.Ingest) -> bool:
        """Every row of ``job`` is read: hand over the application's state, and ask for its
        verdict on the whole if it gives one.  Whether ``job`` is over."""
        try:
            user_state = job.rows.user_state()
        except DecodeError:
            self._count(cn.DROPPED_MALFORMED_EXCHANGE)
            self._give_up(job, cn.DROPPED_MALFORMED_ROWS, "bad reply")
            return True
        if job.held is not None:
            if self._merge_vetoed(job.held):
                self._refuse("merge_vetoed", "this member's application refused the merge")
                self._give_up(job, cn.DROPPED_VETOED_ROWS, _VETOED)
                return True
            # Admitted: merge what was held, a slice per step, like any other snapshot.
            job.rows = ingest.ListRows(job.rows.label, job.rows.join, job.held)
            job.cap, job.taken, job.held = len(job.held), 0, None
        if job.exchange_id is not None:
            self._join_ended(job.exchange_id, None)
            job.exchange_id = None
        self._merge_remote_state(user_state, job.rows.join)
        return not job.rows.left

    def _merge_rows(self: Node, rows: Sequence[MemberState]) -> None:
        peek = self._table.peek
        for row in rows:
            if row.state is State.ALIVE:
                known = peek(row.name)
                if known is not None and row.name != self.name and _stale(known, row):
                    continue  # the alive row we hold already: applying it would change nothing
                self._apply(Alive(row.name, row.address, row.incarnation, row.meta))
            elif row.state is State.LEFT:
                self._apply(Left(row.name, row.incarnation))
            elif row.name in self._table:
                # As memberlist does, a remote "dead" is only a suspicion here: verify it ourselves.
                self._apply(Suspect(row.name, row.incarnation, ""))


def _auth_detail(exc: AuthError) -> str:
    """What to tell a peer whose exchange failed authentication: that encryption is on at one
    end only, or that no key opened it."""
    return exc.reason if exc.mismatch else "it did not open with this member's keys"


class _TableSteps:
    """The steps of an :class:`Outgoing` made from the table's records: a snapshot, or a
    digest.  The first takes the records (references: a copy of each cost more than its
    encoding) and the writer; each writes ``ENCODE_SLICE`` records as they stand at its turn (a
    row is one member's news as of that step, as every row of a push-pull is news on its own);
    the last seals the message."""

    __slots__ = ("_begin", "_current", "_done", "_records", "_seal", "_writer")

    def __init__(
        self,
        begin: Callable[[], tuple[list[Member], SnapshotWriter]],
        seal: Callable[[bytes], bytes],
        current: Callable[[list[Member]], list[Member]],
    ) -> None:
        self._begin, self._seal = begin, seal
        #: The table's records now for records it held at the first step (``current``).
        self._current = current
        self._records: list[Member] = []
        self._writer: SnapshotWriter | None = None
        self._done = 0

    def __call__(self) -> bytes | None:
        writer = self._writer
        if writer is None:
            self._records, writer = self._begin()
            self._writer = writer
        done = self._done
        writer.add(self._current(self._records[done : done + ENCODE_SLICE]))
        self._done = done + ENCODE_SLICE
        if self._done < len(self._records):
            return None
        self._records = []
        return self._seal(writer.finish())
