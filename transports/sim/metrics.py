"""What a simulated run measures: detection latency, dissemination, false alarms, traffic.

:class:`Recorder` watches the events and host faults of one :class:`SimCluster` and produces
a :class:`Report`:

* per crash, the first- and all-detection latency (time from the crash until the first, and
  until every, survivor declared it dead) and how many survivors have not declared it yet;
* per update (a member suspected, declared dead, left, or alive at an incarnation), when each
  node learned it, turned into a dissemination curve: the fraction of the nodes running when
  the update appeared that knew it after each whole protocol period;
* false suspicions and false deaths: suspect or dead events about members that never crashed
  or left;
* datagrams and bytes sent per node per protocol period (bytes include reliable exchanges).
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from swimcore import (
    Action,
    MemberAlive,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberSuspected,
    MemberUpdated,
    Node,
    State,
)
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.network import UP, Host

_KIND = {
    MemberSuspected: "suspect",
    MemberFailed: "dead",
    MemberLeft: "left",
    MemberJoined: "alive",
    MemberAlive: "alive",
    MemberUpdated: "alive",
}


@attrs.define(slots=True)
class _Crash:
    index: int
    name: str
    time: float
    #: Survivors (running at the crash) by name, with the life they were in.
    survivors: dict[str, int]
    declared: dict[str, float] = attrs.field(factory=dict)
    informed: dict[str, float] = attrs.field(factory=dict)
    restarted: float | None = None


@attrs.define(slots=True)
class _Update:
    origin: float
    population: int
    times: list[float] = attrs.field(factory=list)


@attrs.frozen(slots=True)
class Detection:
    """How one crash was detected (latencies in seconds; ``None`` until every survivor did)."""

    name: str
    crashed_at: float
    survivors: int
    detected_by: int
    first: float | None
    all: float | None
    #: Failure news (suspect or dead) reaching the survivors: fraction after each period.
    curve: tuple[float, ...]
    #: When the crashed node was restarted, if it was (detection may then stay incomplete).
    restarted_at: float | None = None
    #: Each survivor's declaration latency, sorted (seconds after the crash).
    latencies: tuple[float, ...] = ()
    #: When the first survivor suspected it (SWIM's "detection"; then the suspicion runs).
    first_suspicion: float | None = None
    #: When every survivor had heard the failure news (suspect or dead), if all had.
    informed_all: float | None = None


@attrs.frozen(slots=True)
class Dissemination:
    """How one update spread: the fraction of nodes that knew it after each period."""

    kind: str
    subject: str
    incarnation: int
    origin: float
    population: int
    informed: int
    curve: tuple[float, ...]

    def periods_to(self, fraction: float) -> int | None:
        """Whole protocol periods until at least ``fraction`` of the nodes knew it."""
        for period, value in enumerate(self.curve):
            if value >= fraction:
                return period
        return None


@attrs.frozen(slots=True)
class Report:
    """Everything one run measured."""

    nodes: int
    duration: float
    probe_interval: float
    detections: tuple[Detection, ...]
    updates: tuple[Dissemination, ...]
    false_suspicions: int
    false_deaths: int
    falsely_suspected: int
    falsely_dead: int
    datagrams_per_node_period: float
    #: Everything a node sent: datagrams plus reliable exchanges (requests and replies).
    bytes_per_node_period: float
    #: The reliable-exchange part of :attr:`bytes_per_node_period` (push-pull, joins, healing).
    exchange_bytes_per_node_period: float
    network: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


class Recorder:
    """Collects a :class:`Report` from a running :class:`SimCluster`."""

    def __init__(self, cluster: SimCluster, *, updates: bool = True) -> None:
        self.cluster = cluster
        self.track_updates = updates
        self.started = cluster.now
        self.crashes: list[_Crash] = []
        self.false_suspicions = 0
        self.false_deaths = 0
        self._falsely_suspected: dict[str, None] = {}
        self._falsely_dead: dict[str, None] = {}
        self._open: dict[str, _Crash] = {}
        self._updates: dict[tuple[str, str, int], _Update] = {}
        #: Names of nodes started and running (a node added but not yet joined is not).
        self._live: dict[str, None] = {
            h.node.name: None
            for h in cluster.hosts
            if h.status == UP and h.node.next_deadline() is not None
        }
        self._index_of: dict[str, int] = {h.node.name: h.index for h in cluster.hosts}
        cluster.net.observers.append(self.on_action)
        cluster.net.lifecycle.append(self.on_lifecycle)

    # ------------------------------------------------------------------------------ hooks

    def on_lifecycle(self, now: float, host: Host, what: str) -> None:
        name = host.node.name
        if what == "add":
            self._index_of[name] = host.index
        elif what in ("start", "join", "restart"):
            self._live[name] = None
            crash = self._open.pop(name, None) if what == "restart" else None
            if crash is not None:
                crash.restarted = now
        elif what in ("crash", "stop"):
            self._live.pop(name, None)
        if what == "crash" and host.index not in self.cluster.leaving:
            # (A leaver that crashes while lingering is reported as left, not detected.)
            survivors = {
                h.node.name: h.life
                for h in self.cluster.hosts
                if h.status == UP and h is not host and h.index not in self.cluster.leaving
            }
            crash = _Crash(host.index, name, now, survivors)
            for survivor in survivors:
                member = self.cluster.net.by_name[survivor].node.member(name)
                if member is None or member.state in (State.DEAD, State.LEFT):
                    crash.declared[survivor] = now
                    crash.informed[survivor] = now
            self.crashes.append(crash)
            self._open[name] = crash

    def on_action(self, now: float, node: Node, action: Action) -> None:
        kind = _KIND.get(type(action))
        if kind is None:
            return
        member = action.member  # type: ignore[union-attr]
        subject = member.name
        if kind in ("suspect", "dead"):
            index = self._index_of.get(subject)
            if index is not None and index not in self.cluster.ever_failed:
                if kind == "suspect":
                    self.false_suspicions += 1
                    self._falsely_suspected[subject] = None
                else:
                    self.false_deaths += 1
                    self._falsely_dead[subject] = None
            crash = self._open.get(subject)
            if crash is not None and node.name in crash.survivors:
                crash.informed.setdefault(node.name, now)
                if kind == "dead":
                    crash.declared.setdefault(node.name, now)
        if self.track_updates and subject != node.name:
            key = (kind, subject, member.incarnation)
            update = self._updates.get(key)
            if update is None:
                others = len(self._live) - (1 if subject in self._live else 0)
                update = self._updates[key] = _Update(now, max(1, others))
            update.times.append(now)

    # ----------------------------------------------------------------------------- report

    def report(self, *, max_periods: int = 60) -> Report:
        cluster = self.cluster
        period = cluster.config.probe_interval
        duration = cluster.now - self.started
        detections = tuple(self._detection(c, period, max_periods) for c in self.crashes)
        updates = tuple(
            Dissemination(
                kind,
                subject,
                incarnation,
                u.origin,
                max(u.population, len(u.times)),
                len(u.times),
                _curve(u.origin, u.times, max(u.population, len(u.times)), period, max_periods),
            )
            for (kind, subject, incarnation), u in self._updates.items()
        )
        hosts = cluster.hosts
        periods = max(duration / period, 1e-9)
        count = max(1, len(hosts))
        sent = sum(h.sent for h in hosts)
        exchange_bytes = sum(h.exchange_bytes for h in hosts)
        sent_bytes = sum(h.sent_bytes for h in hosts) + exchange_bytes
        return Report(
            nodes=len(hosts),
            duration=duration,
            probe_interval=period,
            detections=detections,
            updates=updates,
            false_suspicions=self.false_suspicions,
            false_deaths=self.false_deaths,
            falsely_suspected=len(self._falsely_suspected),
            falsely_dead=len(self._falsely_dead),
            datagrams_per_node_period=sent / count / periods,
            bytes_per_node_period=sent_bytes / count / periods,
            exchange_bytes_per_node_period=exchange_bytes / count / periods,
            network=dict(sorted(cluster.net.counts.items())),
        )

    def _detection(self, crash: _Crash, period: float, max_periods: int) -> Detection:
        net = self.cluster.net
        survivors = [
            name
            for name, life in crash.survivors.items()
            if net.by_name[name].status == UP and net.by_name[name].life == life
        ]
        declared = [
            crash.declared[name] - crash.time for name in survivors if name in crash.declared
        ]
        informed = [crash.informed[name] for name in survivors if name in crash.informed]
        complete = len(declared) == len(survivors)
        return Detection(
            name=crash.name,
            crashed_at=crash.time,
            survivors=len(survivors),
            detected_by=len(declared),
            first=min(declared) if declared else None,
            all=max(declared) if complete and declared else (0.0 if complete else None),
            curve=_curve(crash.time, informed, max(1, len(survivors)), period, max_periods),
            restarted_at=crash.restarted,
            latencies=tuple(sorted(declared)),
            first_suspicion=min(informed) - crash.time if informed else None,
            informed_all=(
                max(informed) - crash.time if informed and len(informed) == len(survivors) else None
            ),
        )


def _curve(
    origin: float, times: list[float], population: int, period: float, max_periods: int
) -> tuple[float, ...]:
    """Fraction of ``population`` informed by ``origin + p * period`` for p = 0, 1, ...
    (stops once everyone is informed or after ``max_periods``)."""
    if not times:
        return (0.0,)
    ordered = sorted(times)
    out = []
    done = 0
    last = min(max_periods, math.ceil((ordered[-1] - origin) / period) + 1)
    for p in range(last + 1):
        limit = origin + p * period + 1e-9
        while done < len(ordered) and ordered[done] <= limit:
            done += 1
        out.append(min(1.0, done / population))
        if done == len(ordered):
            break
    return tuple(out)
