"""``swimcore.testing``: nodes wired in memory for users' own tests."""

from __future__ import annotations

import pytest

from swimcore import Config, ConfigError, MemberFailed, MemberJoined
from swimcore.testing import LinkFaults, MemoryNetwork, group, pair

CONFIG = Config.lan(label="t")


def story(seed: int) -> list[tuple[float, str]]:
    net, nodes = group(6, CONFIG, seed=seed, faults=LinkFaults(loss=0.05))
    net.crash(nodes[5])
    net.run_for(20.0)
    return [(t, repr(e)) for t, e in net.timed_events(nodes[0])]


def test_the_same_seed_gives_the_same_events_and_another_seed_may_not() -> None:
    assert story(3) == story(3)
    assert story(3) != story(4)


def test_a_group_is_settled_and_records_each_nodes_joins() -> None:
    net, nodes = group(4, CONFIG)
    assert net.converged()
    joined = {e.member.name for e in net.events(nodes[0]) if isinstance(e, MemberJoined)}
    assert joined == {n.name for n in nodes[1:]}


def test_a_crash_is_reported_to_every_survivor() -> None:
    net, nodes = group(5, CONFIG)
    net.crash(nodes[2])
    net.run_for(30.0)
    for node in (nodes[0], nodes[1], nodes[3], nodes[4]):
        failed = [e.member.name for e in net.events(node) if isinstance(e, MemberFailed)]
        assert failed == [nodes[2].name]
    assert net.converged()


def test_a_partition_splits_the_views_and_healing_joins_them() -> None:
    net, nodes = group(4, CONFIG)
    net.partition(nodes[:2], nodes[2:])
    net.run_for(60.0)
    assert not net.converged()
    assert sorted(m.name for m in nodes[0].members()) == sorted(n.name for n in nodes[:2])
    net.heal()
    took = net.settle(within=120.0)
    assert 0 < took <= 120.0


def test_settle_fails_with_every_view_when_the_group_cannot_converge() -> None:
    net, a, b = pair(CONFIG)
    net.partition([a], [b])
    net.run_for(60.0)
    with pytest.raises(AssertionError, match="no single view"):
        net.settle(within=5.0)


def test_events_are_bounded_per_node_keeping_the_newest() -> None:
    unbounded, _ = group(8, CONFIG)
    net = MemoryNetwork(keep=4)
    nodes = [net.add(node.__class__(CONFIG, node.address, seed=i)).node
             for i, node in enumerate(unbounded.running())]
    net.start(nodes[0])
    for node in nodes[1:]:
        net.join(node, [nodes[0].address])
    net.settle()
    everything = unbounded.events(unbounded.running()[0])
    kept = net.events(nodes[0])
    assert len(everything) > 4
    assert 0 < len(kept) <= 4
    assert kept[-1] == net.timed_events(nodes[0])[-1][1]
    joined_last = [e for e in kept if isinstance(e, MemberJoined)]
    assert joined_last and joined_last[-1].member.name != nodes[1].name


def test_group_refuses_an_empty_group() -> None:
    with pytest.raises(ConfigError, match="at least one"):
        group(0)
