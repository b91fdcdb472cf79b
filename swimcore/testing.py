"""Helpers for testing applications built on swimcore, as ``trio.testing`` is for trio.

Nodes you build yourself, wired in memory on a virtual clock: no sockets, no threads, no wall
time, and the same seed gives the same run byte for byte.  This is the delivery loop of the
README's "Driving a Node by hand", done once and done right (exchanges, latency, timers in
order), with a record of every event each node reported::

    net, nodes = group(5, Config.lan(label="test"))
    net.crash(nodes[4])
    net.run_for(30.0)
    failed = [e.member.name for e in net.events(nodes[0]) if isinstance(e, MemberFailed)]
    assert failed == [nodes[4].name]

:class:`MemoryNetwork` is the simulator's :class:`~swimcore.transports.sim.SimNetwork` (cuts,
per-link loss and latency, crashes, pauses, restarts) plus the events; for thousands of members
with fault scripts, checkers and reports use :class:`~swimcore.transports.sim.SimCluster`,
also importable from here.
"""

from __future__ import annotations

import math

from swimcore.actions import Action, Event, ExchangeRequest, Send
from swimcore.address import Address
from swimcore.config import Config
from swimcore.errors import ClockError, ConfigError
from swimcore.node import Node
from swimcore.transports.sim import LinkFaults, SimCluster, SimNetwork
from swimcore.transports.sim.checkers import convergence_deadline

__all__ = ["LinkFaults", "MemoryNetwork", "SimCluster", "group", "pair"]


class MemoryNetwork(SimNetwork):
    """Nodes wired in memory on a virtual clock; every event each node reports is kept.

    Links are lossless with 1 ms latency unless ``faults`` says otherwise (per link:
    ``set_link``; cuts: ``partition`` and ``heal``).  Add nodes with ``add``, then ``start``
    or ``join`` them, and let time pass with ``run_for``; ``crash``, ``leave``, ``pause`` and
    ``restart`` act on hosts (see :class:`~swimcore.transports.sim.SimNetwork`).  ``keep``
    bounds the events kept per node (the oldest half is forgotten when it is reached).
    """

    def __init__(self, seed: int = 0, faults: LinkFaults | None = None, *, keep: int = 100_000):
        super().__init__(seed, faults, trace=False)
        self._keep = keep
        self._events: dict[str, list[tuple[float, Event]]] = {}
        self.observers.append(self._record)

    def _record(self, now: float, node: Node, action: Action) -> None:
        if isinstance(action, Send | ExchangeRequest):
            return
        kept = self._events.setdefault(node.name, [])
        if len(kept) >= self._keep:
            del kept[: len(kept) // 2]
        kept.append((now, action))

    def events(self, node: Node | str) -> list[Event]:
        """Every event ``node`` (or the node of that name) reported, oldest first.

        Raises :class:`~swimcore.errors.StateError` for a node not in this network (a test
        that looked up a misspelt name would otherwise see no events and pass).
        """
        return [event for _, event in self.timed_events(node)]

    def timed_events(self, node: Node | str) -> list[tuple[float, Event]]:
        """The same, each with the virtual time it was reported at."""
        self.host(node)  # refuses a node or name this network does not have
        name = node if isinstance(node, str) else node.name
        return list(self._events.get(name, ()))

    def running(self) -> list[Node]:
        """Nodes whose host is up (not crashed, not stopped after leaving)."""
        return [host.node for host in self.host_list if host.up]

    def converged(self) -> bool:
        """Whether every running node lists exactly the running nodes as its members."""
        nodes = [node for node in self.running() if not node.has_left]
        expected = frozenset(node.name for node in nodes)
        return all(node.members_are(expected) for node in nodes)

    def settle(self, within: float | None = None) -> float:
        """Run until :meth:`converged`; returns the virtual time that took.

        Gives up after ``within`` seconds (default: the convergence deadline the simulator's
        checkers use for this group size) with ``AssertionError`` showing every view: in a
        test, a group that does not converge is a failure, not an error of the caller.
        """
        if within is not None and not (isinstance(within, int | float) and 0 <= within < math.inf):
            raise ClockError(f"settle within a finite number of seconds >= 0, got {within!r}")
        nodes = self.running()
        limit = within
        if limit is None:
            config = nodes[0].config if nodes else Config.lan()
            limit = convergence_deadline(config, max(1, len(nodes)))
        started = self.now
        step = min(0.1, limit / 10) if limit > 0 else 0.1
        while not self.converged():
            if self.now - started >= limit:
                views = {n.name: sorted(m.name for m in n.members()) for n in nodes}
                raise AssertionError(f"no single view after {limit:g} s: {views}")
            self.run_for(step)
        return self.now - started


def group(
    size: int,
    config: Config | None = None,
    *,
    seed: int = 0,
    faults: LinkFaults | None = None,
    port: int = 7001,
) -> tuple[MemoryNetwork, list[Node]]:
    """``size`` nodes at ``127.0.0.1:port`` upwards, joined through the first and settled."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"a group needs at least one node (an integer size), got {size!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= 65535:
        raise ConfigError(f"port must be an integer within 1..65535, got {port!r}")
    last = port + size - 1
    if last > 65535:
        fix = f"start at port {65536 - size} or lower" if size < 65536 else "make it smaller"
        raise ConfigError(
            f"a group of {size} at port {port} needs ports {port}..{last}, past 65535: {fix}"
        )
    chosen = config if config is not None else Config.lan()
    net = MemoryNetwork(seed, faults)
    nodes = [
        net.add(Node(chosen, Address("127.0.0.1", port + i), seed=seed * 1_000_003 + i)).node
        for i in range(size)
    ]
    net.start(nodes[0])
    for node in nodes[1:]:
        net.join(node, [nodes[0].address])
    net.settle()
    return net, nodes


def pair(config: Config | None = None, *, seed: int = 0) -> tuple[MemoryNetwork, Node, Node]:
    """Two nodes that know each other: the smallest group."""
    net, (a, b) = group(2, config, seed=seed)
    return net, a, b
