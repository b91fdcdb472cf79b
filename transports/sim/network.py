"""The simulated network: one event queue, a virtual clock and real encoded bytes on every link.

Everything random about links (latency jitter, loss, duplication, reordering, corruption) comes
from one ``random.Random`` seeded by the caller, and events with equal times fire in the order
they were scheduled (a sequence number breaks ties), so the same seed and the same script give
the same run, byte for byte.  The trace digest hashes every datagram delivered, every action a
node returns and every fault applied to a host.

Hosts can crash (silent stop), restart with a new :class:`~swimcore.Node` at the same name and
address, leave gracefully, and pause: a paused host handles nothing; what arrives waits in its
backlog (bounded, like a socket buffer) and its timers are late, and when it resumes it handles
the backlog and then every overdue timer, as a process starved of CPU or stopped by a long
garbage collection does.  Reliable exchanges (TCP in real drivers) see latency and cuts, and a
link's loss as TCP does: each lost segment (the handshake's two, the request, the reply) is sent
again after a retransmission timeout (:data:`SYN_RTO` for the handshake, :data:`DATA_RTO` for
data, doubling per loss), so a lossy link delays an exchange rather than corrupting it; one
that gets no reply within ``exchange_timeout`` fails.  ``stream_cuts`` cut only
exchanges and ``datagram_cuts`` only datagrams (a firewall that drops one protocol).
"""

from __future__ import annotations

import difflib
import hashlib
import heapq
import math
import random
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from swimcore import (
    Action,
    Address,
    AddressError,
    ClockError,
    ConfigError,
    ExchangeRequest,
    Node,
    Send,
    StateError,
)
from swimcore.node import MAX_NOW
from swimcore.roster import Roster
from swimcore.transports.gc_tuning import YOUNG_THRESHOLD, FewerCollections
from swimcore.transports.sim.events import EventQueue
from swimcore.transports.sim.faults import Cut, LinkFaults, corrupt

#: Called with (now, node, action) for every action other than Send and ExchangeRequest.
Observer = Callable[[float, Node, Action], None]
#: Called with (now, host, what) when a host is added, started, joins, crashes, restarts,
#: leaves, stops, pauses or resumes.
Lifecycle = Callable[[float, "Host", str], None]

_DELIVER, _TICK, _EXCHANGE, _REPLY, _CALL, _RESUME = range(6)
#: TCP's retransmission timeouts as Linux starts them: 1 s for a lost SYN or SYN-ACK, 200 ms
#: (its minimum) for a lost data segment; each further loss of a segment doubles its timeout.
SYN_RTO = 1.0
DATA_RTO = 0.2
#: Retransmissions of one segment modelled; past them the exchange is lost (it times out).
MAX_RETRIES = 8
_TIME = struct.Struct(">d")


def _check_duration(what: str, duration: float, allowed: str, *, forever: bool = False) -> None:
    """Refuse a duration that is not a finite number of seconds >= 0 (NaN included), or with
    ``forever`` one that is not infinite either; ``allowed`` says what is."""
    if (
        isinstance(duration, bool)
        or not isinstance(duration, int | float)
        or not (0 <= duration < math.inf or (forever and duration == math.inf))
    ):
        raise ConfigError(f"{what} must be {allowed}, got {duration!r}")


def _drops(node: Node) -> tuple[int, int]:
    """All drops a node counted, and those that were its own bugs (internal errors)."""
    counters = node.counters()
    total = sum(v for k, v in counters.items() if k.startswith("dropped."))
    return total, counters.get("dropped.internal_error", 0)


#: Host states (truth, as the simulator knows it; nodes only learn it through the protocol).
UP, CRASHED, STOPPED = "up", "crashed", "stopped"


@attrs.define(slots=True, eq=False)
class Host:
    """One simulated process: its current node, whether it runs, and what it sent."""

    node: Node
    index: int = 0
    #: ``up``, ``crashed`` (silent stop) or ``stopped`` (shut down after leaving).
    status: str = UP
    #: How many times the host was restarted; events of an earlier life are discarded.
    life: int = 0
    wake: float | None = None
    paused: bool = False
    pause_token: int = 0
    #: What arrived while paused: ("datagram", source, data), ("exchange", ...), ("reply", ...).
    backlog: list[tuple[Any, ...]] = attrs.field(factory=list)
    sent: int = 0
    sent_bytes: int = 0
    received: int = 0
    received_bytes: int = 0
    #: Bytes this host put on reliable exchanges (its requests and its replies).
    exchange_bytes: int = 0
    key: bytes = b""
    #: The roster the current node was started from with nothing beside it (``None`` for a
    #: node started otherwise or replaced): until the network runs, its table is that roster.
    started_from: Roster | None = None

    @property
    def up(self) -> bool:
        """Running (possibly paused): not crashed and not stopped."""
        return self.status == UP


class SimNetwork:
    """Nodes connected by a simulated faulty network, driven by a virtual clock."""

    def __init__(
        self,
        seed: int = 0,
        faults: LinkFaults | None = None,
        *,
        exchange_timeout: float = 10.0,
        backlog_limit: int = 4096,
        trace: bool = True,
        rng: random.Random | None = None,
        gc_young_threshold: int | None = YOUNG_THRESHOLD,
    ) -> None:
        self.rng = rng if rng is not None else random.Random(seed)
        self.faults = faults or LinkFaults()
        self.exchange_timeout = exchange_timeout
        self.backlog_limit = backlog_limit
        self.trace = trace
        self.gc_young_threshold = gc_young_threshold
        self.now = 0.0
        self.hosts: dict[Address, Host] = {}
        self.by_name: dict[str, Host] = {}
        self.host_list: list[Host] = []
        self.observers: list[Observer] = []
        self.lifecycle: list[Lifecycle] = []
        #: Counters proving what happened: datagrams, drops by reason, every fault applied.
        self.counts: dict[str, int] = {}
        #: Whether the event loop has run: until then no node has had input, so a node's
        #: table is what it was started with (``Host.started_from``).
        self.has_run = False
        self.cuts: dict[int, Cut] = {}
        #: Cuts of the reliable channel only (a firewall that drops TCP, not UDP).
        self.stream_cuts: list[Cut] = []
        #: Cuts of datagrams only (a firewall that drops UDP, not TCP).
        self.datagram_cuts: list[Cut] = []
        self._links: dict[tuple[Address | None, Address | None], LinkFaults] = {}
        self._cut_seq = 0
        self._queue = EventQueue()
        self._digest = hashlib.sha256()
        self._exchanges: dict[tuple[int, int, int], Host] = {}

    # ----------------------------------------------------------------------------- queries

    @property
    def gc_young_threshold(self) -> int | None:
        """The garbage collector's young-generation threshold while :meth:`run_until` runs:
        at least this many allocations (``None``: the collector is left as the application
        set it).  With CPython's 700, full collections walking the whole cluster take 14% of
        the CPU at 10,000 members (see ``swimcore.transports.gc_tuning.FewerCollections``).
        Raises :class:`~swimcore.errors.ConfigError` for anything but a positive int or
        ``None``."""
        return self._gc_young_threshold

    @gc_young_threshold.setter
    def gc_young_threshold(self, value: int | None) -> None:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ConfigError(
                f"gc_young_threshold is a number of allocations >= 1, or None; got {value!r}"
            )
        self._gc_young_threshold = value

    @property
    def trace_digest(self) -> str:
        """Hex digest of everything delivered, every action returned and every host fault."""
        return self._digest.hexdigest()

    @property
    def delivered(self) -> int:
        return self.counts.get("delivered", 0)

    @property
    def dropped(self) -> int:
        """Datagrams that never reached a running node (lost, cut, or to a stopped host)."""
        return sum(v for k, v in self.counts.items() if k.startswith("dropped."))

    def host(self, node: Node | Address | str) -> Host:
        """The host running ``node`` (or at that address, or with that name).

        Raises :class:`~swimcore.errors.StateError` when the network has no such node.
        """
        if isinstance(node, Node):
            return self._attached(node)
        if isinstance(node, Address):
            found = self.hosts.get(node)
            if found is None:
                raise StateError(f"no node at {node} in this network: add() a node there first")
            return found
        found = self.by_name.get(node)
        if found is None:
            close = difflib.get_close_matches(str(node), list(self.by_name), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "add() a node by that name first"
            raise StateError(f"no node named {node!r} in this network: {hint}")
        return found

    def _attached(self, node: Node) -> Host:
        """The host of ``node``, which must have been added (a replaced node still names it)."""
        found = self.hosts.get(node.address)
        if found is None:
            raise StateError(
                f"node {node.name!r} is not in this network: add() it before using it here"
            )
        return found

    def pending_events(self) -> int:
        """Events waiting in the queue (datagrams in flight, timers, scripted calls)."""
        return len(self._queue)

    # --------------------------------------------------------------------------- building

    def add(self, node: Node) -> Host:
        """Attach ``node`` at its advertised address (not started: call ``start`` or ``join``)."""
        if node.address in self.hosts:
            raise AddressError(f"{node.address} is taken; use restart() to replace its node")
        host = Host(node, index=len(self.host_list), key=str(node.address).encode())
        self.hosts[node.address] = host
        self.by_name[node.name] = host
        self.host_list.append(host)
        self._note(host, "add")
        return host

    def start(
        self,
        node: Node,
        members: Iterable[tuple[str, Address]] | None = None,
        *,
        roster: Roster | None = None,
        seeds: Sequence[Address] = (),
    ) -> None:
        """Start ``node`` now, optionally knowing ``members`` already, or sharing ``roster``
        (a bootstrapped cluster), with ``seeds`` to fall back on (see
        :meth:`swimcore.Node.start`)."""
        host = self._attached(node)
        given = list(members) if members is not None else []
        actions = node.start(self.now, given, roster=roster, seeds=seeds)
        host.started_from = None if given else roster
        self._note(host, "start")
        self._carry(host, actions)

    def join(self, node: Node, seeds: Sequence[Address]) -> None:
        """Make ``node`` join through ``seeds`` now."""
        host = self._attached(node)
        actions = node.join(seeds, self.now)
        self._note(host, "join")
        self._carry(host, actions)

    def feed(self, node: Node, actions: Iterable[Action]) -> None:
        """Carry out ``actions`` a caller got from ``node`` (``broadcast``, ``set_metadata``)."""
        self._carry(self._attached(node), list(actions))

    def at(self, when: float, call: Callable[[], None]) -> None:
        """Run ``call`` at virtual time ``when`` (scripted faults and operations); a time
        already past runs it next.  Raises :class:`~swimcore.errors.ClockError` for a time that
        is not finite."""
        if not math.isfinite(when):
            raise ClockError(f"at() needs a finite virtual time in seconds, got {when!r}")
        self._queue.push(max(when, self.now), _CALL, call)

    # ----------------------------------------------------------------------- host faults

    def crash(self, node: Node | Address | str) -> None:
        """Stop a node silently: it neither sends nor receives from now on."""
        host = self.host(node)
        if host.status != UP:
            return
        host.status = CRASHED
        self._drop_backlog(host)
        self._count("crashes")
        self._note(host, "crash")

    def leave(self, node: Node | Address | str, linger: float | None = None) -> None:
        """Make a node leave gracefully now; it keeps running for ``linger`` seconds (so the news
        spreads), then stops.  ``None`` keeps it running."""
        if linger is not None:
            _check_duration(
                "linger", linger, "a finite number of seconds >= 0 (None keeps the node running)"
            )
        host = self.host(node)
        if host.status != UP:
            return
        self._count("leaves")
        self._note(host, "leave")
        self._carry(host, host.node.leave(self.now))
        if linger is not None:
            life = host.life
            self.at(self.now + linger, lambda: self._stop(host, life))

    def restart(self, node: Node) -> Host:
        """Replace the node at ``node.address`` by ``node`` (a new process with the same name
        and address).  The old one is crashed first if it still runs.  Start or join the new
        node next."""
        host = self.hosts.get(node.address)
        if host is None:
            raise StateError(
                f"restart replaces the node at an address in this network, and none is at "
                f"{node.address}: add() a node there first"
            )
        if node.name != host.node.name:
            raise ConfigError(f"restart keeps the name: {host.node.name!r}, not {node.name!r}")
        if host.status == UP:
            self.crash(host.node)
        self.by_name.pop(host.node.name, None)
        host.node = node
        host.started_from = None
        host.life += 1
        host.status = UP
        host.wake = None
        host.paused = False
        host.pause_token += 1
        self.by_name[node.name] = host
        self._count("restarts")
        self._note(host, "restart")
        return host

    def pause(self, node: Node | Address | str, duration: float) -> None:
        """Stop a node from handling anything for ``duration``; it then catches up, late.
        ``math.inf`` pauses it until :meth:`resume`."""
        _check_duration(
            "a pause's duration",
            duration,
            "a number of seconds >= 0 (math.inf: until resume())",
            forever=True,
        )
        host = self.host(node)
        if host.status != UP:
            return
        host.paused = True
        host.pause_token += 1
        self._count("pauses")
        self._note(host, "pause")
        self._queue.push(self.now + duration, _RESUME, (host, host.life, host.pause_token))

    def resume(self, node: Node | Address | str) -> None:
        """End a pause now (no-op when the node is not paused)."""
        host = self.host(node)
        if host.paused:
            self._resume(host)

    # ----------------------------------------------------------------------- link faults

    def partition(
        self,
        side_a: Iterable[Node | Address],
        side_b: Iterable[Node | Address],
        *,
        both_ways: bool = True,
    ) -> int:
        """Cut traffic from ``side_a`` to ``side_b`` (and back unless ``both_ways`` is False).

        A node must be in the network (else :class:`~swimcore.errors.StateError`); an address
        may be one no node has yet, so that a node added later is cut off too.  Returns an id
        for :meth:`heal`.
        """
        a = self._side(side_a)
        b = self._side(side_b)
        self._cut_seq += 1
        self.cuts[2 * self._cut_seq] = Cut(a, b)
        if both_ways:
            self.cuts[2 * self._cut_seq + 1] = Cut(b, a)
        self._count("partitions")
        self._note_text(f"partition {self._cut_seq} {len(a)}x{len(b)} {both_ways}")
        return self._cut_seq

    def _side(self, nodes: Iterable[Node | Address]) -> frozenset[Address]:
        """The addresses of one side of a cut (its nodes must be in the network)."""
        addresses = []
        for n in nodes:
            if isinstance(n, Node):
                self._attached(n)
                addresses.append(n.address)
            elif isinstance(n, Address):
                addresses.append(n)
            else:
                raise AddressError(
                    f"a partition side holds nodes or swimcore.Address values "
                    f"(Address.parse reads 'host:port'), got {n!r}"
                )
        return frozenset(addresses)

    def heal(self, cut: int | None = None) -> None:
        """Remove the cut ``cut`` (as returned by :meth:`partition`), or every cut."""
        if cut is None:
            self.cuts.clear()
        else:
            self.cuts.pop(2 * cut, None)
            self.cuts.pop(2 * cut + 1, None)
        self._count("heals")
        self._note_text(f"heal {cut}")

    def set_link(
        self, source: Address | None, target: Address | None, faults: LinkFaults | None
    ) -> None:
        """Faults for datagrams from ``source`` to ``target`` (``None`` matches any address),
        overriding the default ``faults``; ``faults=None`` removes the override.  Lookup order:
        exact pair, then source only, then target only, then the default."""
        if faults is None:
            self._links.pop((source, target), None)
        else:
            self._links[source, target] = faults
        self._note_text(f"link {source} {target} {faults!r}")

    def link_faults(self, source: Address, target: Address) -> LinkFaults:
        """The faults that apply from ``source`` to ``target``."""
        links = self._links
        if links:
            found = (
                links.get((source, target))
                or links.get((source, None))
                or links.get((None, target))
            )
            if found is not None:
                return found
        return self.faults

    def blocked(self, source: Address, target: Address) -> bool:
        """Whether a cut stops traffic from ``source`` to ``target``."""
        return any(cut.blocks(source, target) for cut in self.cuts.values())

    # ----------------------------------------------------------------------------- running

    def run_until(self, until: float) -> None:
        """Process events up to virtual time ``until`` (a time already past does nothing).

        Raises :class:`~swimcore.errors.ClockError` at once for a time that is not finite or
        past 2**40 s, where the nodes' clocks end (an infinite one would never return).
        """
        if not (isinstance(until, int | float) and abs(until) <= MAX_NOW):  # NaN fails too
            raise ClockError(
                f"run until a finite virtual time within ±2**40 seconds, got {until!r}"
            )
        self.has_run = True
        if self.gc_young_threshold is None:
            self._run(until)
        else:
            with FewerCollections(self.gc_young_threshold):
                self._run(until)
        self.now = max(self.now, until)

    def _run(self, until: float) -> None:
        queue = self._queue
        heap = queue.heap  # the earliest bucket: popped here, refilled by advance()
        pop = heapq.heappop
        while (heap or queue.advance()) and heap[0][0] <= until:
            when, _, kind, payload = pop(heap)
            self.now = when
            if kind == _DELIVER:
                self._deliver(*payload)
            elif kind == _TICK:
                index, life = payload
                host = self.host_list[index]
                if host.wake == when and host.life == life and host.status == UP:
                    host.wake = None
                    if not host.paused:
                        self._carry(host, host.node.tick(when))
            elif kind == _EXCHANGE:
                self._exchange(*payload)
            elif kind == _REPLY:
                self._reply(*payload)
            elif kind == _RESUME:
                host, life, token = payload
                if host.life == life and host.pause_token == token and host.paused:
                    self._resume(host)
            else:
                payload()

    def run_for(self, duration: float) -> None:
        """Process events for ``duration`` more seconds of virtual time (finite, >= 0, else
        :class:`~swimcore.errors.ClockError`)."""
        if isinstance(duration, bool) or not (
            isinstance(duration, int | float) and 0 <= duration < math.inf
        ):
            raise ClockError(f"run_for needs a finite number of seconds >= 0, got {duration!r}")
        self.run_until(self.now + duration)

    # ---------------------------------------------------------------------------- plumbing

    def _count(self, key: str, amount: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount

    def _note(self, host: Host, what: str) -> None:
        if self.trace:
            self._digest.update(_TIME.pack(self.now) + b" %s %s\n" % (host.key, what.encode()))
        for hook in self.lifecycle:
            hook(self.now, host, what)

    def _note_text(self, text: str) -> None:
        if self.trace:
            self._digest.update(_TIME.pack(self.now) + b" " + text.encode() + b"\n")

    def _carry(self, host: Host, actions: list[Action]) -> None:
        node = host.node
        for action in actions:
            if isinstance(action, Send):
                self._transmit(host, action.to, action.data)
            elif isinstance(action, ExchangeRequest):
                self._request(host, action)
            else:
                if self.trace:
                    self._digest.update(
                        _TIME.pack(self.now) + f" {node.name} {action!r}\n".encode()
                    )
                for observer in self.observers:
                    observer(self.now, node, action)
        if host.status != UP or host.node is not node:
            return  # an observer crashed or replaced it meanwhile
        deadline = node.next_deadline()
        if deadline is not None and (host.wake is None or deadline < host.wake):
            deadline = max(deadline, self.now)
            host.wake = deadline
            # Ints only, so the collector stops tracking the event: in a large cluster a tick
            # outlives many young collections and would be walked by every full one.
            self._queue.push(deadline, _TICK, (host.index, host.life))

    def _transmit(self, host: Host, to: Address, data: bytes) -> None:
        source = host.node.address
        counts = self.counts
        host.sent += 1
        host.sent_bytes += len(data)
        counts["sent"] = counts.get("sent", 0) + 1
        if self.cuts and self.blocked(source, to):
            counts["dropped.partition"] = counts.get("dropped.partition", 0) + 1
            return
        if self.datagram_cuts and any(c.blocks(source, to) for c in self.datagram_cuts):
            counts["dropped.datagram_cut"] = counts.get("dropped.datagram_cut", 0) + 1
            return
        faults = self.link_faults(source, to) if self._links else self.faults
        rng = self.rng
        if faults.loss and rng.random() < faults.loss:
            counts["dropped.loss"] = counts.get("dropped.loss", 0) + 1
            return
        if not faults.damages:
            self._queue.push(self.now + faults.delay(rng), _DELIVER, (source, to, data, False))
            return
        copies = 1
        if faults.duplicate and rng.random() < faults.duplicate:
            copies = 2
            self._count("duplicated")
        for _ in range(copies):
            payload = data
            damaged = True
            if faults.bitflip and rng.random() < faults.bitflip:
                payload = corrupt(data, rng, truncate=False)
                self._count("corrupted.bitflip")
            elif faults.truncate and rng.random() < faults.truncate:
                payload = corrupt(data, rng, truncate=True)
                self._count("corrupted.truncate")
            else:
                damaged = False
            delay = faults.delay(rng)
            if faults.reorder and rng.random() < faults.reorder:
                delay += faults.reorder_delay * (1.0 + rng.random())
                self._count("reordered")
            self._queue.push(self.now + delay, _DELIVER, (source, to, payload, damaged))

    def _deliver(self, source: Address, to: Address, data: bytes, damaged: bool) -> None:
        host = self.hosts.get(to)
        if host is None or host.status != UP:
            self._count("dropped.down")
            return
        if host.paused:
            if len(host.backlog) >= self.backlog_limit:
                self._count("dropped.backlog_full")
            else:
                host.backlog.append(("datagram", source, data, damaged))
                self._count("backlogged")
            return
        self._receive(host, source, data, damaged)

    def _receive(self, host: Host, source: Address, data: bytes, damaged: bool = False) -> None:
        counts = self.counts
        counts["delivered"] = counts.get("delivered", 0) + 1
        host.received += 1
        host.received_bytes += len(data)
        if self.trace:
            sender = self.hosts.get(source)
            self._digest.update(
                _TIME.pack(self.now)
                + (sender.key if sender is not None else str(source).encode())
                + host.key
                + data
            )
        if damaged:
            self._receive_damaged(host, source, data)
            return
        self._carry(host, host.node.receive(data, source, self.now))

    def _receive_damaged(self, host: Host, source: Address, data: bytes) -> None:
        """Deliver a corrupted datagram and count whether the node dropped it, as it must."""
        node = host.node
        before = _drops(node)
        actions = node.receive(data, source, self.now)
        after = _drops(node)
        if after[0] > before[0]:
            self._count("corrupted.dropped")
        else:
            self._count("corrupted.accepted")
        if after[1] > before[1]:
            self._count("corrupted.internal_error")
        self._carry(host, actions)

    # --------------------------------------------------------------------------- exchanges

    def _request(self, host: Host, request: ExchangeRequest) -> None:
        key = (host.index, host.life, request.exchange_id)
        self._exchanges[key] = host
        self._count("exchanges")
        source = host.node.address
        forward = self.link_faults(source, request.to)
        latency = forward.delay(self.rng)
        # The SYN and the request travel forward, the SYN-ACK back (no draw without loss).
        back = self.link_faults(request.to, source)
        latency += self._retransmits(forward, SYN_RTO) + self._retransmits(back, SYN_RTO)
        latency += self._retransmits(forward, DATA_RTO)
        cut = self.cuts and (self.blocked(source, request.to) or self.blocked(request.to, source))
        if cut or any(c.blocks(source, request.to) for c in self.stream_cuts):
            self._count("exchanges.cut")  # the connection attempt times out
        elif latency >= self.exchange_timeout:
            self._count("exchanges.lost")  # lost and sent again until the requester gave up
        else:
            deadline = self.now + self.exchange_timeout
            self._queue.push(self.now + latency, _EXCHANGE, (key, request, deadline))
        self._queue.push(self.now + self.exchange_timeout, _REPLY, (key, None, "timeout"))

    def _exchange(
        self, key: tuple[int, int, int], request: ExchangeRequest, deadline: float
    ) -> None:
        target = self.hosts.get(request.to)
        requester = self._exchanges.get(key)
        if requester is None:
            return
        if target is None or target.status != UP:
            latency = self.link_faults(request.to, requester.node.address).delay(self.rng)
            self._queue.push(self.now + latency, _REPLY, (key, None, "connection refused"))
            self._count("exchanges.refused")
            return
        # Connected: the requester sends its data now (the node builds it on first read).
        requester.exchange_bytes += len(request.data)
        if target.paused:
            target.backlog.append(("exchange", key, request, deadline))
            self._count("backlogged")
            return
        self._answer(target, requester, key, request)

    def _answer(
        self, target: Host, requester: Host, key: tuple[int, int, int], request: ExchangeRequest
    ) -> None:
        back = self.link_faults(target.node.address, requester.node.address)
        latency = back.delay(self.rng) + self._retransmits(back, DATA_RTO)
        reply, actions = target.node.handle_exchange(request.data, self.now)
        if reply is not None:
            target.exchange_bytes += len(reply)
        self._count("exchanges.answered")
        self._carry(target, actions)
        if latency < self.exchange_timeout:  # else the requester gives up first
            self._queue.push(self.now + latency, _REPLY, (key, reply, "rejected"))

    def _retransmits(self, faults: LinkFaults, rto: float) -> float:
        """The time one TCP segment over a link with ``faults`` spends being sent again."""
        extra = 0.0
        if not faults.loss:
            return extra
        for _ in range(MAX_RETRIES):
            if self.rng.random() >= faults.loss:
                return extra
            self._count("exchanges.retransmits")
            extra += rto
            rto *= 2
        return math.inf

    def _reply(self, key: tuple[int, int, int], reply: bytes | None, reason: str) -> None:
        host = self._exchanges.get(key)
        if host is None:
            return  # answered already (this is the timeout) or the requester is gone
        if host.status != UP or host.life != key[1]:
            del self._exchanges[key]
            return
        if host.paused:
            host.backlog.append(("reply", key, reply, reason))
            return
        del self._exchanges[key]
        self._feed_reply(host, key[2], reply, reason)

    def _feed_reply(self, host: Host, exchange_id: int, reply: bytes | None, reason: str) -> None:
        if reply is None:
            self._count("exchanges.failed")
            self._carry(host, host.node.exchange_failed(exchange_id, reason, self.now))
        else:
            self._count("exchanges.completed")
            self._carry(host, host.node.exchange_reply(exchange_id, reply, self.now))

    # ------------------------------------------------------------------------------ pauses

    def _resume(self, host: Host) -> None:
        host.paused = False
        host.pause_token += 1
        self._note(host, "resume")
        backlog, host.backlog = host.backlog, []
        for item in backlog:
            if host.status != UP or host.paused:
                break
            kind = item[0]
            if kind == "datagram":
                self._receive(host, item[1], item[2], item[3])
            elif kind == "exchange":
                _, key, request, deadline = item
                requester = self._exchanges.get(key)
                if requester is not None and self.now < deadline:
                    self._answer(host, requester, key, request)
            else:
                _, key, reply, reason = item
                if self._exchanges.pop(key, None) is not None:
                    self._feed_reply(host, key[2], reply, reason)
        if host.status == UP and not host.paused:
            self._carry(host, host.node.tick(self.now))

    def _drop_backlog(self, host: Host) -> None:
        if host.backlog:
            self._count("dropped.down", len(host.backlog))
            host.backlog = []
        host.paused = False

    def _stop(self, host: Host, life: int) -> None:
        if host.life == life and host.status == UP:
            host.status = STOPPED
            self._drop_backlog(host)
            self._note(host, "stop")
