"""A simulated cluster: builds the nodes, knows the truth, and applies operations to it.

:class:`SimCluster` creates ``size`` nodes at addresses ``10.x.y.z:7946`` with per-node
randomness derived from one master seed and the node's index (and its restart count), starts
them bootstrapped (every node knows every member, no join traffic, and keeps the first ``seeds``
nodes as its seeds) or joining through those seeds, and applies the operations of
:mod:`swimcore.transports.sim.ops` at once or at a scheduled time.  It is also the oracle: it
knows which nodes really crashed, left or run, which the checkers and the measurements compare
the nodes' views against.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from swimcore import Address, Config, ConfigError, Node
from swimcore.roster import Roster
from swimcore.transports.sim.faults import LinkFaults
from swimcore.transports.sim.network import UP, Host, SimNetwork
from swimcore.transports.sim.ops import (
    Chaos,
    Corruption,
    Crash,
    Heal,
    Join,
    Leave,
    LossBurst,
    OneWayLoss,
    Op,
    Partition,
    Pause,
    Restart,
)
from swimcore.transports.sim.rng import derive_rng, node_rng

PORT = 7946


def address_of(index: int) -> Address:
    """The address of node ``index``: ``10.a.b.c:7946`` with ``a.b.c`` = ``index + 1``."""
    n = index + 1
    return Address(f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}", PORT)


class SimCluster:
    """``size`` nodes on a :class:`SimNetwork`, and the operations a fault script uses."""

    def __init__(
        self,
        size: int,
        *,
        seed: int = 0,
        config: Config | None = None,
        faults: LinkFaults | None = None,
        bootstrap: bool = True,
        seeds: int = 1,
        join_spread: float = 0.0,
        linger: float = 5.0,
        trace: bool = True,
        exchange_timeout: float = 10.0,
        building: Callable[[int, int], None] | None = None,
    ) -> None:
        """``building(done, size)`` is called as nodes are made (every 1,000 and at the end),
        so that a caller can show progress while a large cluster is built."""
        if size < 1:
            raise ConfigError("a cluster needs at least one node")
        self.seed = seed
        self.config = config or Config.lan()
        self.baseline = faults or LinkFaults()
        self.linger = linger
        self.net = SimNetwork(
            faults=self.baseline,
            rng=derive_rng(seed, "network"),
            trace=trace,
            exchange_timeout=exchange_timeout,
        )
        self.rng = derive_rng(seed, "cluster")
        self.seed_count = max(1, min(seeds, size))
        #: When each index last crashed (cleared when it restarts).
        self.crashed_at: dict[int, float] = {}
        #: Indexes that crashed or left at some point (never "correct" nodes).
        self.ever_failed: dict[int, None] = {}
        #: Indexes that called leave (in this life).
        self.leaving: dict[int, None] = {}
        self.applied: list[tuple[float, Op]] = []
        self._overlays: dict[int, dict[str, float]] = {}
        self._overlay_seq = 0
        self._one_way: dict[int, int] = {}
        for index in range(size):
            self.net.add(self._make_node(index, 0))
            if building is not None and (index + 1) % 1000 == 0:
                building(index + 1, size)
        if building is not None and size % 1000:
            building(size, size)
        if bootstrap:
            # One shared roster: each node copies only the records it hears news about.
            roster = Roster((host.node.name, host.node.address) for host in self.net.host_list)
            # The first ``seeds`` nodes are every node's seeds, as if it had joined through
            # them: how a side that forgot the other (``reclaim_time``) finds it again.
            seed_addresses = [host.node.address for host in self.net.host_list[: self.seed_count]]
            for host in self.net.host_list:
                self.net.start(host.node, roster=roster, seeds=seed_addresses)
        else:
            first = self.net.host_list[: self.seed_count]
            for host in first:
                self.net.start(host.node)
            seed_addresses = [host.node.address for host in first]
            for host in self.net.host_list[self.seed_count :]:
                when = join_spread * (host.index - self.seed_count + 1)
                self.net.at(when, functools.partial(self.net.join, host.node, seed_addresses))

    # ----------------------------------------------------------------------------- queries

    @property
    def now(self) -> float:
        return self.net.now

    @property
    def hosts(self) -> list[Host]:
        return self.net.host_list

    @property
    def size(self) -> int:
        """Indexes in use (crashed and left ones included)."""
        return len(self.net.host_list)

    def node(self, index: int) -> Node:
        """The node currently at ``index`` (a new object after each restart)."""
        return self.net.host_list[index].node

    def running(self) -> list[int]:
        """Indexes whose process runs (paused ones included), leavers excluded."""
        return [
            h.index for h in self.net.host_list if h.status == UP and h.index not in self.leaving
        ]

    def expected_view(self) -> list[str]:
        """Names every running node should list once the cluster has settled (sorted)."""
        return sorted(self.node(i).name for i in self.running())

    def views(self) -> dict[int, list[str]]:
        """Each running node's list of alive and suspect members (sorted names)."""
        return {i: sorted(m.name for m in self.node(i).members()) for i in self.running()}

    def converged(self) -> bool:
        """Whether every running node lists exactly the running nodes (``Node.members_are``:
        milliseconds for 10,000 bootstrapped nodes that changed few records)."""
        expected = frozenset(self.expected_view())
        return all(self.node(i).members_are(expected) for i in self.running())

    def seed_addresses(self) -> list[Address]:
        return [h.node.address for h in self.net.host_list[: self.seed_count]]

    # --------------------------------------------------------------------------- running

    def run_for(self, duration: float) -> None:
        self.net.run_for(duration)

    def run_until(self, until: float) -> None:
        self.net.run_until(until)

    def schedule(self, plan: Iterable[tuple[float, Op]]) -> None:
        """Apply each operation of ``plan`` at its time."""
        for when, op in plan:
            self.net.at(when, functools.partial(self.apply, op))

    def quiesce(self) -> None:
        """Stop every ongoing fault: heal cuts, end bursts and pauses, restore the links."""
        self.net.heal()
        self._overlays.clear()
        self.net.faults = self.baseline
        for index in list(self._one_way):
            self.net.set_link(self.node(index).address, None, None)
        self._one_way.clear()
        for host in self.net.host_list:
            if host.paused:
                self.net.resume(host.node)

    # ------------------------------------------------------------------------ operations

    def apply(self, op: Op) -> None:
        """Carry out ``op`` now.

        An operation on a node that cannot take it is skipped: one that crashed or left, or an
        index no node has yet (a script may name a node that was to join first).  Bad values
        (negative indexes, rates outside 0..1, negative or infinite durations) never get here:
        the operation refused them with :class:`~swimcore.errors.ConfigError` when it was built.
        """
        self.applied.append((self.now, op))
        net = self.net
        if isinstance(op, Crash):
            if self._runs(op.index):
                net.crash(self.node(op.index))
                self.crashed_at[op.index] = self.now
                self.ever_failed[op.index] = None
        elif isinstance(op, Restart):
            self._restart(op)
        elif isinstance(op, Leave):
            if self._runs(op.index) and op.index not in self.leaving:
                self.leaving[op.index] = None
                self.ever_failed[op.index] = None
                net.leave(self.node(op.index), linger=self.linger)
        elif isinstance(op, Join):
            index = self.size
            node = self._make_node(index, 0)
            net.add(node)
            net.join(node, self._join_targets(index))
        elif isinstance(op, Pause):
            if self._runs(op.index):
                net.pause(self.node(op.index), op.duration)
        elif isinstance(op, Partition):
            # Addresses follow from indexes, so a node about to join can be cut off too.
            side = [address_of(i) for i in op.side]
            rest = [h.node.address for h in self.net.host_list if h.index not in op.side]
            cut = net.partition(side, rest, both_ways=op.both_ways)
            if op.duration is not None:
                net.at(self.now + op.duration, lambda: net.heal(cut))
        elif isinstance(op, Heal):
            net.heal()
        elif isinstance(op, LossBurst):
            self._overlay({"loss": op.loss}, op.duration)
        elif isinstance(op, Corruption):
            self._overlay({"bitflip": op.rate, "truncate": op.rate}, op.duration)
        elif isinstance(op, Chaos):
            self._overlay({"duplicate": op.rate, "reorder": op.rate}, op.duration)
        elif isinstance(op, OneWayLoss):
            self._one_way_loss(op)

    def _runs(self, index: int) -> bool:
        return index < self.size and self.net.host_list[index].status == UP

    def _make_node(self, index: int, life: int, incarnation: int = 0) -> Node:
        return Node(
            self.config,
            address_of(index),
            seed=node_rng(self.seed, index, life),
            incarnation=incarnation,
        )

    def _join_targets(self, index: int) -> list[Address]:
        """The seeds that run, topped up with random running nodes to three addresses (a
        joiner whose only seed dies meanwhile could otherwise never get in)."""
        seeds = [
            h.index
            for h in self.net.host_list[: self.seed_count]
            if h.status == UP and h.index != index and h.index not in self.leaving
        ]
        others = [i for i in self.running() if i != index and i not in seeds]
        extra = self.rng.sample(others, min(max(0, 3 - len(seeds)), len(others)))
        return [self.node(i).address for i in [*seeds, *sorted(extra)]]

    def _restart(self, op: Restart) -> None:
        if op.index >= self.size:
            return
        host = self.net.host_list[op.index]
        old = host.node
        incarnation = old.incarnation + 1 if op.bump else 0
        node = self._make_node(op.index, host.life + 1, incarnation)
        self.net.restart(node)
        self.crashed_at.pop(op.index, None)
        self.leaving.pop(op.index, None)
        self.net.join(node, self._join_targets(op.index))

    def _overlay(self, changes: dict[str, float], duration: float) -> None:
        self._overlay_seq += 1
        token = self._overlay_seq
        self._overlays[token] = changes
        self._refresh_faults()

        def end() -> None:
            if self._overlays.pop(token, None) is not None:
                self._refresh_faults()

        self.net.at(self.now + duration, end)

    def _refresh_faults(self) -> None:
        merged: dict[str, Any] = {}
        for changes in self._overlays.values():
            merged.update(changes)
        self.net.faults = attrs.evolve(self.baseline, **merged)

    def _one_way_loss(self, op: OneWayLoss) -> None:
        if op.index >= self.size:
            return
        self._overlay_seq += 1
        token = self._overlay_seq
        self._one_way[op.index] = token
        source = self.node(op.index).address
        self.net.set_link(source, None, attrs.evolve(self.baseline, loss=op.loss))

        def end() -> None:
            if self._one_way.get(op.index) == token:
                del self._one_way[op.index]
                self.net.set_link(source, None, None)

        self.net.at(self.now + op.duration, end)


def indexes(nodes: Sequence[int]) -> tuple[int, ...]:
    """A sorted tuple of distinct indexes (for :class:`Partition` sides)."""
    return tuple(sorted(dict.fromkeys(nodes)))
