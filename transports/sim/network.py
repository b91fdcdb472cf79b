"""The simulated network: one event heap, a virtual clock and real encoded bytes on every link.

Everything random (latency jitter, loss) comes from one ``random.Random`` seeded by the caller,
and events with equal times fire in the order they were scheduled, so the same seed and the same
script give the same run, byte for byte.  The trace digest hashes every datagram delivered and
every action a node returns.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Callable
from typing import Any

import attrs

from swimcore import Action, Address, ExchangeRequest, Node, Send

Observer = Callable[[float, Node, Action], None]

_DELIVER, _TICK, _EXCHANGE, _REPLY, _CALL = range(5)


@attrs.frozen(slots=True)
class LinkFaults:
    """Latency and loss applied to every datagram (and, for latency, every exchange)."""

    latency: float = 0.001
    jitter: float = 0.0
    loss: float = 0.0


@attrs.define(slots=True, eq=False)
class Host:
    """One simulated process: its node and whether it is up."""

    node: Node
    up: bool = True
    wake: float | None = None


class SimNetwork:
    """Nodes connected by a simulated lossy network, driven by a virtual clock."""

    def __init__(self, seed: int = 0, faults: LinkFaults | None = None) -> None:
        self.rng = random.Random(seed)
        self.faults = faults or LinkFaults()
        self.now = 0.0
        self.hosts: dict[Address, Host] = {}
        self.by_name: dict[str, Host] = {}
        self.observers: list[Observer] = []
        self.delivered = 0
        self.dropped = 0
        self._heap: list[tuple[float, int, int, Any]] = []
        self._seq = 0
        self._digest = hashlib.sha256()

    # --------------------------------------------------------------------------- building

    def add(self, node: Node) -> Host:
        """Attach ``node`` at its advertised address (not started: call ``start`` or ``join``)."""
        host = Host(node)
        self.hosts[node.address] = host
        self.by_name[node.name] = host
        return host

    def start(self, node: Node, members: list[tuple[str, Address]] | None = None) -> None:
        """Start ``node`` now, optionally knowing ``members`` already (a bootstrapped cluster)."""
        self._carry(self.hosts[node.address], node.start(self.now, members or ()))

    def join(self, node: Node, seeds: list[Address]) -> None:
        """Make ``node`` join through ``seeds`` now."""
        self._carry(self.hosts[node.address], node.join(seeds, self.now))

    def leave(self, node: Node) -> None:
        """Make ``node`` leave gracefully now (it keeps running so the news spreads)."""
        self._carry(self.hosts[node.address], node.leave(self.now))

    def crash(self, node: Node) -> None:
        """Stop ``node`` silently: it neither sends nor receives from now on."""
        self.hosts[node.address].up = False

    def at(self, when: float, call: Callable[[], None]) -> None:
        """Run ``call`` at virtual time ``when`` (scripted faults and operations)."""
        self._push(when, _CALL, call)

    @property
    def trace_digest(self) -> str:
        """Hex digest of everything delivered and every action returned so far."""
        return self._digest.hexdigest()

    # ----------------------------------------------------------------------------- running

    def run_until(self, until: float) -> None:
        """Process events up to virtual time ``until``."""
        heap = self._heap
        while heap and heap[0][0] <= until:
            when, _, kind, payload = heapq.heappop(heap)
            self.now = when
            if kind == _DELIVER:
                self._deliver(*payload)
            elif kind == _TICK:
                host = payload
                if host.up and host.wake == when:
                    host.wake = None
                    self._carry(host, host.node.tick(when))
            elif kind == _EXCHANGE:
                self._exchange(*payload)
            elif kind == _REPLY:
                self._reply(*payload)
            else:
                payload()
        self.now = max(self.now, until)

    def run_for(self, duration: float) -> None:
        self.run_until(self.now + duration)

    # ---------------------------------------------------------------------------- plumbing

    def _push(self, when: float, kind: int, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, kind, payload))

    def _latency(self) -> float:
        faults = self.faults
        if faults.jitter:
            return faults.latency + self.rng.random() * faults.jitter
        return faults.latency

    def _carry(self, host: Host, actions: list[Action]) -> None:
        node = host.node
        digest = self._digest
        for action in actions:
            if isinstance(action, Send):
                if self.faults.loss and self.rng.random() < self.faults.loss:
                    self.dropped += 1
                    continue
                self._push(
                    self.now + self._latency(), _DELIVER, (node.address, action.to, action.data)
                )
            elif isinstance(action, ExchangeRequest):
                self._push(self.now + self._latency(), _EXCHANGE, (host, action))
            else:
                digest.update(f"{self.now!r} {node.name} {action!r}\n".encode())
                for observer in self.observers:
                    observer(self.now, node, action)
        deadline = node.next_deadline()
        if deadline is not None and (host.wake is None or deadline < host.wake):
            host.wake = deadline
            self._push(deadline, _TICK, host)

    def _deliver(self, source: Address, to: Address, data: bytes) -> None:
        host = self.hosts.get(to)
        if host is None or not host.up:
            self.dropped += 1
            return
        self.delivered += 1
        self._digest.update(f"{self.now!r} {source} {to} ".encode() + data + b"\n")
        self._carry(host, host.node.receive(data, source, self.now))

    def _exchange(self, requester: Host, request: ExchangeRequest) -> None:
        target = self.hosts.get(request.to)
        if not requester.up:
            return
        if target is None or not target.up:
            self._push(self.now + 1.0, _REPLY, (requester, request.exchange_id, None))
            return
        reply, actions = target.node.handle_exchange(request.data, self.now)
        self._carry(target, actions)
        self._push(self.now + self._latency(), _REPLY, (requester, request.exchange_id, reply))

    def _reply(self, host: Host, exchange_id: int, reply: bytes | None) -> None:
        if not host.up:
            return
        if reply is None:
            self._carry(host, host.node.exchange_failed(exchange_id, "unreachable", self.now))
        else:
            self._carry(host, host.node.exchange_reply(exchange_id, reply, self.now))
