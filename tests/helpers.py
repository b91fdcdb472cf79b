"""Helpers that build datagrams by hand and move them between :class:`Node` objects.

Every protocol-rule test drives time explicitly and moves each datagram itself, in the style of
aioquic's and h11's tests: nothing is delivered unless a test says so.  Keep node-wiring helpers
here, in one place.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

import attrs

from swimcore import Action, Address, Config, ExchangeRequest, MemberInfo, Node, Send
from swimcore.messages import Message, Packet, Ping, Update
from swimcore.wire.native import codec

T = TypeVar("T")

#: The long runs' switch (``SWIMCORE_SLOW=1``): tests marked slow run, budgets are whole.
SLOW = os.environ.get("SWIMCORE_SLOW") == "1"

#: Examples for the fuzz properties: 10,000 in CI's long runs (``HYPOTHESIS_PROFILE=ci`` with
#: ``SWIMCORE_SLOW=1``: ``make test-slow`` and ``make test-compiled``), a fifth of that in its
#: default suite (``make test``, which must stay well under 10 minutes), 300 otherwise.
FUZZ_EXAMPLES = (10_000 if SLOW else 2_000) if os.environ.get("HYPOTHESIS_PROFILE") == "ci" else 300


def quick(examples: int) -> int:
    """The default suite's share of a costly fuzz property's budget ``examples``: a fifth.

    Such a property is written twice over one check function: the test run by default with
    this budget, and its twin ``*_full_budget``, marked slow, with the whole budget (CI runs it
    in ``make test-slow`` and against the compiled core in ``make test-compiled``).
    """
    return max(100, examples // 5)


#: The stability mechanisms of issue 18 off (swimcore.stability): for tests of SWIM's own rules
#: (one accuser suffices, a suspicion is reported at once, refutations are never damped).
STABILITY_OFF: dict[str, Any] = dict(
    stability_health_gate=False,
    stability_accusers=1,
    stability_damping=False,
    stability_suspect_hold=0.0,
)


def addr(i: int, port: int = 7946) -> Address:
    """The address of test node number ``i`` (0..65535): ``10.0.<i // 256>.<i % 256>:port``."""
    return Address(f"10.0.{i // 256}.{i % 256}", port)


def make_node(i: int, config: Config | None = None, **kwargs: object) -> Node:
    """Node number ``i`` (named ``"host:port"``), seeded with ``i`` unless ``seed`` is given."""
    kwargs.setdefault("seed", i)
    return Node(config or Config.lan(), addr(i), **kwargs)  # type: ignore[arg-type]


def encode(message: Message, *updates: Update, label: str = "") -> bytes:
    """A datagram carrying ``message`` and ``updates``."""
    return codec.encode_packet(Packet(label, message, tuple(updates)))


def only(items: Sequence[T]) -> T:
    """The single element of ``items`` (fails loudly otherwise)."""
    assert len(items) == 1, f"expected exactly one, got {len(items)}: {items!r}"
    return items[0]


class Knows(Protocol):
    """Anything that answers what it knows about a member: a node, or a member of any driver."""

    def member(self, name: str) -> MemberInfo | None: ...


def known(who: Knows, name: str) -> MemberInfo:
    """What ``who`` knows about ``name``; fails if it knows nothing about it."""
    info = who.member(name)
    assert info is not None, f"{name} is unknown"
    return info


def of_type(actions: Iterable[object], kind: type[T]) -> list[T]:
    """The actions of type ``kind``, in order."""
    return [a for a in actions if isinstance(a, kind)]


def sends(actions: Iterable[Action]) -> list[Send]:
    return of_type(actions, Send)


def decoded(actions: Iterable[Action]) -> list[tuple[Address, Packet]]:
    """Every :class:`Send` in ``actions``, decoded: (destination, packet)."""
    return [(s.to, codec.decode_packet(s.data)) for s in sends(actions)]


def messages(actions: Iterable[Action], kind: type[T]) -> list[tuple[Address, T]]:
    """The datagrams whose primary message is a ``kind``: (destination, message)."""
    return [(to, p.message) for to, p in decoded(actions) if isinstance(p.message, kind)]


def updates_in(actions: Iterable[Action]) -> list[Update]:
    """Every piggybacked update of every datagram in ``actions``, in order."""
    return [u for _, p in decoded(actions) for u in p.updates]


def start(node: Node, *peers: Node, now: float = 0.0) -> list[Action]:
    """Start ``node`` knowing ``peers`` alive at incarnation 0 (a bootstrapped cluster)."""
    return node.start(now, [(p.name, p.address) for p in peers])


def timeline(node: Node, until: float) -> list[tuple[float, Action]]:
    """Tick ``node`` at each of its deadlines up to ``until``: every action with its time."""
    out: list[tuple[float, Action]] = []
    while (deadline := node.next_deadline()) is not None and deadline <= until:
        out += [(deadline, action) for action in node.tick(deadline)]
    return out


def next_probe(node: Node, limit: float = 120.0) -> tuple[float, Address, Ping, list[Action]]:
    """Tick ``node`` deadline by deadline until it sends a ping.

    Returns the time, the destination, the ping and every action of that last tick.
    """
    while (deadline := node.next_deadline()) is not None and deadline <= limit:
        actions = node.tick(deadline)
        pings = messages(actions, Ping)
        if pings:
            return deadline, pings[0][0], pings[0][1], actions
    raise AssertionError(f"{node.name} sent no ping before {limit}")


def probe_timeout(node: Node) -> float:
    """The probe timeout as the node currently stretches it (Lifeguard local health)."""
    return node.config.probe_timeout * (node.health + 1)


def tick_until(node: Node, until: float) -> list[Action]:
    """Tick ``node`` at each of its deadlines up to ``until`` (then at ``until``)."""
    out: list[Action] = []
    while (deadline := node.next_deadline()) is not None and deadline <= until:
        out += node.tick(deadline)
    out += node.tick(until)
    return out


@attrs.define
class Link:
    """A hand-driven network between nodes: datagrams wait until :meth:`deliver` moves them.

    ``silent`` nodes neither receive nor tick (a crashed process); datagrams over a ``cut``
    (source, destination) pair vanish; ``log`` records every delivered datagram as (source,
    destination, packet); ``events`` every non-send action as (node name, action).
    """

    nodes: dict[Address, Node] = attrs.field(factory=dict)
    inflight: list[tuple[Address, Send]] = attrs.field(factory=list)
    silent: list[Address] = attrs.field(factory=list)
    cut: list[tuple[Address, Address]] = attrs.field(factory=list)
    log: list[tuple[Address, Address, Packet]] = attrs.field(factory=list)
    events: list[tuple[str, Action]] = attrs.field(factory=list)

    def add(self, *nodes: Node) -> None:
        for node in nodes:
            self.nodes[node.address] = node

    def carry(self, node: Node, actions: Iterable[Action], now: float) -> None:
        """Queue ``node``'s sends, complete its exchanges at once, record its events."""
        for action in actions:
            if isinstance(action, Send):
                self.inflight.append((node.address, action))
            elif isinstance(action, ExchangeRequest):
                self._exchange(node, action, now)
            else:
                self.events.append((node.name, action))

    def _exchange(self, node: Node, request: ExchangeRequest, now: float) -> None:
        target = self.nodes.get(request.to)
        if target is None or request.to in self.silent:
            self.carry(node, node.exchange_failed(request.exchange_id, "unreachable", now), now)
            return
        reply, produced = target.handle_exchange(request.data, now)
        self.carry(target, produced, now)
        if reply is None:
            self.carry(node, node.exchange_failed(request.exchange_id, "refused", now), now)
        else:
            self.carry(node, node.exchange_reply(request.exchange_id, reply, now), now)

    def deliver(self, now: float, rounds: int = 100) -> int:
        """Deliver in-flight datagrams (and what they cause) until none is left.

        Returns how many datagrams were delivered.  Datagrams to silent or unknown nodes vanish.
        """
        delivered = 0
        for _ in range(rounds):
            if not self.inflight:
                return delivered
            batch, self.inflight = self.inflight, []
            for source, send in batch:
                node = self.nodes.get(send.to)
                if node is None or send.to in self.silent or (source, send.to) in self.cut:
                    continue
                delivered += 1
                self.log.append((source, send.to, codec.decode_packet(send.data)))
                self.carry(node, node.receive(send.data, source, now), now)
        raise AssertionError(f"datagrams still in flight after {rounds} rounds")

    def tick(self, now: float) -> None:
        """Tick every node that is not silent (a silent node is a crashed process)."""
        for address, node in list(self.nodes.items()):
            if address not in self.silent:
                self.carry(node, node.tick(now), now)

    def run(self, until: float, step: float = 0.05, start: float = 0.0) -> None:
        """Alternate ticks and deliveries every ``step`` seconds of virtual time."""
        now = start
        while now <= until:
            self.tick(now)
            self.deliver(now)
            now = round(now + step, 9)

    def events_of(self, name: str, kind: type[T]) -> list[T]:
        return [e for n, e in self.events if n == name and isinstance(e, kind)]
