"""Partial failures and the stability of views: Rapid's fault classes on the simulator.

The Rapid paper (Suresh et al., "Stable and Consistent Membership at Scale with Rapid", USENIX
ATC 2018) shows that SWIM-style membership keeps changing its views when a few members suffer
one-way reachability problems or heavy packet loss, where a stable service would remove the
faulty members once.  This module reproduces those fault classes on a
:class:`~swimcore.transports.sim.SimCluster` and measures what an application built on the
membership events would see:

* ``ingress-loss``: the faulty members lose ``rate`` of the datagrams sent to them;
* ``egress-loss``: they lose ``rate`` of the datagrams they send;
* ``one-way``: the faulty members cannot reach the others, the others still reach them;
* ``flapping``: the faulty members' links go down and up every ``flap`` seconds;
* ``reliable-blocked``: a firewall drops the reliable (TCP) channel to the faulty members while
  datagrams pass;
* ``datagram-blocked``: the reverse, a firewall drops every datagram sent to the faulty members
  while the reliable channel passes (what ``Config.tcp_fallback_probe`` rides over).

:func:`run_stability` runs one and returns a :class:`StabilityReport`;
:func:`stability_violations` checks it against the :class:`StabilityGoals` of its fault class
(:data:`GOALS`: issue 18's goals, which the stability mechanisms of :mod:`swimcore.stability`
meet and SWIM without them does not).
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

import attrs

from swimcore import (
    Action,
    Config,
    ConfigError,
    MemberAlive,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberStable,
    MemberSuspected,
    MemberUnstable,
    Node,
)
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.faults import Cut, LinkFaults
from swimcore.transports.sim.rng import derive_rng

__all__ = [
    "FAULTS",
    "GOALS",
    "HEADER",
    "StabilityGoals",
    "StabilityRecorder",
    "StabilityReport",
    "apply_fault",
    "header",
    "run_stability",
    "stability_violations",
]

FAULTS = (
    "ingress-loss",
    "egress-loss",
    "one-way",
    "flapping",
    "reliable-blocked",
    "datagram-blocked",
)
#: The header of the table :meth:`StabilityReport.row` fills (with a ``setting`` column when
#: the rows carry one: see :func:`header`).
HEADER = (
    "| fault | members | faulty | changes/pair/min (median) | (max) | healthy suspected |"
    " healthy unstable | healthy dead | faulty out of every view after | stayed out |"
    " views differ | longest | suspicions (protocol) |"
)
_VIEW_EVENTS = (
    MemberSuspected,
    MemberAlive,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberUnstable,
    MemberStable,
)


@attrs.frozen(slots=True)
class StabilityReport:
    """What healthy members saw while some members were faulty (rates per minute of fault).

    A healthy observer's *view* is what its events told the application: every member it
    knows, less those reported failed, left or unstable (and not since joined or stable again).
    """

    fault: str
    nodes: int
    faulty: int
    minutes: float
    #: View changes (suspected, alive, failed, joined, left, unstable, stable) of faulty
    #: members, per healthy observer per faulty member per minute: median and maximum.
    changes_per_pair_minute_median: float
    changes_per_pair_minute_max: float
    #: Suspicions of healthy members reported to healthy observers.
    healthy_suspicions: int
    #: Healthy members declared failed by a healthy observer.
    healthy_deaths: int
    #: Seconds from the fault's start until no healthy view holds a faulty member (None: never).
    removed_after: float | None
    #: Whether, once removed, the faulty members stayed out of every healthy view to the end.
    stayed_out: bool
    #: Seconds in which two healthy views differed, sampled once per protocol period.
    disagreement: float
    #: The longest stretch of such seconds (agreement "within" this long).
    longest_disagreement: float = 0.0
    #: Healthy members reported unstable to healthy observers (flap damping's false alarms).
    healthy_unstable: int = 0
    #: Suspicions the healthy observers' protocol started (of anyone, reported or not).
    protocol_suspicions: int = 0
    #: Which configuration ran (a label of the caller's).
    setting: str = ""

    def row(self) -> str:
        """One line of the results table in ``benchmarks/README.md``."""
        removed = "never" if self.removed_after is None else f"{self.removed_after:.0f} s"
        setting = f"{self.setting} | " if self.setting else ""
        return (
            f"| {self.fault} | {setting}{self.nodes} | {self.faulty} | "
            f"{self.changes_per_pair_minute_median:.1f} | {self.changes_per_pair_minute_max:.1f} | "
            f"{self.healthy_suspicions} | {self.healthy_unstable} | {self.healthy_deaths} | "
            f"{removed} | {'yes' if self.stayed_out else 'no'} | {self.disagreement:.0f} s | "
            f"{self.longest_disagreement:.0f} s | {self.protocol_suspicions} |"
        )


@attrs.frozen(slots=True)
class StabilityGoals:
    """What a stable membership shows under one fault class (checked by
    :func:`stability_violations`)."""

    #: The most view changes of a faulty member one healthy observer may see in the whole run.
    max_changes: int = 2
    #: Whether every faulty member must be out of every healthy view, and stay out.
    removed: bool = True
    #: The longest stretch in which healthy views may differ, in protocol periods.
    max_disagreement_periods: float = 2.0


#: The goals per fault class.  A member that loses most of what it hears or sends is removed
#: once (reported unstable, later perhaps failed) and stays out: at most 2 view changes per
#: healthy observer (issue 18's goal).  One cut off one way is suspected, then failed (2).  One
#: whose link goes down and up every few seconds is removed once and stays out, but may first
#: be declared dead and come back once when its link stays down about as long as the suspicion
#: timeout (failed, joined, then unstable: 3).  A member behind a firewall on the reliable
#: channel alone is healthy for SWIM (its datagrams pass) and must see no change at all; so must
#: one behind a firewall on datagrams alone, which the TCP fallback probe reaches.  In
#: every class no healthy member is suspected, reported unstable or declared dead, and healthy
#: views agree within 2 protocol periods.
GOALS: dict[str, StabilityGoals] = {
    "ingress-loss": StabilityGoals(),
    "egress-loss": StabilityGoals(),
    "one-way": StabilityGoals(),
    "flapping": StabilityGoals(max_changes=3),
    "reliable-blocked": StabilityGoals(max_changes=0, removed=False),
    "datagram-blocked": StabilityGoals(max_changes=0, removed=False),
}


def stability_violations(
    report: StabilityReport, period: float, goals: StabilityGoals | None = None
) -> list[str]:
    """How ``report`` misses ``goals`` (by default its fault class's :data:`GOALS`); empty
    when it meets them.  ``period`` is the protocol period the run used."""
    goals = goals or GOALS[report.fault]
    found: list[str] = []
    if report.healthy_suspicions or report.healthy_unstable or report.healthy_deaths:
        found.append(
            f"healthy members suspected {report.healthy_suspicions}, reported unstable "
            f"{report.healthy_unstable}, declared dead {report.healthy_deaths} times"
        )
    changes = round(report.changes_per_pair_minute_max * report.minutes)
    if changes > goals.max_changes:
        found.append(f"{changes} view changes for one observer (goal: {goals.max_changes})")
    if goals.removed and not (report.removed_after is not None and report.stayed_out):
        found.append("the faulty members were not removed from every healthy view for good")
    if report.longest_disagreement > goals.max_disagreement_periods * period + 1e-9:
        found.append(
            f"healthy views differed for {report.longest_disagreement:.1f} s in a row "
            f"(goal: {goals.max_disagreement_periods:g} periods of {period:g} s)"
        )
    return found


_OUT = (MemberFailed, MemberLeft, MemberUnstable)
_IN = (MemberJoined, MemberStable)


def header(*, setting: bool = False) -> str:
    """The results table's header and separator (``setting``: with the setting column)."""
    head = HEADER.replace("| fault |", "| fault | setting |") if setting else HEADER
    cells = head.count("|") - 1
    aligns = ["---"] + (["---"] if setting else []) + ["---:"] * (cells - 1 - int(setting))
    return head + "\n|" + "|".join(aligns) + "|"


class StabilityRecorder:
    """Counts, from the events of healthy observers, how the faulty members' standing changed.

    Each healthy observer's view is kept from its events (what left it), so that a sample
    costs O(1) however large the cluster: views agree when every observer's set of members
    out of view is the same.
    """

    def __init__(self, cluster: SimCluster, faulty: Sequence[int]) -> None:
        self.cluster = cluster
        self.faulty = frozenset(cluster.node(i).name for i in faulty)
        self.healthy = frozenset(
            cluster.node(i).name for i in cluster.running() if i not in set(faulty)
        )
        self.changes: dict[tuple[str, str], int] = {}
        self.healthy_suspicions = 0
        self.healthy_deaths = 0
        self.healthy_unstable = 0
        self.removed_at: float | None = None
        self.readmitted = False
        self.disagreement = 0.0
        self.longest = 0.0
        self._stretch = 0.0
        #: Per healthy observer, the members out of its view; and how many observers hold
        #: each distinct such set (views agree when there is one).
        self._out: dict[str, frozenset[str]] = {name: frozenset() for name in self.healthy}
        self._shapes: collections.Counter[frozenset[str]] = collections.Counter(
            {frozenset(): len(self.healthy)}
        )
        #: Observers whose view holds no faulty member.
        self._clear = 0 if self.faulty else len(self.healthy)
        self._suspicions_before = self._suspicions()
        cluster.net.observers.append(self.on_action)

    def _suspicions(self) -> int:
        return sum(
            self.cluster.node(i).counters().get("suspicions", 0)
            for i in self.cluster.running()
            if self.cluster.node(i).name in self.healthy
        )

    def protocol_suspicions(self) -> int:
        """Suspicions the healthy observers' protocol started since recording began."""
        return self._suspicions() - self._suspicions_before

    def on_action(self, now: float, node: Node, action: Action) -> None:
        if node.name not in self.healthy or not isinstance(action, _VIEW_EVENTS):
            return
        subject = action.member.name
        if subject in self.faulty:
            key = (node.name, subject)
            self.changes[key] = self.changes.get(key, 0) + 1
        elif isinstance(action, MemberSuspected):
            self.healthy_suspicions += 1
        elif isinstance(action, MemberFailed):
            self.healthy_deaths += 1
        elif isinstance(action, MemberUnstable):
            self.healthy_unstable += 1
        if isinstance(action, (*_OUT, *_IN)):
            self._move(node.name, subject, out=isinstance(action, _OUT))

    def _move(self, observer: str, subject: str, *, out: bool) -> None:
        before = self._out[observer]
        after = before | {subject} if out else before - {subject}
        if after == before:
            return
        self._out[observer] = after
        self._shapes[before] -= 1
        if not self._shapes[before]:
            del self._shapes[before]
        self._shapes[after] += 1
        was, now_clear = self.faulty <= before, self.faulty <= after
        self._clear += int(now_clear) - int(was)

    def sample(self, now: float, period: float) -> None:
        """Look at every healthy view (once per protocol period)."""
        if len(self._shapes) > 1:
            self.disagreement += period
            self._stretch += period
            self.longest = max(self.longest, self._stretch)
        else:
            self._stretch = 0.0
        everywhere = self._clear == len(self.healthy)
        if everywhere and self.removed_at is None:
            self.removed_at = now
        elif not everywhere and self.removed_at is not None:
            self.readmitted = True


def apply_fault(
    cluster: SimCluster,
    fault: str,
    faulty: Sequence[int],
    *,
    rate: float,
    start: float,
    end: float,
    flap: float = 5.0,
) -> None:
    """Schedule ``fault`` on the members ``faulty`` from ``start`` to ``end``."""
    if fault not in FAULTS:
        raise ConfigError(f"unknown fault {fault!r}: one of {', '.join(FAULTS)}")
    net = cluster.net
    bad = [cluster.node(i).address for i in faulty]
    good = [cluster.node(i).address for i in cluster.running() if i not in set(faulty)]
    lossy = LinkFaults(latency=net.faults.latency, jitter=net.faults.jitter, loss=rate)

    def begin() -> None:
        for address in bad:
            if fault == "ingress-loss":
                net.set_link(None, address, lossy)
            elif fault == "egress-loss":
                net.set_link(address, None, lossy)
        if fault == "one-way":
            net.partition(bad, good, both_ways=False)
        elif fault == "reliable-blocked":
            net.stream_cuts.append(Cut(frozenset(good), frozenset(bad)))
            net.stream_cuts.append(Cut(frozenset(bad), frozenset(good)))
        elif fault == "datagram-blocked":
            net.datagram_cuts.append(Cut(frozenset(good), frozenset(bad)))

    def finish() -> None:
        for address in bad:
            net.set_link(None, address, None)
            net.set_link(address, None, None)
        net.stream_cuts.clear()
        net.datagram_cuts.clear()
        net.heal()

    def cut_off() -> None:
        net.partition(bad, good)

    net.at(start, begin)
    if fault == "flapping":
        when, down = start, True
        while when < end:
            net.at(when, cut_off if down else finish)
            when += flap
            down = not down
    net.at(end, finish)


def run_stability(
    nodes: int,
    fault: str,
    *,
    faulty: int = 2,
    rate: float = 0.8,
    minutes: float = 10.0,
    seed: int = 1,
    config: Config | None = None,
    settle: float = 10.0,
    setting: str = "",
) -> StabilityReport:
    """``nodes`` members, ``faulty`` of them (chosen by ``seed``) under ``fault`` for
    ``minutes`` simulated minutes after ``settle`` seconds; the stability report."""
    config = config or Config.lan()
    cluster = SimCluster(nodes, seed=seed, config=config, trace=False)
    order = list(range(nodes))
    derive_rng(seed, "stability-faulty").shuffle(order)
    chosen = sorted(order[:faulty])
    start, end = settle, settle + 60.0 * minutes
    recorder = StabilityRecorder(cluster, chosen)
    apply_fault(cluster, fault, chosen, rate=rate, start=start, end=end)
    period = config.probe_interval
    when = start
    while when < end:
        cluster.run_until(when)
        recorder.sample(when, period)
        when += period
    cluster.run_until(end)
    pairs = [
        recorder.changes.get((observer, subject), 0)
        for observer in sorted(recorder.healthy)
        for subject in sorted(recorder.faulty)
    ]
    pairs.sort()
    median = pairs[len(pairs) // 2] if pairs else 0
    return StabilityReport(
        fault=fault,
        nodes=nodes,
        faulty=faulty,
        minutes=minutes,
        changes_per_pair_minute_median=median / minutes,
        changes_per_pair_minute_max=(pairs[-1] if pairs else 0) / minutes,
        healthy_suspicions=recorder.healthy_suspicions,
        healthy_deaths=recorder.healthy_deaths,
        removed_after=None if recorder.removed_at is None else recorder.removed_at - start,
        stayed_out=recorder.removed_at is not None and not recorder.readmitted,
        disagreement=recorder.disagreement,
        longest_disagreement=recorder.longest,
        healthy_unstable=recorder.healthy_unstable,
        protocol_suspicions=recorder.protocol_suspicions(),
        setting=setting,
    )
