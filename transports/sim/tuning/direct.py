"""A plain simulation of the described deployment, to check the tuner's predictions against.

Where a trial (``trial``) runs episodes one at a time and over-samples long stalls, this runs
the deployment as it is: every member stalls as its own Poisson process at the real rate with
real lengths (stalls may overlap), links lose and delay datagrams, and a few members crash at
random times and restart once everyone has declared them dead.  It counts what the tuner
predicts: false suspicion and death episodes per member-day, detection times of the crashes
(every survivor declaring the crash; survivors that stalled meanwhile are left out, as in the
tuner: they learn when they wake), and bytes sent per member per second.  Nothing is weighted
or extrapolated, so it is the reference the predictions are checked against: in the tests (small
clusters) and in ``benchmarks/bench_tune.py`` (the extrapolation to large ones).
"""

from __future__ import annotations

import functools

import attrs

from swimcore import Action, Config, MemberFailed, MemberSuspected, Node
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.network import UP
from swimcore.transports.sim.ops import Crash, Pause, Restart
from swimcore.transports.sim.rng import derive_rng
from swimcore.transports.sim.tuning.model import SECONDS_PER_DAY, NetworkModel
from swimcore.transports.sim.tuning.trial import _exchange_size


@attrs.frozen(slots=True)
class DirectResult:
    """What one plain run measured."""

    nodes: int
    duration: float
    false_suspicions: int
    false_deaths: int
    member_days: float
    stalls: int
    #: Per crash: seconds until every survivor had declared it dead (None: not all did).
    detections: tuple[float | None, ...]
    datagram_bytes_per_second: float
    exchange_bytes_per_second: float

    @property
    def bytes_per_second(self) -> float:
        return self.datagram_bytes_per_second + self.exchange_bytes_per_second


def direct_run(
    config: Config,
    network: NetworkModel,
    nodes: int,
    duration: float,
    seed: int,
    *,
    crashes: int = 0,
) -> DirectResult:
    """Run ``nodes`` members for ``duration`` simulated seconds as described by ``network``."""
    cluster = SimCluster(nodes, seed=seed, config=config, faults=network.faults(), trace=False)
    net = cluster.net
    rng = derive_rng(seed, "tune-direct")
    seen: dict[tuple[str, str, int], None] = {}
    counts = {"suspect": 0, "dead": 0, "stalls": 0}
    doomed: dict[str, tuple[float, int, list[str], dict[str, float]]] = {}
    buried: dict[str, int] = {}
    detections: list[float | None] = []
    #: Each member's stalls as (start, end): a member stalled while a crash was being detected
    #: learns of it when it wakes, which the tuner's detection time leaves out.
    pauses: dict[str, list[tuple[float, float]]] = {}

    def on_action(now: float, node: Node, action: Action) -> None:
        if isinstance(action, MemberSuspected):
            kind = "suspect"
        elif isinstance(action, MemberFailed):
            kind = "dead"
        else:
            return
        subject, incarnation = action.member.name, action.member.incarnation
        crash = doomed.get(subject)
        if crash is not None:
            if kind == "dead":
                crash[3].setdefault(node.name, now)
            return
        if incarnation <= buried.get(subject, -1):
            return
        key = (kind, subject, incarnation)
        if key not in seen:
            seen[key] = None
            counts[kind] += 1

    net.observers.append(on_action)
    rate = network.stall_rate / 3600.0

    def stall(index: int) -> None:
        host = net.host_list[index]
        if host.status == UP and not host.paused and host.node.name not in doomed:
            counts["stalls"] += 1
            length = network.draw_stall(rng)
            pauses.setdefault(host.node.name, []).append((net.now, net.now + length))
            cluster.apply(Pause(index, length))
        net.at(net.now + rng.expovariate(rate), functools.partial(stall, index))

    if network.stalls:
        for index in range(nodes):
            net.at(rng.expovariate(rate), functools.partial(stall, index))

    def crash() -> None:
        candidates = [
            h
            for h in net.host_list
            if h.status == UP and not h.paused and h.node.name not in doomed
        ]
        host = candidates[rng.randrange(len(candidates))]
        name = host.node.name
        survivors = [h.node.name for h in net.host_list if h.status == UP and h is not host]
        doomed[name] = (net.now, host.node.incarnation, survivors, {})
        cluster.apply(Crash(host.index))
        net.at(net.now + config.probe_interval, functools.partial(check, host.index, name))

    def check(index: int, name: str) -> None:
        started, incarnation, survivors, declared = doomed[name]
        alive = [
            n
            for n in survivors
            if net.by_name[n].status == UP
            and not any(b > started and a < net.now for a, b in pauses.get(n, ()))
        ]
        if all(n in declared for n in alive):
            detections.append(max((declared[n] for n in alive), default=started) - started)
        elif net.now - started < 600.0:
            net.at(net.now + config.probe_interval, functools.partial(check, index, name))
            return
        else:
            detections.append(None)
        del doomed[name]
        buried[name] = incarnation
        cluster.apply(Restart(index, bump=True))

    for k in range(crashes):
        net.at(duration * (k + 0.5) / max(1, crashes), crash)
    cluster.run_until(duration)
    hosts = net.host_list
    datagrams = sum(h.sent_bytes for h in hosts) / (nodes * duration)
    exchanges = 0
    for host in hosts:
        counters = host.node.counters()
        exchanges += counters.get("exchanges_requested", 0) + counters.get("exchanges_answered", 0)
    overhead, row = _exchange_size(hosts[0].node)
    state = overhead + nodes * row
    return DirectResult(
        nodes=nodes,
        duration=duration,
        false_suspicions=counts["suspect"],
        false_deaths=counts["dead"],
        member_days=nodes * duration / SECONDS_PER_DAY,
        stalls=counts["stalls"],
        detections=tuple(detections),
        datagram_bytes_per_second=datagrams,
        exchange_bytes_per_second=exchanges * state / (nodes * duration),
    )
