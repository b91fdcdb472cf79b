"""Invariant checkers that watch every membership transition, and liveness deadlines.

:class:`SafetyChecker` keeps, for every node, the state and incarnation it last reported for
each member, and checks each new membership event against them the moment it is emitted:

* a member's incarnation never decreases in anyone's view;
* a dead or left member is never seen alive (or suspect) again at that incarnation;
* a node never declares itself dead;
* every transition is legal (:func:`swimcore.transitions.legal`) and obeys SWIM's incarnation
  rules, stated here a second time, independently of ``swimcore.transitions.TABLE``, so that a
  broken table is caught rather than trusted;
* an event's member state matches the event.

The stability mechanisms (:mod:`swimcore.stability`) report less than the protocol does: a
suspicion held back or refuted before it was reported, a damped member's flips, a damped member
back from the dead (readmitted later by ``MemberStable``).  The sweep accepts those silent
changes, still checking their incarnations, and follows the table from there.

A member forgotten after ``reclaim_time`` may come back at any incarnation.  :meth:`sweep`
(run it every protocol period in small clusters) also checks what events cannot show: silent
incarnation decreases, state changes without an event, and that tables, queues, relays and
pending exchanges stay within their bounds.

The liveness half gives deadlines derived from the configuration, after which every survivor
must have declared each crash and every view must equal the running nodes.
"""

from __future__ import annotations

import attrs

from swimcore import (
    Action,
    Config,
    MemberAlive,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberStable,
    MemberSuspected,
    MemberUpdated,
    Node,
    State,
)
from swimcore.roster import Roster
from swimcore.timing import detection_deadline, dissemination_bound, push_pull_interval
from swimcore.transitions import legal
from swimcore.transports.sim.network import UP, Host, SimNetwork

_EVENT_STATE: dict[type, State] = {
    MemberJoined: State.ALIVE,
    MemberAlive: State.ALIVE,
    MemberUpdated: State.ALIVE,
    # Readmits a member that came back from the dead while unstable (its return held out).
    MemberStable: State.ALIVE,
    MemberSuspected: State.SUSPECT,
    MemberFailed: State.DEAD,
    MemberLeft: State.LEFT,
}
_FINAL = (State.DEAD, State.LEFT)
#: Pending reliable exchanges a node may have at once before we call it a leak.
MAX_PENDING_EXCHANGES = 64


@attrs.frozen(slots=True)
class Violation:
    """One broken invariant: who saw what about whom, when."""

    time: float
    observer: str
    subject: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return (
            f"t={self.time:.3f} {self.observer} about {self.subject}: {self.rule} ({self.detail})"
        )


class InvariantViolation(AssertionError):
    """Raised by :meth:`SafetyChecker.raise_if_violated` (and at once with ``fail_fast``)."""


@attrs.frozen(slots=True)
class _Record:
    """What one observer last knew of one member (immutable: records are shared)."""

    state: State
    incarnation: int
    since: float


def rule_allows(before: State, known: int, after: State, incarnation: int) -> bool:
    """SWIM's incarnation rules, independently of the core's table: alive news needs a higher
    incarnation; suspect, dead and left news over a live member need at least the same; dead
    and left are final for their incarnation (only a later ``left`` replaces ``dead``)."""
    if after is State.ALIVE:
        return incarnation > known
    if before in _FINAL:
        return before is State.DEAD and after is State.LEFT and incarnation > known
    return incarnation >= known


def _unreported(node: Node, name: str, before: State, after: State) -> bool:
    """Whether ``node`` may change ``name`` from ``before`` to ``after`` without an event: the
    stability mechanisms (:mod:`swimcore.stability`) hold back suspicions (and the refutations
    of suspicions never reported) and a damped member's flips, and readmit a damped member back
    from the dead by ``MemberStable`` rather than ``MemberJoined``."""
    config = node.config
    live = (State.ALIVE, State.SUSPECT)
    if before in live and after in live:
        return config.stability_suspect_hold > 0 or config.stability_damping
    return (
        before is State.DEAD
        and after in live
        and config.stability_damping
        and any(m.name == name for m in node.unstable_members())
    )


class SafetyChecker:
    """Checks every membership event a :class:`SimNetwork` carries, as it happens."""

    def __init__(self, net: SimNetwork, *, fail_fast: bool = False) -> None:
        self.net = net
        self.fail_fast = fail_fast
        self.violations: list[Violation] = []
        #: Membership events checked.
        self.transitions = 0
        #: Sweeps run and member records they compared.
        self.sweeps = 0
        self.records_swept = 0
        #: Per observer: the records its own events changed (copy on write over a base).
        self._views: dict[str, dict[str, _Record]] = {}
        #: Per observer: the shared, never-changed records it was seeded with.
        self._bases: dict[str, dict[str, _Record]] = {}
        #: The last seed built: nodes whose tables hold the same rows share it, so a cluster
        #: started from one membership costs O(members), not O(members^2).
        self._last_base: dict[str, _Record] = {}
        #: The base of each roster that nodes were seeded from as started (built once each).
        self._roster_bases: dict[Roster, dict[str, _Record]] = {}
        self._owners: dict[str, Node] = {}
        net.observers.append(self.on_action)
        net.lifecycle.append(self.on_lifecycle)
        for host in net.host_list:
            if host.status == UP:
                self._seed(host.node, None if net.has_run else host.started_from)

    # ------------------------------------------------------------------------------ hooks

    def on_lifecycle(self, now: float, host: Host, what: str) -> None:
        if what in ("start", "join", "restart"):
            self._seed(host.node, host.started_from if what == "start" else None)

    def on_action(self, now: float, node: Node, action: Action) -> None:
        after = _EVENT_STATE.get(type(action))
        if after is None:
            return
        member = action.member  # type: ignore[union-attr]
        self.transitions += 1
        if self._owners.get(node.name) is not node:
            self._seed(node)
        if member.state is not after:
            self._fail(now, node, member.name, "event state", f"{type(action).__name__} {member}")
        if member.name == node.name:
            if after is State.DEAD:
                self._fail(now, node, member.name, "declared itself dead", repr(member))
            return
        view = self._views[node.name]
        before = view.get(member.name) or self._bases[node.name].get(member.name)
        unchanged = before is not None and (before.state, before.incarnation) == (
            after,
            member.incarnation,
        )
        if isinstance(action, MemberStable) and unchanged:
            return  # readmits a member that stayed alive: a report, not a change of state
        if before is not None and not self._forgotten(node.config, before, now):
            self._judge(now, node, member.name, before, (after, member.incarnation))
        elif before is None and not isinstance(action, MemberJoined):
            self._fail(now, node, member.name, "news of an unknown member", type(action).__name__)
        if before is None or before.state is not after:
            view[member.name] = _Record(after, member.incarnation, now)
        elif member.incarnation > before.incarnation:
            view[member.name] = _Record(before.state, member.incarnation, before.since)

    # -------------------------------------------------------------------------- checking

    def _judge(
        self, now: float, node: Node, name: str, before: _Record, news: tuple[State, int]
    ) -> None:
        after, incarnation = news
        detail = f"{before.state.name}@{before.incarnation} -> {after.name}@{incarnation}"
        if incarnation < before.incarnation:
            self._fail(now, node, name, "incarnation decreased", detail)
        elif before.state in _FINAL and after not in _FINAL and incarnation <= before.incarnation:
            self._fail(now, node, name, "resurrected at a dead incarnation", detail)
        elif not legal(before.state, after):
            self._fail(now, node, name, "illegal transition", detail)
        elif not rule_allows(before.state, before.incarnation, after, incarnation):
            self._fail(now, node, name, "incarnation rule broken", detail)

    @staticmethod
    def _forgotten(config: Config, record: _Record, now: float) -> bool:
        return record.state in _FINAL and now - record.since >= config.reclaim_time

    def _seed(self, node: Node, roster: Roster | None = None) -> None:
        """Start following ``node``'s view from what its table holds now.

        ``roster``: the node's table is known to hold that roster's rows and nothing else (it
        was started from it and has had no input since), so the roster's base is shared
        without reading the table: seeding a bootstrapped cluster costs O(members), where
        reading every table costs O(members^2).  Otherwise the records go into a base shared
        with the previous seed when the table holds the same rows.  The node's own record is
        part of the base but never read (events and sweeps about itself return before).
        """
        self._owners[node.name] = node
        self._views[node.name] = {}
        if roster is not None:
            base = self._roster_bases.get(roster)
            if base is None:
                now = self.net.now
                base = {
                    name: _Record(m.state, m.incarnation, now) for name, m in roster.records.items()
                }
                self._roster_bases[roster] = base
            self._bases[node.name] = base
            return
        base = self._last_base
        members = node.all_members()
        same = len(members) == len(base)
        if same:
            for m in members:
                record = base.get(m.name)
                if (
                    record is None
                    or record.state is not m.state
                    or record.incarnation != m.incarnation
                ):
                    same = False
                    break
        if not same:
            now = self.net.now
            base = {m.name: _Record(m.state, m.incarnation, now) for m in members}
            self._last_base = base
        self._bases[node.name] = base

    def _fail(self, now: float, node: Node, subject: str, rule: str, detail: str) -> None:
        violation = Violation(now, node.name, subject, rule, detail)
        self.violations.append(violation)
        if self.fail_fast:
            raise InvariantViolation(str(violation))

    def sweep(self) -> None:
        """Compare every running node's whole table with what its events said, and check
        every bound.  O(n^2) time: for clusters of up to a few hundred nodes."""
        self.sweeps += 1
        now = self.net.now
        for host in self.net.host_list:
            if host.status != UP:
                continue
            node = host.node
            if self._owners.get(node.name) is not node:
                self._seed(node)
                continue
            view = self._views[node.name]
            base = self._bases[node.name]
            config = node.config
            counters = node.counters()
            for key, bound in (
                ("members", config.max_members),
                ("queue_depth", config.max_broadcasts),
                ("relays_pending", config.max_relays),
                ("exchanges_pending", MAX_PENDING_EXCHANGES),
            ):
                if counters.get(key, 0) > bound:
                    self._fail(now, node, node.name, "bound exceeded", f"{key}={counters[key]}")
            for member in node.all_members():
                self.records_swept += 1
                if member.name == node.name:
                    if member.state is State.DEAD:
                        self._fail(now, node, node.name, "declared itself dead", repr(member))
                    continue
                record = view.get(member.name) or base.get(member.name)
                if record is None or self._forgotten(config, record, now):
                    view[member.name] = _Record(member.state, member.incarnation, now)
                    continue
                if member.incarnation < record.incarnation:
                    detail = f"{record.incarnation} -> {member.incarnation} without an event"
                    self._fail(now, node, member.name, "incarnation decreased", detail)
                if member.state is not record.state:
                    detail = f"{record.state.name} -> {member.state.name} without an event"
                    news = (member.state, member.incarnation)
                    if not _unreported(node, member.name, record.state, member.state):
                        self._fail(now, node, member.name, "silent transition", detail)
                    else:  # held back by the stability mechanisms: judged as an event
                        self._judge(now, node, member.name, record, news)
                        view[member.name] = _Record(member.state, member.incarnation, now)
                    view[member.name] = _Record(
                        member.state, max(record.incarnation, member.incarnation), now
                    )
                elif member.incarnation > record.incarnation:
                    view[member.name] = _Record(record.state, member.incarnation, record.since)

    def raise_if_violated(self) -> None:
        if self.violations:
            shown = "\n".join(str(v) for v in self.violations[:20])
            more = len(self.violations) - 20
            tail = f"\n... and {more} more" if more > 0 else ""
            raise InvariantViolation(f"{len(self.violations)} invariant violations:\n{shown}{tail}")


# ------------------------------------------------------------------------------- liveness


def push_pull_period(config: Config, size: int) -> float:
    """The anti-entropy interval a node uses in a cluster of ``size`` (as the core scales it)."""
    return push_pull_interval(config, size)


def convergence_deadline(config: Config, size: int) -> float:
    """After every fault stops, by when all views must equal the running nodes.

    Pending suspicions run out and crashes are detected (:func:`detection_deadline`); members
    wrongly declared dead refute once anti-entropy reaches them (two push-pull periods, or the
    join retry when a node is cut off from all); the news then spreads.
    """
    healing = 2 * push_pull_period(config, size) if config.push_pull_interval else 0.0
    healing = max(healing, 2 * config.join_retry_interval)
    return detection_deadline(config, size) + healing + dissemination_bound(config, size)


def view_differences(views: dict[int, list[str]], expected: list[str]) -> list[str]:
    """Human-readable differences between each view and the expected member list."""
    want = set(expected)
    out = []
    for index, view in views.items():
        have = set(view)
        if have != want:
            missing = sorted(want - have)[:3]
            extra = sorted(have - want)[:3]
            out.append(f"node {index}: missing {missing} extra {extra}")
    return out
