"""Large simulated clusters: memory per node stays flat, joins converge, crashes are detected.

The 1,000-node join and the 10,000-node crash are behind ``SWIMCORE_SLOW=1``; they print what
they measured (simulated and CPU time) and assert only outcomes, never timings.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import pytest

from swimcore import Config
from swimcore.roster import Roster, RosterTable
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.metrics import Recorder
from swimcore.transports.sim.ops import Crash


def _traced_bytes_per_node(size: int) -> float:
    tracemalloc.start()
    try:
        cluster = SimCluster(size, seed=1, trace=False)
        cluster.run_for(2.0)
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current / size


def test_a_bootstrapped_node_costs_the_same_memory_at_any_cluster_size() -> None:
    small, large = _traced_bytes_per_node(200), _traced_bytes_per_node(1000)
    # Without the shared roster each node would hold 1,000 records (over 200 KiB).
    assert large < 32 * 1024
    assert large < 1.5 * small


def test_bootstrapped_nodes_share_one_roster() -> None:
    cluster = SimCluster(50, seed=2)
    tables = [t for host in cluster.hosts if isinstance(t := host.node._table, RosterTable)]
    assert len(tables) == len(cluster.hosts)
    assert len({id(t._base) for t in tables}) == 1
    cluster.run_for(5.0)
    # Each node copied only what it heard news about.
    own = [len(t._own) for t in tables]
    assert max(own) < 50


def test_a_roster_start_is_the_same_cluster_as_a_list_start() -> None:
    """A roster only changes how records are stored: every node knows every member alive."""
    members = [(f"n{i}", SimCluster(1).node(0).address) for i in range(1)]
    assert list(Roster(members)) == members
    cluster = SimCluster(30, seed=3)
    for host in cluster.hosts:
        assert len(host.node.members()) == 30
        assert host.node.leader is not None
        assert host.node.leader.name == cluster.node(29).name  # highest address


def _join(size: int, seed: int) -> tuple[SimCluster, float | None, float]:
    started = time.process_time()
    cluster = SimCluster(size, seed=seed, bootstrap=False, seeds=3, join_spread=0.01, trace=False)
    formed = None
    while cluster.now < 300.0:
        cluster.run_for(1.0)
        if all(len(h.node.members()) == size for h in cluster.hosts):
            formed = cluster.now
            break
    return cluster, formed, time.process_time() - started


def _identical_views(cluster: SimCluster) -> bool:
    views = {tuple(sorted(m.name for m in h.node.members())) for h in cluster.hosts}
    return len(views) == 1


def test_200_nodes_joining_through_three_seeds_converge_to_identical_views() -> None:
    cluster, formed, _ = _join(200, seed=4)
    assert formed is not None
    assert _identical_views(cluster)


@pytest.mark.slow
def test_1000_nodes_joining_through_three_seeds_converge_to_identical_views(
    record_property: Callable[..., None],
) -> None:
    cluster, formed, cpu = _join(1000, seed=1)
    print(
        f"\n1,000 nodes joined through 3 seeds: complete after {formed} s simulated, "
        f"{cpu:.0f} s CPU"
    )
    record_property("formed_simulated", formed)
    record_property("formed_cpu", cpu)
    assert formed is not None
    assert _identical_views(cluster)


def test_a_crash_in_500_bootstrapped_nodes_is_declared_by_every_survivor() -> None:
    cluster = SimCluster(500, seed=5, trace=False, config=Config.lan())
    recorder = Recorder(cluster, updates=False)
    cluster.schedule([(3.0, Crash(123))])
    cluster.run_for(30.0)
    detection = recorder.report().detections[0]
    assert detection.survivors == 499
    assert detection.detected_by == 499
    assert detection.first_suspicion is not None and detection.informed_all is not None


@pytest.mark.long
@pytest.mark.slow
def test_a_crash_in_10000_bootstrapped_nodes_is_declared_by_every_survivor(
    record_property: Callable[..., None],
) -> None:
    started = time.process_time()
    # SWIM alone: with push-pull on, 10,000-row exchanges cost 6x the CPU (benchmarks/README.md).
    cluster = SimCluster(10_000, seed=1, trace=False, config=Config.lan(push_pull_interval=0))
    recorder = Recorder(cluster, updates=False)
    cluster.schedule([(5.0, Crash(3333))])
    while cluster.now < 60.0:
        cluster.run_for(1.0)
        crashes = recorder.crashes
        if crashes and len(crashes[0].declared) >= len(crashes[0].survivors):
            break
    detection = recorder.report().detections[0]
    cpu = time.process_time() - started
    print(
        f"\n10,000 nodes: first suspicion {detection.first_suspicion:.2f} s, first dead "
        f"{detection.first} s, all dead {detection.all} s after the crash; {cpu:.0f} s CPU"
    )
    record_property("cpu", cpu)
    assert detection.detected_by == detection.survivors == 9999
