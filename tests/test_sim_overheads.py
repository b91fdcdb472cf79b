"""The simulator's own costs stay linear in the cluster, and its traffic figures are complete."""

from __future__ import annotations

import functools
import gc

import pytest
from sim_helpers import FAST

from swimcore import (
    Address,
    Config,
    ConfigError,
    ExchangeRequest,
    MemberAlive,
    MemberFailed,
    MemberInfo,
    Node,
    State,
)
from swimcore.transports.gc_tuning import YOUNG_THRESHOLD
from swimcore.transports.sim.checkers import SafetyChecker
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.metrics import Recorder
from swimcore.transports.sim.network import SimNetwork
from swimcore.transports.sim.ops import Crash


def _records(checker: SafetyChecker) -> int:
    views = sum(len(v) for v in checker._views.values())
    bases = {id(b): len(b) for b in checker._bases.values()}
    return views + sum(bases.values())


def test_the_checker_holds_records_per_event_not_per_pair_of_members() -> None:
    """A bootstrapped cluster shares one seed view; each crash adds about one record per
    survivor (dead, and suspect before if the suspicion stood ``stability_suspect_hold``),
    not a copy of every table."""
    size = 150
    cluster = SimCluster(size, seed=4, config=FAST)
    checker = SafetyChecker(cluster.net)
    assert _records(checker) == size  # one shared base, no per-observer copies
    cluster.schedule([(1.0, Crash(7))])
    cluster.run_for(20.0)
    assert checker.transitions >= size - 1  # every survivor buried it
    assert not checker.violations
    assert _records(checker) <= size + 3 * checker.transitions
    assert _records(checker) < size * size // 10


def test_the_shared_seed_still_sees_a_resurrection() -> None:
    """Records read from the shared base are judged like owned ones: dead news followed by
    alive news at the same incarnation is caught."""
    cluster = SimCluster(5, seed=1, config=FAST)
    checker = SafetyChecker(cluster.net)
    node = cluster.node(0)
    other = cluster.node(1)
    dead = MemberInfo(other.name, other.address, 0, State.DEAD, b"")
    alive = MemberInfo(other.name, other.address, 0, State.ALIVE, b"")
    checker.on_action(1.0, node, MemberFailed(dead))
    checker.on_action(2.0, node, MemberAlive(alive))
    assert [v.rule for v in checker.violations] == ["resurrected at a dead incarnation"]
    # Another observer sharing the same base is unaffected by the first one's records.
    checker.on_action(3.0, cluster.node(2), MemberFailed(dead))
    assert len(checker.violations) == 1


def test_traffic_figures_include_the_reliable_exchanges() -> None:
    cluster = SimCluster(20, seed=2, config=Config.lan(push_pull_interval=2.0), trace=False)
    recorder = Recorder(cluster, updates=False)
    cluster.run_for(30.0)
    report = recorder.report()
    hosts = cluster.hosts
    periods = 30.0 / cluster.config.probe_interval
    datagram_bytes = sum(h.sent_bytes for h in hosts) / len(hosts) / periods
    assert cluster.net.counts.get("exchanges.completed", 0) > 0
    assert report.exchange_bytes_per_node_period > 0
    assert (
        abs(report.bytes_per_node_period - datagram_bytes - report.exchange_bytes_per_node_period)
        < 1e-6 * report.bytes_per_node_period
    )


def test_an_exchange_refused_by_a_crashed_member_builds_no_snapshot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reconnects to a member believed dead are refused at once; the full-state snapshot is
    built only for exchanges that connect (the request's data is read then) and for replies."""
    built = [0]
    original = Node._local_state  # asked once per snapshot, when its building starts

    def counting(self: Node, join: bool) -> bytes:
        built[0] += 1
        return original(self, join)

    monkeypatch.setattr(Node, "_local_state", counting)
    config = Config.lan(push_pull_interval=0.0, reconnect_interval=2.0)  # reconnects only
    cluster = SimCluster(12, seed=3, config=config, trace=False)
    cluster.schedule([(1.0, Crash(2))])
    cluster.run_for(40.0)
    counts = cluster.net.counts
    assert counts.get("exchanges.refused", 0) > 5
    connected = counts["exchanges"] - counts["exchanges.refused"] - counts.get("exchanges.cut", 0)
    assert built[0] == connected + counts.get("exchanges.answered", 0)


def test_a_deferred_exchange_carries_the_state_when_it_is_read() -> None:
    """The join exchange's snapshot is the node's state when the driver reads the data."""
    node = Node(Config.lan(), Address("10.0.0.1", 7946), name="a", seed=1)
    actions = node.join([Address("10.0.0.2", 7946)], 0.0)
    request = next(a for a in actions if isinstance(a, ExchangeRequest))
    node.set_metadata(b"late", 0.5)
    assert b"late" in request.data
    assert request.data is request.data  # built once


def _note_threshold(seen: list[tuple[int, int, int]]) -> None:
    seen.append(gc.get_threshold())


def test_the_loop_runs_with_fewer_young_collections_and_puts_the_collector_back() -> None:
    """While the loop runs, short-lived objects (datagrams in flight, timers) are collected
    young instead of reaching the oldest generation; the application's thresholds come back
    when it returns, and ``gc_young_threshold=None`` leaves them alone. Decisions are the
    same either way."""
    own = gc.get_threshold()
    digests = []
    try:
        gc.set_threshold(700, 10, 10)
        for young in (YOUNG_THRESHOLD, None):
            cluster = SimCluster(20, seed=3, config=FAST)
            cluster.net.gc_young_threshold = young
            seen: list[tuple[int, int, int]] = []
            cluster.net.at(1.0, functools.partial(_note_threshold, seen))
            cluster.schedule([(2.0, Crash(4))])
            cluster.run_for(15.0)
            expected = (700, 10, 10) if young is None else (YOUNG_THRESHOLD, 10, 10)
            assert seen == [expected]
            assert gc.get_threshold() == (700, 10, 10)
            digests.append(cluster.net.trace_digest)
    finally:
        gc.set_threshold(*own)
    assert digests[0] == digests[1]


@pytest.mark.parametrize("bad", [0, -700, 1.5, True, "7000"])
def test_a_young_threshold_that_is_not_a_count_is_refused(bad: object) -> None:
    with pytest.raises(ConfigError, match="gc_young_threshold"):
        SimNetwork(gc_young_threshold=bad)  # type: ignore[arg-type]
    net = SimNetwork()
    with pytest.raises(ConfigError, match="gc_young_threshold"):
        net.gc_young_threshold = bad  # type: ignore[assignment]
    assert net.gc_young_threshold == YOUNG_THRESHOLD


def test_a_node_keeps_its_state_in_slots_not_a_dictionary() -> None:
    """Past 29 attributes CPython gives each instance a dictionary of its own (1.6 KiB for a
    node), read for every attribute: the node, its parts and every attribute it sets are
    slots (an attribute set without one fails at once, in every test)."""
    node = Node(Config.lan(), Address("10.0.0.1", 7946), seed=1)
    node.start(0.0)
    node.join([Address("10.0.0.2", 7946)], 0.0)
    assert not hasattr(node, "__dict__")
    with pytest.raises(AttributeError):
        node.not_an_attribute = 1  # type: ignore[attr-defined]
