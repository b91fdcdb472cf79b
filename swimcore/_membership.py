# mypy: disable-error-code="misc"
# Each method declares ``self: Node`` (the mixin pattern), which mypy reports under "misc"
# because Node is a subclass of this mixin, not a supertype of it; bodies are checked as Node.
"""Membership: applying news about members (alive, suspect, dead, left), refuting news about
this member, suspicions and their timeouts, flap damping, the leader and forgetting the dead
(a mixin of :class:`~swimcore.node.Node`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from swimcore import counter_names as cn
from swimcore._compiling import mypyc_attr, trait
from swimcore._node_base import (
    _ALIVE,
    _DEAD,
    _LEFT,
    _LIVE,
    _SUSPECT,
    _USER_PREFIX,
    MAX_INCARNATION,
    MAX_INCARNATION_STEP,
    Timer,
)
from swimcore.actions import (
    BroadcastReceived,
    LeaderChanged,
    MemberAlive,
    MemberFailed,
    MemberInfo,
    MemberJoined,
    MemberLeft,
    MemberStable,
    MemberSuspected,
    MemberUnstable,
    MemberUpdated,
    NameConflict,
)
from swimcore.address import Address
from swimcore.broadcasts import Verdict as News
from swimcore.members import Member
from swimcore.messages import (
    Alive,
    Dead,
    Left,
    Suspect,
    Update,
    UserBroadcast,
)
from swimcore.suspicion import Suspicion
from swimcore.timing import suspicion_min
from swimcore.transitions import APPLY, CONFIRM, IGNORE, judge

if TYPE_CHECKING:
    from swimcore.node import Node


@trait
@mypyc_attr(allow_interpreted_subclasses=True)
class Membership:
    """The node's membership (see the module docstring); its methods run on a :class:`Node`."""

    __slots__ = ()

    def _reclaim(self: Node, name: str) -> None:
        member = self._table.peek(name)
        if member is None or member.state in _LIVE or member is self._table.local:
            return
        due = self._table.since(member) + self.config.reclaim_time
        if self._now < due:
            # Not yet (the member changed state since, or ``now + t - now`` rounded below t).
            self._timers.schedule(due, (Timer.RECLAIM, 0, name))
        else:
            self._table.remove(name)
            self._stability.forget(name)
            self._recent_dead.pop(name, None)
            self._dead.pop(name, None)
            self._count(cn.RECLAIMED)

    def _enqueue(self: Node, name: str, update: Update) -> None:
        # An update being applied as it arrived is queued in the bytes it arrived in.
        data = self._arrived_raw if update is self._arrived else self._wire.encode_update(update)
        self._queue.put(name, data)

    def _queue_local_alive(self: Node) -> None:
        local = self._table.local
        self._enqueue(local.name, Alive(local.name, local.address, local.incarnation, local.meta))

    def _bump_incarnation(self: Node, at_least: int) -> None:
        local = self._table.local
        local.incarnation = min(MAX_INCARNATION, max(local.incarnation + 1, at_least))
        self._queue_local_alive()

    def _refute(self: Node, update: Alive | Suspect | Dead | Left) -> None:
        """Someone says this node is not alive (or claims it at a higher incarnation)."""
        if self._leaving:
            return
        incarnation = update.incarnation
        self._count(cn.REFUTATIONS)
        by = update.by if isinstance(update, (Suspect, Dead)) else "-"
        self._debug(
            "refuting %s about itself at incarnation %d (by %s)",
            type(update).__name__,
            incarnation,
            by,
        )
        self._awareness.apply(1)
        self._bump_incarnation(incarnation + 1)

    def _apply(self: Node, update: Update) -> None:
        if isinstance(update, UserBroadcast):
            self._apply_user(update)
            return
        # Judge on a read-only view; take the table's own record only to change it (a table
        # over a shared roster copies a record the first time it is taken).
        name = update.name
        about_self = name == self._name
        member = self._table.local if about_self else self._table.peek(name)
        if isinstance(update, Alive) and self._repeats(update, member):
            return
        self._apply_news(update, member, about_self)

    def _repeats(self: Node, update: Alive, member: Member | None) -> bool:
        """Whether ``update`` repeats what is known of ``member`` (its record, read only).

        Most gossip does: alive news the rules ignore, from the member's known address,
        changes nothing (no name conflict, nothing to refute), as the longer way of
        :meth:`_apply_news` would conclude.
        """
        return (
            member is not None
            and update.incarnation <= member.incarnation
            and (update.address is member.address or update.address == member.address)
            and len(update.meta) <= self.config.max_metadata
            and judge(member.state, member.incarnation, _ALIVE, update.incarnation) is IGNORE
        )

    def _apply_news(
        self: Node, update: Alive | Suspect | Dead | Left, member: Member | None, about_self: bool
    ) -> None:
        """Apply news about the member ``member`` (its record, read only; ``None``: unknown),
        this one when ``about_self``, that is not a repeat (:meth:`_repeats`)."""
        if update.incarnation > (
            MAX_INCARNATION_STEP if member is None else member.incarnation + self._incarnation_step
        ):
            self._count(cn.DROPPED_INCARNATION_JUMP)
            return
        if about_self:
            self._apply_about_self(update)
            return
        if isinstance(update, Alive):
            self._apply_alive(member, update)
            return
        if member is None:
            return  # news of a failure of someone we never knew: nothing to do
        news = (
            _SUSPECT
            if isinstance(update, Suspect)
            else _DEAD
            if isinstance(update, Dead)
            else _LEFT
        )
        verdict = judge(member.state, member.incarnation, news, update.incarnation)
        if verdict is IGNORE:
            if member.state is _ALIVE and update.incarnation < member.incarnation:
                self._correct(member)
                if news is not _LEFT:
                    assert isinstance(update, (Suspect, Dead))
                    self._stability.heard(member.name, update.incarnation, update.by)
            return
        if verdict is CONFIRM:
            assert isinstance(update, Suspect)
            self._confirm(member, update)
            return
        if isinstance(update, (Suspect, Dead)) and not self._believes(member, update):
            return
        member = self._own(member)
        member.incarnation = update.incarnation
        self._suspicions.pop(member.name, None)
        self._table.set_state(member, news, self._now)
        self._consider_leader(member)
        self._enqueue(member.name, update)
        if news is _SUSPECT:
            assert isinstance(update, Suspect)
            self._start_suspicion(member, update.by)
            hold = self.config.stability_suspect_hold
            if hold:
                self._timers.schedule(
                    self._now + hold, (Timer.ANNOUNCE, member.incarnation, member.name)
                )
            else:
                self._announce(member.name, member.incarnation)
            return
        # A member whose return from the dead was held out is already dead to the application.
        reported = (
            self._stability.died(member.name)  # its damping stays: coming back is a flap
            if news is _DEAD
            else self._stability.forget(member.name)
        )
        self._recent_dead[member.name] = self._now
        self._timers.schedule(self._now + self.config.reclaim_time, (Timer.RECLAIM, 0, member.name))
        if news is _DEAD:
            self._dead[member.name] = None
            self._count(cn.DEATHS)
        else:
            self._dead.pop(member.name, None)
            self._count(cn.LEAVES)
        if reported:
            self._count(cn.EVENTS_DAMPED)
        else:
            self._emit(MemberFailed(member.info()) if news is _DEAD else MemberLeft(member.info()))

    def _own(self: Node, member: Member) -> Member:
        """The table's own, changeable record for ``member`` (a peeked one may be shared)."""
        owned = self._table.get(member.name)
        assert owned is not None
        return owned

    def _apply_about_self(self: Node, update: Alive | Suspect | Dead | Left) -> None:
        local = self._table.local
        if isinstance(update, Alive) and update.address != local.address:
            self._name_conflict(local.name, local.address, update.address)
        if isinstance(update, Alive):
            refute = update.incarnation > local.incarnation
        else:
            refute = update.incarnation >= local.incarnation
        if refute:
            self._refute(update)
        elif not isinstance(update, Alive) and not self._leaving:
            self._correct(local)

    def _correct(self: Node, member: Member) -> None:
        """The sender of this packet holds stale news about ``member``: answer it directly.

        Infection-style spread leaves a node uninformed now and then (each update is sent only
        O(log n) times); that node keeps gossiping its stale suspicion and would in time declare
        a refuted member dead.  Sending the fresher news straight back to whoever gossips the
        stale kind closes that gap at the cost of one bounded reply.
        """
        if len(self._corrections) < 4:
            self._count(cn.CORRECTIONS_SENT)
            self._corrections.append(
                self._wire.encode_update(
                    Alive(member.name, member.address, member.incarnation, member.meta)
                )
            )

    def _apply_alive(self: Node, member: Member | None, update: Alive) -> None:
        if len(update.meta) > self.config.max_metadata:
            self._count(cn.DROPPED_METADATA_TOO_LARGE)
            return
        if update.address.is_unspecified:
            self._count(cn.DROPPED_UNSPECIFIED_ADDRESS)
            return
        # (Its first character read, not startswith(), which parses its arguments as a tuple.)
        if not update.name or update.name[0] == "\x00":
            self._count(cn.DROPPED_BAD_NAME)  # the names Node() refuses; "\x00" keys user news
            return
        if member is None:
            if len(self._table) >= self.config.max_members:
                self._count(cn.DROPPED_TABLE_FULL)
                return
            if self._at_own_address(update):
                return
            if self._admit is not None and not self._admits(update):
                return
            member = self._table.new_record(
                update.name,
                update.address,
                update.incarnation,
                _ALIVE,
                update.meta,
            )
            self._table.add(member)
            self._note_seed(member)
            self._consider_leader(member)
            self._enqueue(member.name, update)
            self._emit(MemberJoined(member.info()))
            return
        moved = update.address is not member.address and update.address != member.address
        if moved and self._at_own_address(update):
            return
        if moved and member.state in (_ALIVE, _SUSPECT):
            self._name_conflict(member.name, member.address, update.address)
        if judge(member.state, member.incarnation, _ALIVE, update.incarnation) is not APPLY:
            return
        if moved and not self._may_move(member):
            self._count(cn.DROPPED_ADDRESS_CONFLICT)
            return
        owned = self._table.get(member.name)  # _own, inline
        assert owned is not None
        member = owned
        before = member.state
        changed = moved or member.meta != update.meta
        # A live member re-announcing itself unchanged at a higher incarnation refuted news.
        refuted = before in _LIVE and update.incarnation > member.incarnation and not changed
        if refuted:
            self._weigh_refutation(
                member.name,
                member.incarnation,
                update.incarnation,
                believed=before is _SUSPECT,
            )
        name = member.name
        member.incarnation = update.incarnation
        member.meta = update.meta
        member.address = update.address
        if self._seeds:
            self._note_seed(member)
        suspicion = self._suspicions.pop(name, None) if self._suspicions else None
        # An alive member that stays alive where it was changes neither the table's indexes
        # nor the leader (the alive member with the highest address, kept as members change).
        if before is not _ALIVE:
            self._table.set_state(member, _ALIVE, self._now)
        if self._recent_dead:
            self._recent_dead.pop(name, None)
        if self._dead:
            self._dead.pop(name, None)
        if moved or before is not _ALIVE:
            self._consider_leader(member)
        # _enqueue, inline: the update is queued in the bytes it arrived in where it did.
        self._queue.put(
            name,
            self._arrived_raw if update is self._arrived else self._wire.encode_update(update),
        )
        if before is _SUSPECT:
            self._count(cn.SUSPICIONS_REFUTED)
            if refuted and self._stability.unstable(member.name):
                self._count(cn.EVENTS_DAMPED)
            elif suspicion is None or suspicion.announced:
                self._emit(MemberAlive(member.info()))
        elif before is not _ALIVE:
            if before is _DEAD and self._back_from_the_dead(member):
                self._count(cn.EVENTS_DAMPED)  # readmitted by MemberStable once quiet
            else:
                self._emit(MemberJoined(member.info()))
        elif changed:
            self._emit(MemberUpdated(member.info()))

    def _at_own_address(self: Node, update: Alive) -> bool:
        """Whether ``update`` places another member at this member's own address, where only
        this member can be (dropped and counted: a forged move there would cut the member off
        from itself in every view that took it, and nothing could bring it back)."""
        if update.address != self._table.local.address:
            return False
        self._count(cn.DROPPED_OWN_ADDRESS)
        return True

    def _note_seed(self: Node, member: Member) -> None:
        if self._seeds and member.address in self._seeds:  # a handful of addresses
            self._seed_names[member.address] = member.name

    def _may_move(self: Node, member: Member) -> bool:
        """Whether ``member``'s name may move to another address.

        The native rule: with any newer incarnation (a restart elsewhere is accepted at once).
        memberlist's rule, followed under its profile so that mixed views agree: only once the
        member left, or was dead for ``gossip_to_the_dead_time`` (when memberlist forgets it);
        until then the name stays where it was and the conflict is counted.
        """
        if not self._wire.STRICT_ADDRESSES:
            return True
        if member.state is _LEFT:
            return True
        if member.state is not _DEAD:
            return False
        return self._now - self._table.since(member) >= self.config.gossip_to_the_dead_time

    def _apply_user(self: Node, update: UserBroadcast) -> None:
        verdict = self._broadcasts.judge(update.key, update.version, update.origin, self._now)
        if verdict is News.LEAP:
            self._count(cn.DROPPED_BROADCAST_VERSION_JUMP)
            return
        if verdict is News.OLD:
            return
        self._queue.put(_USER_PREFIX + update.key, self._wire.encode_update(update), user=True)
        self._out.append(BroadcastReceived(update.origin, update.key, update.payload))

    def _believes(self: Node, member: Member, update: Suspect | Dead) -> bool:
        """Whether another member's accusation (or declaration of death) changes ``member``
        (alive here) here.

        With ``stability_accusers`` above 1 an accusation is relayed but believed only with
        others beside it; an accuser held suspect, dead or unstable is not believed at all,
        nor its declaration of the death of a member held alive here (see
        :mod:`swimcore.stability`).
        """
        stability = self._stability
        if update.by == self._name or member.state is not _ALIVE:
            return True
        if stability.corroborates or stability.damping:
            accuser = self._table.peek(update.by)
            if stability.unstable(update.by) or (
                stability.corroborates and accuser is not None and accuser.state is not _ALIVE
            ):
                self._count(cn.ACCUSATIONS_DISBELIEVED)
                return False
        if not stability.corroborates or isinstance(update, Dead):
            return True
        window = self._corroboration_window()
        if stability.accuse(member.name, update.incarnation, update.by, self._now, window):
            if stability.believed(member.name):
                return True
            self._count(cn.ACCUSATIONS_PENDING)
            self._enqueue(member.name, update)  # others count it; the accused can refute it
        return False

    def _weigh_refutation(self: Node, name: str, since: int, until: int, *, believed: bool) -> None:
        """``name`` refuted news of itself (at ``since``, announcing ``until``), which this
        node ``believed`` (held it suspect) or not: hold the refutation for its verdict one
        corroboration window later (:meth:`_judge_refutations`)."""
        stability = self._stability
        if not stability.damping:
            return
        opened = stability.refuted(name, since, until)
        if believed:
            stability.heard(name, since, self._name)
        if opened:
            self._timers.schedule(
                self._now + self._corroboration_window(), (Timer.REFUTED, 0, name)
            )

    def _corroboration_window(self: Node) -> float:
        """How long accusations of one incarnation are gathered (the shortest suspicion): for
        corroboration, and before the verdict on a refutation."""
        cfg = self.config
        return suspicion_min(cfg.suspicion_mult, self._live_count(), cfg.probe_interval)

    def _judge_refutations(self: Node, name: str) -> None:
        """The verdict on refutations: flaps if any accuser of the incarnations they answer
        is believed here now (this node, if it held the member suspect), else counted as
        discounted.

        Every view hears every refutation and, within the window, the accusations it
        answered (those that arrive late included), so the views count the same flaps about a
        window after the refutation, whether or not they believed the accusation.  What the
        window lets every view learn is who the accusers are: a member losing most of its
        input accuses whomever it fails to reach, and is itself suspect, dead or unstable here
        by the time the verdict is due; news heard from no named accuser at all (a full-state
        exchange's row, or nothing) is not evidence either.  Without this a faulty member's
        first accusations, refuted before anyone knew it was faulty, damped healthy members."""
        refutation = self._stability.verdict_due(name)
        member = self._table.peek(name)
        if refutation is None or member is None or member.state not in _LIVE:
            return
        if not any(self._believable(by) for by in refutation.accusers):
            self._count(cn.FLAPS_DISCOUNTED, refutation.count)
            return
        self._flapped(member, refutation.count)

    def _believable(self: Node, by: str) -> bool:
        """Whether an accusation by ``by`` counts as evidence here now: by this node, or by a
        named member not held unstable, suspect or dead (one not in the table counts, as in
        :meth:`_believes`; a full-state exchange's row, which names no one, does not)."""
        if by == self._name:
            return True
        if not by or self._stability.unstable(by):
            return False
        accuser = self._table.peek(by)
        return accuser is None or accuser.state is _ALIVE

    def _flapped(self: Node, member: Member, times: int) -> None:
        """``member`` flapped ``times`` times (the verdict on its refutations): raise its
        penalty, and report it unstable when that crosses the suppress threshold."""
        stability = self._stability
        if stability.flapped(member.name, self._now, times):
            self._emit(MemberUnstable(member.info()))
            self._timers.schedule(stability.reuse_at(member.name), (Timer.STABLE, 0, member.name))

    def _back_from_the_dead(self: Node, member: Member) -> bool:
        """``member``, declared dead here, is alive again: with damping that is a flap.  True
        when it is (or now becomes) unstable: it is held out until :class:`MemberStable`."""
        stability = self._stability
        if not stability.damping:
            return False
        if stability.flapped(member.name, self._now):
            self._timers.schedule(stability.reuse_at(member.name), (Timer.STABLE, 0, member.name))
        stability.hold(member.name)
        return stability.unstable(member.name)

    def _announce(self: Node, name: str, incarnation: int) -> None:
        """Report a suspicion that still stands (``stability_suspect_hold`` after it began),
        unless the member is damped."""
        suspicion = self._suspicions.get(name)
        member = self._table.peek(name)
        if suspicion is None or member is None or suspicion.incarnation != incarnation:
            return
        if member.state is not _SUSPECT or suspicion.announced:
            return
        if self._stability.unstable(name):
            self._count(cn.EVENTS_DAMPED)
            return
        suspicion.announced = True
        self._emit(MemberSuspected(member.info()))

    def _settle(self: Node, name: str) -> None:
        """An unstable member's penalty may have decayed: report it stable if it is alive."""
        stability = self._stability
        member = self._table.peek(name)
        if member is None or not stability.unstable(name):
            return
        if member.state is _ALIVE and stability.settle(name, self._now):
            self._emit(MemberStable(member.info()))
            return
        due = max(stability.reuse_at(name), self._now + self.config.probe_interval)
        self._timers.schedule(due, (Timer.STABLE, 0, name))

    def _start_suspicion(self: Node, member: Member, by: str) -> None:
        self._count(cn.SUSPICIONS)
        held = self._stability.take(member.name, member.incarnation)
        cfg = self.config
        n = self._live_count()
        low = suspicion_min(cfg.suspicion_mult, n, cfg.probe_interval)
        dynamic = cfg.lifeguard_dynamic_suspicion
        needed = cfg.suspicion_mult - 2 if dynamic else 0
        if n - 2 < needed:
            needed = 0
        suspicion = Suspicion(
            incarnation=member.incarnation,
            # Corroborated: the suspicion runs from the first accusation, as if believed then.
            started=self._now if held is None else held.first,
            min_timeout=low,
            max_timeout=low * cfg.suspicion_max_mult if dynamic else low,
            needed=max(0, needed),
        )
        for accuser in (by, *(held.accusers if held is not None else ())):
            if accuser and accuser != self._name:
                suspicion.confirm(accuser)
        self._suspicions[member.name] = suspicion
        self._timers.schedule(
            self._suspicion_due(suspicion), (Timer.SUSPICION, suspicion.token, member.name)
        )

    def _suspicion_due(self: Node, suspicion: Suspicion) -> float:
        """When the suspicion timer fires next: the deadline, or, while the last-chance probe
        is still to be sent, one probe timeout before it, so that the probe's wait ends when
        the suspicion does (a member that stays silent dies at the deadline, not one probe
        timeout after it, as memberlist's would)."""
        deadline = suspicion.deadline()
        if self.config.verify_before_death and suspicion.verify_seq is None:
            return max(suspicion.started, deadline - self.config.probe_timeout)
        return deadline

    def _confirm(self: Node, member: Member, update: Suspect) -> None:
        suspicion = self._suspicions.get(member.name)
        if suspicion is None or not update.by:
            return
        if update.by == self._name:
            if not suspicion.confirmed_locally:
                suspicion.confirmed_locally = True  # spread our own view once; it is not counted
                self._enqueue(member.name, update)
            return
        if suspicion.confirm(update.by):
            self._count(cn.SUSPICION_CONFIRMATIONS)
            self._enqueue(member.name, update)
            self._timers.schedule(
                max(self._now, self._suspicion_due(suspicion)),
                (Timer.SUSPICION, suspicion.token, member.name),
            )

    def _suspicion_expired(self: Node, name: str, token: int) -> None:
        suspicion = self._suspicions.get(name)
        member = self._table.peek(name)
        if suspicion is None or suspicion.token != token or member is None:
            return
        if self._now < self._suspicion_due(suspicion):
            return  # left over from an earlier suspicion of this member (tokens restart at 0)
        if member.state is not _SUSPECT:
            return
        if self.config.verify_before_death and suspicion.verify_seq is None:
            self._verify(member, suspicion)
            return
        self._verifications.pop(suspicion.verify_seq or -1, None)
        self._apply(Dead(name, member.incarnation, self.name))

    def _consider_leader(self: Node, member: Member | None) -> None:
        """Keep the leader current: O(1), or O(log n) when the leader itself stops being alive."""
        if member is None:
            return
        leader = self._leader
        # The leader is the table's record of that member, or was: a table sharing records
        # changes a copy (``MemberTable.get``), which is then the leader's record.
        same = member is leader or (leader is not None and member.name == leader.name)
        if member.state is _ALIVE:
            if same:
                self._keep_leader(member)
                return
            self._ranks.offer(member, self._table)
            if leader is None or member.address.leader_key() > leader.address.leader_key():
                self._set_leader(member)
        elif same:
            # O(log n), not a scan of the table: one datagram may unseat many leaders in turn.
            self._set_leader(self._ranks.best(self._table))

    def _keep_leader(self: Node, member: Member | None) -> None:
        """``member`` is the leader's record now (the same member: no news)."""
        self._leader = member

    def _set_leader(self: Node, member: Member | None) -> None:
        if member is not self._leader:
            self._leader = member
            if member is not None:
                self._out.append(LeaderChanged(member.info()))

    def _admits(self: Node, update: Alive) -> bool:
        """Whether the application admits the member ``update`` introduces (counted if not).

        A callback that raises refuses (and is counted apart): a bug there must not let in a
        member the application meant to keep out, nor stop the node.
        """
        assert self._admit is not None
        info = MemberInfo(update.name, update.address, update.incarnation, _ALIVE, update.meta)
        try:
            admitted = bool(self._admit(info))
        except Exception:
            self._count(cn.ADMISSION_ERRORS)
            admitted = False
        if not admitted:
            self._count(cn.DROPPED_NOT_ADMITTED)
        return admitted

    def _name_conflict(self: Node, name: str, address: Address, other: Address) -> None:
        """Report once that ``other`` claims ``name``, held here at ``address``."""
        self._count(cn.NAME_CONFLICTS)
        if self._reports.first(("conflict", name, other), self._now):
            self._out.append(NameConflict(name, address, other, name == self.name))
