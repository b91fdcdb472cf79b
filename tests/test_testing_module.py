"""``swimcore.testing``: nodes wired in memory for users' own tests."""

from __future__ import annotations

import math

import pytest

from swimcore import (
    Address,
    AddressError,
    ClockError,
    Config,
    ConfigError,
    MemberFailed,
    MemberJoined,
    Node,
    StateError,
)
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
    nodes = [
        net.add(node.__class__(CONFIG, node.address, seed=i)).node
        for i, node in enumerate(unbounded.running())
    ]
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


# ------------------------------------------------------------------ refused at once, typed


def test_events_of_a_node_not_in_the_network_are_refused_not_empty() -> None:
    net, nodes = group(3, CONFIG)
    stranger = Node(CONFIG, Address("127.0.0.1", 9000), seed=1)
    with pytest.raises(StateError, match=r"no node named '127.0.0.1:701'.*did you mean"):
        net.events("127.0.0.1:701")
    with pytest.raises(StateError, match="not in this network: add"):
        net.events(stranger)
    with pytest.raises(StateError, match="not in this network"):
        net.timed_events(stranger)
    assert net.events(nodes[1].name) == net.events(nodes[1])  # known nodes as before
    quiet = Node(CONFIG, Address("127.0.0.1", 9001), seed=2)
    net.add(quiet)
    assert net.events(quiet) == []  # added, not started: no events yet, and no error


def test_unknown_hosts_raise_a_state_error_saying_to_add_them() -> None:
    net, nodes = group(2, CONFIG)
    stranger = Node(CONFIG, Address("127.0.0.1", 9000), seed=1)
    with pytest.raises(StateError, match="no node named 'nope' in this network"):
        net.host("nope")
    with pytest.raises(StateError, match="no node named 'nope'"):
        net.crash("nope")
    with pytest.raises(StateError, match=r"no node at 127.0.0.1:9000 .*add\(\)"):
        net.host(Address("127.0.0.1", 9000))
    with pytest.raises(StateError, match=r"'127.0.0.1:9000' is not in this network: add\(\)"):
        net.join(stranger, [nodes[0].address])
    with pytest.raises(StateError, match="not in this network"):
        net.start(stranger)
    with pytest.raises(StateError, match="restart replaces the node at an address"):
        net.restart(stranger)
    with pytest.raises(StateError, match="not in this network"):
        net.pause(stranger, 1.0)


@pytest.mark.parametrize("duration", [math.inf, math.nan, -1.0])
def test_run_for_refuses_a_duration_it_cannot_run(duration: float) -> None:
    # No nodes: before the fix inf returned at once here (with nodes it never returned).
    net = MemoryNetwork()
    with pytest.raises(ClockError, match="run_for needs a finite number of seconds >= 0"):
        net.run_for(duration)
    assert net.now == 0.0


@pytest.mark.parametrize("until", [math.inf, -math.inf, math.nan, 2.0**41])
def test_run_until_refuses_a_time_the_nodes_cannot_reach(until: float) -> None:
    net = MemoryNetwork()
    with pytest.raises(ClockError, match="finite virtual time within"):
        net.run_until(until)
    assert net.now == 0.0


@pytest.mark.parametrize("when", [math.inf, math.nan])
def test_a_call_cannot_be_scheduled_at_a_time_that_is_not_finite(when: float) -> None:
    net = MemoryNetwork()
    with pytest.raises(ClockError, match=r"at\(\) needs a finite virtual time"):
        net.at(when, lambda: None)
    assert net.pending_events() == 0


def test_a_group_still_runs_for_a_while_and_to_a_time() -> None:
    net, _ = group(2, CONFIG)
    start = net.now
    net.run_for(0)
    net.run_for(1)
    net.run_until(start + 2.5)
    net.run_until(start)  # a time already past: nothing to do, as before
    assert net.now == start + 2.5


@pytest.mark.parametrize("duration", [math.nan, -1.0])
def test_pause_refuses_a_bad_duration(duration: float) -> None:
    net, nodes = group(2, CONFIG)
    with pytest.raises(ConfigError, match="a pause's duration must be a number of seconds >= 0"):
        net.pause(nodes[1], duration)
    assert not net.host(nodes[1]).paused


def test_an_endless_pause_lasts_until_resume() -> None:
    net, nodes = group(2, CONFIG)
    net.pause(nodes[1], math.inf)
    net.run_for(5.0)
    assert net.host(nodes[1]).paused
    net.resume(nodes[1])
    assert not net.host(nodes[1]).paused


@pytest.mark.parametrize("linger", [math.nan, -1.0, math.inf])
def test_leave_refuses_a_bad_linger_before_the_node_leaves(linger: float) -> None:
    net, nodes = group(2, CONFIG)
    with pytest.raises(ConfigError, match=r"linger must be a finite number .*None keeps"):
        net.leave(nodes[1], linger=linger)
    assert not nodes[1].has_left


@pytest.mark.parametrize("within", [math.nan, math.inf, -1.0])
def test_settle_refuses_a_limit_that_would_never_end(within: float) -> None:
    net, _, _ = pair(CONFIG)  # settled: the limit is refused even when it is not needed
    with pytest.raises(ClockError, match="settle within a finite number of seconds >= 0"):
        net.settle(within=within)


def test_a_partition_refuses_nodes_not_in_the_network_and_what_is_not_an_address() -> None:
    net, nodes = group(2, CONFIG)
    stranger = Node(CONFIG, Address("127.0.0.1", 9000), seed=1)
    with pytest.raises(StateError, match="not in this network"):
        net.partition([stranger], nodes)
    with pytest.raises(AddressError, match=r"Address\.parse"):
        net.partition(["127.0.0.1:7001"], nodes[1:])  # type: ignore[list-item]
    assert net.cuts == {}
    # An address may name a node added later (the simulator's clusters cut joiners off).
    net.partition([Address("127.0.0.1", 9000)], nodes)
    assert len(net.cuts) == 2


@pytest.mark.parametrize(
    ("size", "port", "message"),
    [
        (2.5, 7001, r"at least one node \(an integer size\), got 2.5"),
        (True, 7001, "an integer size"),
        (3, 65534, r"needs ports 65534..65536, past 65535: start at port 65533 or lower"),
        (2, "7001", "port must be an integer within 1..65535"),
        (2, 0, "port must be an integer within 1..65535"),
    ],
)
def test_group_refuses_a_size_or_port_with_a_clear_message(
    size: object, port: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        group(size, CONFIG, port=port)  # type: ignore[arg-type]


def test_the_last_ports_still_make_a_group() -> None:
    _, nodes = group(2, CONFIG, port=65534)
    assert [n.address.port for n in nodes] == [65534, 65535]
