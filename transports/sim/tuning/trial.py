"""One simulated trial of one candidate configuration: crashes, stalls and quiet time in turn.

A trial runs a bootstrapped :class:`~swimcore.transports.sim.cluster.SimCluster` of ``plan.nodes``
members over the user's links (latency, jitter, loss) and walks through a fixed sequence of
*episodes*, one at a time, each followed by a quiet gap of ``plan.gap_periods`` protocol periods:

* a **crash** episode crashes a random member, waits until every survivor has declared it dead
  (or a cap), restarts it at a higher incarnation and waits until everyone lists it alive;
* a **stall** episode pauses a random member for a drawn length, then waits until every other
  member lists it alive again (or a cap).

Running episodes one at a time makes attribution simple: a false suspicion or death that starts
during a stall episode is the stall's doing (the stalled member suspected, or, waking up late,
suspecting others), one that starts in a quiet gap is background (loss and jitter, rated per
member-second of gap), one during a crash episode is not rated (the user gives no crash rate),
and bytes sent during the gaps are the steady cost.

Stall lengths are drawn by importance sampling, so that rare long stalls (the ones that kill)
are seen often enough to measure: half of the stalls follow the real length distribution, half a
log-uniform spread around the candidate's death threshold, and each carries the weight
``real density / proposal density`` (at most 2).  The estimate of any per-stall quantity is the
weighted mean, which is unbiased for the real distribution.  Each sample keeps the proposal
density, so that the estimate can re-weigh it as a longer real stall when it extrapolates to a
larger cluster (see ``estimate``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import attrs

from swimcore import Action, Config, MemberFailed, MemberSuspected, Node, State
from swimcore.messages import Alive, Gossip, MemberState, Packet, PushPull
from swimcore.timing import suspicion_min
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.network import UP, Host
from swimcore.transports.sim.ops import Crash, Pause, Restart
from swimcore.transports.sim.rng import derive_rng
from swimcore.transports.sim.tuning.model import NetworkModel
from swimcore.wire.native.codec import encode_packet, encode_push_pull, encode_update

#: Bytes of the TCP frame around each exchange payload (transports/framing.py).
FRAME_BYTES = 4


@attrs.frozen(slots=True, kw_only=True)
class TrialPlan:
    """How each trial is laid out (independent of the candidate)."""

    #: Members simulated.
    nodes: int
    #: Members of the real cluster the results are extrapolated to.
    target_nodes: int
    crashes: int = 3
    stalls: int = 16
    #: Quiet protocol periods after each episode (and before the first).
    gap_periods: int = 6
    #: Periods an episode stays open after it settled, so its last retransmissions count to it.
    tail_periods: int = 2
    #: Give up waiting for an episode to settle after this many periods past its natural end.
    settle_periods: int = 40


def scale_ratio(nodes: int, target: int) -> float:
    """``max(1, log10 target) / max(1, log10 nodes)``: how the suspicion timeout grows from the
    simulated size to the target (and, for ``nodes >= 10``, how O(log n) dissemination grows)."""
    if target <= nodes:
        return 1.0
    return max(1.0, math.log10(target)) / max(1.0, math.log10(nodes))


def first_probe_time(config: Config) -> float:
    """About when a silent member's first failed probe ends (one period plus the timeout)."""
    return config.probe_interval + config.probe_timeout


def death_threshold(config: Config, nodes: int) -> float:
    """Roughly the shortest stall that gets a member declared dead in a cluster of ``nodes``:
    first failed probe, then the minimum suspicion timeout, then the last-chance probe."""
    timeout = suspicion_min(config.suspicion_mult, nodes, config.probe_interval)
    return first_probe_time(config) + timeout + config.probe_timeout


@attrs.frozen(slots=True)
class StallProposal:
    """The importance-sampling proposal for one candidate: half the real distribution, half
    log-uniform on ``[low, high]`` around the candidate's death threshold (fixed-length stalls
    are simply drawn at their length)."""

    network: NetworkModel
    low: float
    high: float

    @classmethod
    def build(cls, network: NetworkModel, config: Config, plan: TrialPlan) -> StallProposal:
        threshold = death_threshold(config, plan.nodes)
        return cls(network, threshold / 2.0, threshold * 3.0)

    def density(self, length: float) -> float:
        """The proposal's density at ``length``."""
        spread = 0.0
        if self.low <= length <= self.high:
            spread = 1.0 / (length * math.log(self.high / self.low))
        return 0.5 * self.network.stall_density(length) + 0.5 * spread

    def draw(self, rng: random.Random) -> tuple[float, float, float]:
        """One stall: its length, its weight (real density / proposal density) and the
        proposal density (so that the weight can be recomputed for a shifted length)."""
        if self.network.stall_shape == "fixed":
            return self.network.stall_length, 1.0, 0.0
        if rng.random() < 0.5:
            length = self.network.draw_stall(rng)
        else:
            length = self.low * math.exp(rng.random() * math.log(self.high / self.low))
        density = self.density(length)
        return length, self.network.stall_density(length) / density, density


@attrs.frozen(slots=True)
class CrashSample:
    """One crash, times in seconds after it; ``None`` where it did not happen before the cap."""

    #: First survivor to hear of the failure (suspect or dead).
    first_suspicion: float | None
    #: First survivor to declare it dead.
    first_dead: float | None
    #: Every survivor had declared it dead (the cap when some never did: see ``complete``).
    all_dead: float
    #: Every survivor had heard of the failure.
    informed_all: float | None
    complete: bool


@attrs.frozen(slots=True)
class StallSample:
    """One stall episode."""

    #: Simulated length, importance weight and the proposal density it was drawn from (0 for
    #: fixed-length stalls, which are not importance-sampled).
    length: float
    weight: float
    density: float
    #: False suspicion and death episodes (distinct member and incarnation) that started
    #: during the episode, mostly of the stalled member.
    suspicions: int
    deaths: int
    #: Datagram bytes every member sent during the episode, and member-seconds it lasted.
    bytes: int
    member_seconds: float


@attrs.frozen(slots=True)
class GapSample:
    """One quiet gap between episodes: the steady cost and the background false alarms."""

    #: Datagram bytes and packets every member sent during the gap.
    bytes: int
    packets: int
    member_seconds: float
    #: False suspicion and death episodes that started during the gap.
    suspicions: int
    deaths: int


@attrs.frozen(slots=True)
class TrialResult:
    """Everything one trial measured."""

    nodes: int
    probe_interval: float
    crashes: tuple[CrashSample, ...]
    stalls: tuple[StallSample, ...]
    gaps: tuple[GapSample, ...]
    #: Encoded size of one membership update and of an empty packet (header and checksum).
    update_bytes: int
    packet_overhead: int
    #: Size of a full-state exchange payload: fixed part and bytes per member row.
    exchange_overhead: int
    exchange_row: float
    simulated: float


@attrs.define(slots=True)
class _Episode:
    kind: str
    index: int
    name: str
    start: float
    #: For crashes: survivors (names) and the incarnation the victim had.
    survivors: list[str] = attrs.field(factory=list)
    incarnation: int = 0
    informed: dict[str, float] = attrs.field(factory=dict)
    declared: dict[str, float] = attrs.field(factory=dict)
    #: For stalls: length, weight, episodes seen.
    length: float = 0.0
    weight: float = 0.0
    density: float = 0.0
    suspicions: int = 0
    deaths: int = 0
    bytes_at_start: int = 0
    phase: str = "run"
    cap: float = 0.0


class _Trial:
    """The episode state machine driving one cluster."""

    def __init__(
        self,
        config: Config,
        network: NetworkModel,
        plan: TrialPlan,
        seed: int,
    ) -> None:
        self.config = config
        self.network = network
        self.plan = plan
        self.period = config.probe_interval
        self.cluster = SimCluster(
            plan.nodes, seed=seed, config=config, faults=network.faults(), trace=False
        )
        self.net = self.cluster.net
        self.rng = derive_rng(seed, "tune-trial")
        self.proposal = StallProposal.build(network, config, plan)
        kinds = _interleave(plan.crashes, plan.stalls if network.stalls else 0)
        self.todo = list(reversed(kinds))
        self.episode: _Episode | None = None
        self.finished = False
        self.crash_samples: list[CrashSample] = []
        self.stall_samples: list[StallSample] = []
        self.seen: dict[tuple[str, str, int], None] = {}
        #: Names whose events are the truth (crashed), with the incarnation they died at.
        self.crashed: dict[str, int] = {}
        #: Restarted members: events at or below this incarnation are echoes of the crash.
        self.buried: dict[str, int] = {}
        self.gap_samples: list[GapSample] = []
        self.gap_start: tuple[float, int, int] | None = None
        self.gap_events = {"suspect": 0, "dead": 0}
        self.net.observers.append(self._on_action)
        self.max_timeout = (
            suspicion_min(config.suspicion_mult, plan.nodes, self.period)
            * config.suspicion_max_mult
        )

    # ---------------------------------------------------------------------------- running

    def run(self) -> TrialResult:
        # A warm-up gap, not measured: every member gossips its own alive when it starts.
        self._later(self.plan.gap_periods * self.period, self._gap)
        limit = self._time_limit()
        while not self.finished and self.net.now < limit:
            self.net.run_for(10 * self.period)
        end = self.net.now
        node = self.cluster.node(0)
        overhead, row = _exchange_size(node)
        update = encode_update(Alive(node.name, node.address, 1))
        return TrialResult(
            nodes=self.plan.nodes,
            probe_interval=self.period,
            crashes=tuple(self.crash_samples),
            stalls=tuple(self.stall_samples),
            gaps=tuple(self.gap_samples),
            update_bytes=len(update),
            packet_overhead=len(encode_packet(Packet(self.config.label, Gossip()))),
            exchange_overhead=overhead,
            exchange_row=row,
            simulated=end,
        )

    def _time_limit(self) -> float:
        per_episode = (
            self.plan.gap_periods * self.period
            + 2 * self.max_timeout
            + 2 * self.plan.settle_periods * self.period
            + self.proposal.high
        )
        return (len(self.todo) + 1) * per_episode + 60.0

    def _later(self, delay: float, call: Callable[[], None]) -> None:
        self.net.at(self.net.now + delay, call)

    def _totals(self) -> tuple[int, int]:
        hosts = self.net.host_list
        return sum(h.sent_bytes for h in hosts), sum(h.sent for h in hosts)

    def _running(self) -> list[Host]:
        return [h for h in self.net.host_list if h.status == UP]

    # --------------------------------------------------------------------------- episodes

    def _gap(self) -> None:
        sent, packets = self._totals()
        self.gap_start = (self.net.now, sent, packets)
        self.gap_events = {"suspect": 0, "dead": 0}
        self._later(self.plan.gap_periods * self.period, self._gap_over)

    def _gap_over(self) -> None:
        assert self.gap_start is not None
        began, sent, packets = self.gap_start
        now_sent, now_packets = self._totals()
        self.gap_samples.append(
            GapSample(
                bytes=now_sent - sent,
                packets=now_packets - packets,
                member_seconds=len(self._running()) * (self.net.now - began),
                suspicions=self.gap_events["suspect"],
                deaths=self.gap_events["dead"],
            )
        )
        self.gap_start = None
        if not self.todo:
            self.finished = True
            return
        kind = self.todo.pop()
        if kind == "crash":
            self._crash()
        else:
            self._stall()

    def _pick(self) -> Host:
        hosts = [h for h in self._running() if not h.paused]
        return hosts[self.rng.randrange(len(hosts))]

    def _crash(self) -> None:
        host = self._pick()
        name = host.node.name
        episode = _Episode("crash", host.index, name, self.net.now)
        episode.survivors = [h.node.name for h in self._running() if h is not host]
        episode.incarnation = host.node.incarnation
        episode.cap = self.net.now + 2 * self.max_timeout + self.plan.settle_periods * self.period
        self.crashed[name] = episode.incarnation
        self.episode = episode
        self.cluster.apply(Crash(host.index))
        self._later(self.period, self._poll_crash)

    def _poll_crash(self) -> None:
        episode = self.episode
        assert episode is not None
        now = self.net.now
        if episode.phase == "run":
            alive = [n for n in episode.survivors if self.net.by_name[n].status == UP]
            for name in alive:
                if name not in episode.declared and self._holds_dead(name, episode):
                    # Declared dead without MemberFailed: a member that came back while
                    # unstable was held out (flap damping), so its death is not reported again.
                    episode.informed.setdefault(name, now)
                    episode.declared[name] = now
            if all(n in episode.declared for n in alive) or now >= episode.cap:
                self._crash_sample(episode, alive)
                episode.phase = "rejoin"
                episode.start = now
                episode.cap = now + self.plan.settle_periods * self.period + self.max_timeout
                self.cluster.apply(Restart(episode.index, bump=True))
                del self.crashed[episode.name]
                self.buried[episode.name] = episode.incarnation
        elif self._everyone_sees_alive(episode.name, episode.incarnation) or now >= episode.cap:
            self._later(self.plan.tail_periods * self.period, self._close)
            return
        self._later(self.period, self._poll_crash)

    def _holds_dead(self, name: str, episode: _Episode) -> bool:
        """Whether ``name``'s table holds the crashed member dead at its crashed incarnation."""
        member = self.net.by_name[name].node.member(episode.name)
        return (
            member is not None
            and member.state is State.DEAD
            and member.incarnation >= episode.incarnation
        )

    def _crash_sample(self, episode: _Episode, alive: list[str]) -> None:
        start = episode.start
        informed = [episode.informed[n] - start for n in alive if n in episode.informed]
        declared = [episode.declared[n] - start for n in alive if n in episode.declared]
        complete = len(declared) == len(alive)
        self.crash_samples.append(
            CrashSample(
                first_suspicion=min(informed) if informed else None,
                first_dead=min(declared) if declared else None,
                all_dead=max(declared) if complete and declared else self.net.now - start,
                informed_all=max(informed) if len(informed) == len(alive) else None,
                complete=complete,
            )
        )

    def _stall(self) -> None:
        host = self._pick()
        length, weight, density = self.proposal.draw(self.rng)
        episode = _Episode("stall", host.index, host.node.name, self.net.now)
        episode.length = length
        episode.weight = weight
        episode.density = density
        episode.incarnation = host.node.incarnation
        episode.bytes_at_start = self._totals()[0]
        self.episode = episode
        self.cluster.apply(Pause(host.index, length))
        episode.cap = (
            self.net.now
            + length
            + max(self.max_timeout, self.config.push_pull_interval)
            + self.plan.settle_periods * self.period
        )
        self._later(length + self.period, self._poll_stall)

    def _poll_stall(self) -> None:
        episode = self.episode
        assert episode is not None
        now = self.net.now
        if self._everyone_sees_alive(episode.name, -1) or now >= episode.cap:
            self._later(self.plan.tail_periods * self.period, self._close)
            return
        self._later(self.period, self._poll_stall)

    def _close(self) -> None:
        """End the current episode once its last updates had time to finish spreading."""
        episode = self.episode
        assert episode is not None
        lasted = self.net.now - episode.start
        if episode.kind == "stall":
            self.stall_samples.append(
                StallSample(
                    length=episode.length,
                    weight=episode.weight,
                    density=episode.density,
                    suspicions=episode.suspicions,
                    deaths=episode.deaths,
                    bytes=self._totals()[0] - episode.bytes_at_start,
                    member_seconds=len(self._running()) * lasted,
                )
            )
        self.episode = None
        self._gap()

    def _everyone_sees_alive(self, name: str, above: int) -> bool:
        for host in self._running():
            node = host.node
            if node.name == name:
                continue
            member = node.member(name)
            if member is None or member.state != State.ALIVE or member.incarnation <= above:
                return False
        return True

    # --------------------------------------------------------------------------- counting

    def _on_action(self, now: float, node: Node, action: Action) -> None:
        if isinstance(action, MemberSuspected):
            kind = "suspect"
        elif isinstance(action, MemberFailed):
            kind = "dead"
        else:
            return
        subject = action.member.name
        incarnation = action.member.incarnation
        episode = self.episode
        if subject in self.crashed:
            if episode is not None and episode.name == subject and episode.phase == "run":
                episode.informed.setdefault(node.name, now)
                if kind == "dead":
                    episode.declared.setdefault(node.name, now)
            return
        if incarnation <= self.buried.get(subject, -1):
            return  # news of a crash already counted, reaching someone late
        key = (kind, subject, incarnation)
        if key in self.seen:
            return
        self.seen[key] = None
        if episode is not None:
            # Whatever starts during a stall is the stall's doing (the stalled member suspected,
            # or, waking up late, suspecting others); during a crash it is the crash's, which
            # the tuner does not rate (the user gives no crash rate).
            if episode.kind == "stall":
                if kind == "suspect":
                    episode.suspicions += 1
                else:
                    episode.deaths += 1
        elif self.gap_start is not None:
            self.gap_events[kind] += 1


def _interleave(crashes: int, stalls: int) -> list[str]:
    """Episode kinds in order, crashes spread evenly among the stalls."""
    total = crashes + stalls
    out: list[str] = []
    placed = 0
    for i in range(total):
        due = math.floor((i + 1) * crashes / total + 1e-9) if total else 0
        if due > placed:
            out.append("crash")
            placed += 1
        else:
            out.append("stall")
    return out


def _exchange_size(node: Node) -> tuple[int, float]:
    """(fixed bytes, bytes per member row) of a full-state exchange payload from ``node``."""
    rows = tuple(
        MemberState(m.name, m.address, m.incarnation, m.state, m.meta) for m in node.all_members()
    )
    label = node.config.label
    empty = len(encode_push_pull(PushPull(label, False, ()))) + FRAME_BYTES
    full = len(encode_push_pull(PushPull(label, False, rows))) + FRAME_BYTES
    return empty, (full - empty) / max(1, len(rows))


def run_trial(config: Config, network: NetworkModel, plan: TrialPlan, seed: int) -> TrialResult:
    """Run one trial of ``config`` on ``network`` laid out as ``plan``, under master ``seed``."""
    return _Trial(config, network, plan, seed).run()
