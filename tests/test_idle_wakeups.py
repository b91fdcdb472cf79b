"""An idle node schedules only work that exists (issue 15, item 7).

A driver wakes a node at :meth:`Node.next_deadline`; every wake-up costs a process a system call,
a thread switch or a loop iteration.  In a quiet group a node must wake to probe and for nothing
else: not for gossip rounds with nothing to send, nor for the timeout of a probe already acked.
When news is queued it must still go out at the next gossip round, and rounds keep coming every
``gossip_interval`` while there is something left to send (as memberlist's gossip ticker does).
"""

from __future__ import annotations

import itertools

import attrs
from helpers import Link, make_node, messages, start

from swimcore import Action, BroadcastReceived, Config, Node
from swimcore.messages import Gossip, Ping
from swimcore.timers import TimerHeap

#: Only probing and gossip: no periodic exchange or reconnect timer to account for.
QUIET = attrs.evolve(Config.lan(), push_pull_interval=0.0, reconnect_interval=0.0)


def _group(size: int = 3) -> tuple[Link, list[Node]]:
    nodes = [make_node(i, QUIET) for i in range(1, size + 1)]
    link = Link()
    link.add(*nodes)
    for node in nodes:
        link.carry(node, start(node, *[n for n in nodes if n is not node]), 0.0)
    return link, nodes


def _step(link: Link, nodes: list[Node]) -> tuple[float, Node, list[Action]]:
    """Wake the node with the earliest deadline at that deadline, as a driver would, and deliver
    what it sent (and the answers) at once.  Returns (time, node, its actions)."""
    when, node = min(((n.next_deadline() or float("inf"), n) for n in nodes), key=lambda p: p[0])
    actions = node.tick(when)
    link.carry(node, actions, when)
    link.deliver(when)
    return when, node, list(actions)


def _run(link: Link, nodes: list[Node], until: float) -> list[tuple[float, Node, list[Action]]]:
    steps = []
    while min(n.next_deadline() or float("inf") for n in nodes) <= until:
        steps.append(_step(link, nodes))
    return steps


def test_an_idle_node_wakes_only_to_probe() -> None:
    link, nodes = _group()
    _run(link, nodes, 10.0)  # the start-up news is spread and retired
    assert all(n.queue_depth() == 0 for n in nodes)
    steps = _run(link, nodes, 40.0)
    for node in nodes:
        wakes = [(when, actions) for when, n, actions in steps if n is node]
        pings = [when for when, actions in wakes if messages(actions, Ping)]
        assert len(pings) >= 29  # one probe a second: the group stays busy probing
        # Every wake-up sent a probe: none for an empty gossip round or an acked probe.
        assert len(wakes) == len(pings), f"{node.name}: {len(wakes)} wake-ups, {len(pings)} probes"
    # After a probe's ack the next deadline is the next protocol period, not the timeout.
    when, node, actions = _step(link, nodes)
    assert messages(actions, Ping)
    assert node.next_deadline() == when + QUIET.probe_interval


def test_gossip_goes_out_at_the_next_round_and_every_interval_while_news_is_left() -> None:
    link, nodes = _group(12)  # 8 transmissions of each broadcast: a few gossip rounds
    _run(link, nodes, 10.0)
    assert all(n.queue_depth() == 0 for n in nodes)
    first = nodes[0]
    now = 10.05
    link.carry(first, first.broadcast("key", b"news", now), now)
    deadline = first.next_deadline()
    assert deadline is not None and deadline <= now + QUIET.gossip_interval
    rounds = []
    for when, node, actions in _run(link, nodes, 20.0):
        if node is first and messages(actions, Gossip):
            rounds.append(when)
    # The first round is at most one gossip_interval after the broadcast ...
    assert rounds and now <= rounds[0] <= now + QUIET.gossip_interval
    # ... and the broadcast leaves in several rounds, one gossip_interval apart.
    assert len(rounds) >= 2
    gaps = [b - a for a, b in itertools.pairwise(rounds)]
    assert all(abs(gap - QUIET.gossip_interval) < 1e-9 for gap in gaps), gaps
    for peer in nodes[1:]:
        got = link.events_of(peer.name, BroadcastReceived)
        assert [(e.key, e.payload) for e in got] == [("key", b"news")]
    # Once everything is sent the node is idle again.
    assert first.queue_depth() == 0
    steps = _run(link, nodes, 30.0)
    assert all(messages(actions, Ping) for _, n, actions in steps if n is first)


def test_a_lone_node_with_news_does_not_wake_for_gossip() -> None:
    node = make_node(1, QUIET)
    node.start(0.0)
    node.set_metadata(b"new", 0.0)  # news about itself, but no one to tell
    assert node.queue_depth() > 0
    wakes = 0
    while (deadline := node.next_deadline()) is not None and deadline <= 10.0:
        node.tick(deadline)
        wakes += 1
    assert wakes <= 10  # one protocol period a second (with no one to probe), no gossip rounds


def test_a_cancelled_timer_neither_fires_nor_holds_the_next_deadline() -> None:
    heap: TimerHeap[str] = TimerHeap()
    heap.schedule(1.0, "timeout")
    heap.schedule(2.0, "period")
    heap.cancel("timeout")
    heap.cancel("never scheduled")
    assert heap.next_deadline() == 2.0 and len(heap) == 1
    assert heap.pop_due(5.0) == "period"
    assert heap.pop_due(5.0) is None and heap.next_deadline() is None


def test_no_gossip_rounds_with_gossip_nodes_zero() -> None:
    link, nodes = _group()
    quiet = [make_node(9, attrs.evolve(QUIET, gossip_nodes=0))]
    link.add(*quiet)
    link.carry(quiet[0], start(quiet[0], *nodes), 0.0)
    link.carry(quiet[0], quiet[0].set_metadata(b"new", 0.0), 0.0)
    assert quiet[0].queue_depth() > 0
    steps = _run(link, quiet, 5.0)
    # Its updates leave only on its probes and acks: every wake-up is a probe.
    assert steps and all(messages(actions, Ping) for _, _, actions in steps)
