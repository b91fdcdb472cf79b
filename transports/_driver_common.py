"""What every socket driver shares: binding, action dispatch, event fan-out, leave and discovery.

The asyncio and anyio drivers (and a thread driver later) differ only in how they wait: for a
datagram, a deadline, a TCP stream.  Everything else is written once here:

* :func:`plan_bind` and :func:`open_sockets` turn ``bind``/``advertise`` into one UDP and one TCP
  socket on the same port number (port 0 picks a free one, retried on conflict);
* :class:`MemberCore` owns the :class:`~swimcore.Node`, feeds it with the driver's clock, and
  carries out its actions through three hooks the driver provides (send a datagram, start an
  exchange, re-arm the wake-up); events fan out to callbacks and subscriptions, and driver
  counters sit beside the node's (with the durations of the exchanges this member asked for);
  direct messages settle their senders' waiters here (:meth:`MemberCore.send_message`);
* :class:`MemberLogger` and :func:`core_logger` give every record the local member's name:
  ``swimcore.core`` for the node, ``swimcore.transports.<driver>`` for each driver;
* :func:`discovery_loop`, :func:`publish_join_address` and :func:`wait_for_leave` are coroutines
  that only await what the driver injects (``sleep``, ``to_thread``), so they run unchanged on
  asyncio and on trio.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import logging
import random
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import attrs

from swimcore import (
    Address,
    AddressError,
    BroadcastReceived,
    Config,
    DeliveryError,
    ExchangeRefused,
    ExchangeRequest,
    JoinAddress,
    JoinFailed,
    JoinResult,
    Keyring,
    LeaderChanged,
    LogSink,
    MemberInfo,
    MessageDelivered,
    MessageFailed,
    NameConflict,
    Node,
    RoundTrip,
    Send,
    StateError,
    refusals,
)
from swimcore.actions import Action
from swimcore.messages import State

_LOGGER = "swimcore.transports"
log = logging.getLogger(_LOGGER)

#: The logger the node itself writes to (membership changes at INFO, protocol detail at DEBUG).
CORE_LOGGER = "swimcore.core"

T = TypeVar("T")

#: What ``events()`` yields: every action a node reports except the transport ones (``Send``
#: and ``ExchangeRequest``): membership events, leader changes, broadcasts, messages, ...
Event = Action
EventCallback = Callable[[Event], object]

#: Receive buffer: larger than any datagram, so oversized ones reach the node and are counted.
RECV_SIZE = 65536
#: Datagrams read in one go before the driver looks at its timers again.
RECV_BATCH = 256
#: Concurrent inbound TCP exchanges; more are refused and counted.
MAX_INBOUND_EXCHANGES = 64
#: Events buffered per subscription before new ones are dropped (and counted).
EVENT_BUFFER = 10_000
_BIND_ATTEMPTS = 64
_SOURCE_CACHE = 4096
#: Exchanges whose start time is kept for their duration; beyond that the oldest is forgotten.
_TIMED_EXCHANGES = 4096

#: Called once with the outcome of a direct message: ``None`` (delivered or sent) or the error.
MessageDone = Callable[[DeliveryError | None], None]


# ------------------------------------------------------------------------------- logging


class MemberLogger(logging.LoggerAdapter[logging.Logger]):
    """A driver's logger for one member: every record names it.

    Each record gets ``extra={"member": name}`` (for formatters and filters) and its message
    starts with ``[name]`` (for plain text logs), like the node's own records.
    """

    def __init__(self, logger: logging.Logger, member: str) -> None:
        super().__init__(logger, {"member": member})
        self.member = member

    def log(
        self,
        level: int,
        msg: object,
        *args: object,
        exc_info: Any = None,
        stack_info: bool = False,
        stacklevel: int = 1,
        extra: Mapping[str, object] | None = None,
        **kwargs: object,
    ) -> None:
        if not self.logger.isEnabledFor(level):
            return
        # Without arguments logging does not %-format: keep a literal '%' literal.
        text = str(msg) if args else str(msg).replace("%", "%%")
        self.logger.log(
            level,
            "[%s] " + text,
            self.member,
            *args,
            exc_info=exc_info,
            stack_info=stack_info,
            stacklevel=stacklevel + 1,
            extra={"member": self.member, **(extra or {})},
        )


def driver_logger(driver: str, member: str) -> MemberLogger:
    """The logger of one driver (``swimcore.transports.<driver>``) for the member ``member``."""
    return MemberLogger(logging.getLogger(f"swimcore.transports.{driver}"), member)


def core_logger(member: str) -> logging.LoggerAdapter[logging.Logger]:
    """The node's log sink: ``swimcore.core`` with ``extra={"member": name}`` on every record.

    The node already starts each message with ``[name]``.
    """
    return logging.LoggerAdapter(logging.getLogger(CORE_LOGGER), {"member": member})


class DiscoveryStore(Protocol):
    """Where a node looks for the join address and where the leader writes it.

    Implementations block (files, DNS, HTTP); drivers call them in a worker thread.
    """

    def lookup(self) -> Sequence[Address]:
        """Addresses to join through (possibly empty); raise on a failure to reach the store."""
        ...

    def publish(self, address: Address) -> None:
        """Record ``address`` as the join address (a no-op for read-only stores)."""
        ...


# ------------------------------------------------------------------------------- binding


@attrs.frozen(slots=True)
class BindPlan:
    """Where to bind and what to advertise, checked before any socket is opened."""

    bind: Address
    advertise: Address | None

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if self.bind.ip.version == 6 else socket.AF_INET

    def advertised(self, port: int) -> Address:
        """The address the node advertises once the actual ``port`` is known."""
        if self.advertise is None:
            return Address(self.bind.ip, port)
        if self.advertise.port == 0:
            return Address(self.advertise.ip, port)
        return self.advertise


def as_address(value: Address | str) -> Address:
    """An :class:`Address` from itself or from ``"ip:port"`` text."""
    return value if isinstance(value, Address) else Address.parse(value)


def plan_bind(bind: Address | str, advertise: Address | str | None) -> BindPlan:
    """Validate ``bind`` and ``advertise``; binding ``0.0.0.0``/``::`` needs ``advertise``."""
    bind_address = as_address(bind)
    advertise_address = None if advertise is None else as_address(advertise)
    if advertise_address is None and bind_address.is_unspecified:
        raise AddressError(
            f"binding to {bind_address} needs advertise=: the address other members reach "
            "this node at (0.0.0.0 and :: are never advertised)"
        )
    if advertise_address is not None and advertise_address.is_unspecified:
        raise AddressError(f"cannot advertise {advertise_address}: give a routable address")
    return BindPlan(bind_address, advertise_address)


def _udp_socket(plan: BindPlan, port: int) -> socket.socket:
    sock = socket.socket(plan.family, socket.SOCK_DGRAM)
    try:
        if plan.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        # Never SO_REUSEPORT: two nodes on one port would silently split its traffic.
        sock.bind((str(plan.bind.ip), port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _tcp_socket(plan: BindPlan, port: int) -> socket.socket:
    sock = socket.socket(plan.family, socket.SOCK_STREAM)
    try:
        if plan.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        # SO_REUSEADDR (not REUSEPORT) only lets a restarted node bind past TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((str(plan.bind.ip), port))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def open_sockets(plan: BindPlan) -> tuple[socket.socket, socket.socket]:
    """One UDP and one listening TCP socket on the same port number, both non-blocking.

    With port 0 the UDP socket picks a free port and TCP takes the same number; if TCP finds it
    taken, both are closed and another port is tried.
    """
    for _ in range(_BIND_ATTEMPTS):
        udp = _udp_socket(plan, plan.bind.port)
        port = int(udp.getsockname()[1])
        try:
            tcp = _tcp_socket(plan, port)
        except OSError as exc:
            udp.close()
            if plan.bind.port == 0 and exc.errno == errno.EADDRINUSE:
                continue
            raise
        return udp, tcp
    raise OSError(errno.EADDRINUSE, f"no port free for both UDP and TCP on {plan.bind.ip}")


def sockaddr(address: Address) -> tuple[str, int]:
    """The ``(host, port)`` pair the socket module takes for ``address``."""
    return (str(address.ip), address.port)


class SourceCache:
    """Socket addresses of datagram senders turned into :class:`Address`, memoised (bounded)."""

    def __init__(self) -> None:
        self._known: dict[tuple[Any, ...], Address] = {}

    def get(self, source: tuple[Any, ...]) -> Address | None:
        """The :class:`Address` of ``source``, or ``None`` when it is not an IP socket address."""
        found = self._known.get(source)
        if found is not None:
            return found
        try:
            ip = ipaddress.ip_address(source[0])
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            found = Address(ip, int(source[1]))
        except (ValueError, IndexError, TypeError):
            return None
        if len(self._known) >= _SOURCE_CACHE:
            self._known.clear()
        self._known[source] = found
        return found


# ------------------------------------------------------------------------------ counters


class Counters:
    """Driver counters (socket errors, drops, exchanges), reported beside the node's."""

    def __init__(self) -> None:
        self._values: dict[str, int] = {}

    def add(self, key: str, amount: int = 1) -> None:
        self._values[key] = self._values.get(key, 0) + amount

    def get(self, key: str) -> int:
        return self._values.get(key, 0)

    def snapshot(self) -> dict[str, int]:
        return {f"driver.{k}": v for k, v in sorted(self._values.items())}

    def socket_error(self, exc: OSError, where: str) -> None:
        """Count ``exc`` under ``socket_errors`` and by errno name: never fatal."""
        self.add("socket_errors")
        name = errno.errorcode.get(exc.errno or 0, "other")
        self.add(f"socket_errors.{where}.{name}")


def send_datagram(
    sock: socket.socket, data: bytes, to: tuple[str, int], counters: Counters
) -> None:
    """Send on a non-blocking UDP socket; a full buffer or any socket error is counted only."""
    try:
        sock.sendto(data, to)
    except (BlockingIOError, InterruptedError):
        counters.add("dropped.send_buffer_full")
    except OSError as exc:
        counters.socket_error(exc, "send")


# ---------------------------------------------------------------------------- events


class EventBuffer:
    """One subscriber's queue of events: bounded, drops new events when full (counted).

    ``wake`` is the driver's way to resume a waiting reader (it sets an event of its backend).
    """

    def __init__(self, maxsize: int, counters: Counters) -> None:
        self._items: deque[Event] = deque()
        self._maxsize = maxsize
        self._counters = counters
        self.closed = False
        self.wake: Callable[[], None] = lambda: None

    def put(self, event: Event) -> None:
        if self.closed:
            return
        if len(self._items) >= self._maxsize:
            self._counters.add("dropped.events")
            return
        self._items.append(event)
        self.wake()

    def pop(self) -> Event | None:
        return self._items.popleft() if self._items else None

    def close(self) -> None:
        self.closed = True
        self.wake()


class Fanout:
    """Hands each event to every callback and every subscription, in registration order.

    A callback that raises is logged and counted; it never reaches the node or the driver.
    """

    def __init__(
        self, counters: Counters, logger: logging.Logger | logging.LoggerAdapter[Any] = log
    ) -> None:
        self._counters = counters
        self._log = logger
        self._callbacks: list[EventCallback] = []
        self._buffers: list[EventBuffer] = []

    def add_callback(self, callback: EventCallback) -> Callable[[], None]:
        self._callbacks.append(callback)

        def remove() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return remove

    def subscribe(self, maxsize: int) -> EventBuffer:
        buffer = EventBuffer(maxsize, self._counters)
        self._buffers.append(buffer)
        return buffer

    def unsubscribe(self, buffer: EventBuffer) -> None:
        buffer.close()
        if buffer in self._buffers:
            self._buffers.remove(buffer)

    def emit(self, event: Event) -> None:
        for callback in list(self._callbacks):
            try:
                callback(event)
            except Exception:
                self._counters.add("callback_errors")
                self._log.exception("event callback %r failed on %r", callback, event)
        for buffer in self._buffers:
            buffer.put(event)

    def close(self) -> None:
        for buffer in self._buffers:
            buffer.close()
        self._buffers.clear()


# ------------------------------------------------------------------------------- the core


class MemberCore:
    """The node plus everything driver-independent about running it.

    ``send`` transmits one datagram, ``exchange`` starts carrying an :class:`ExchangeRequest`,
    ``rearm`` tells the driver the node's next deadline (it wakes up no later than that).
    ``log`` is the driver's logger for this member (see :func:`driver_logger`).
    """

    def __init__(
        self,
        node: Node,
        clock: Callable[[], float],
        *,
        send: Callable[[Address, bytes], None],
        exchange: Callable[[ExchangeRequest], None],
        rearm: Callable[[float], None],
        counters: Counters,
        on_join_address: Callable[[Address], None] | None = None,
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        self.node = node
        self.clock = clock
        self.counters = counters
        self.log = log if log is not None else MemberLogger(logging.getLogger(_LOGGER), node.name)
        self.fanout = Fanout(counters, self.log)
        self.sources = SourceCache()
        self.closing = False
        self._send = send
        self._exchange = exchange
        self._rearm = rearm
        self._on_join_address = on_join_address
        # exchange id -> (start time, peer) of exchanges in flight, for their durations.
        self._timed: dict[int, tuple[float, Address]] = {}
        # exchange id -> (member, waiter) of reliable direct messages in flight.
        self._messages: dict[int, tuple[str, MessageDone]] = {}

    def carry(self, actions: Iterable[Action]) -> None:
        """Carry out ``actions`` in order, then re-arm the wake-up at the next deadline."""
        for action in actions:
            if isinstance(action, Send):
                if not self.closing:
                    self._send(action.to, action.data)
            elif isinstance(action, ExchangeRequest):
                if self.closing:
                    failed = self.node.exchange_failed(action.exchange_id, "closing", self.clock())
                    for outcome in failed:
                        if isinstance(outcome, MessageFailed):
                            self._settle(outcome)
                else:
                    self._time_exchange(action)
                    self._exchange(action)
            else:
                if isinstance(action, MessageDelivered | MessageFailed):
                    self._settle(action)
                elif isinstance(action, JoinAddress) and self._on_join_address is not None:
                    self._on_join_address(action.address)
                self.fanout.emit(action)
        deadline = self.node.next_deadline()
        if deadline is not None and not self.closing:
            self._rearm(deadline)

    # Inputs, each stamped with the driver's clock.

    def tick(self, not_before: float = 0.0) -> None:
        """Fire due timers; ``not_before`` is the deadline the driver woke for (never early)."""
        self.carry(self.node.tick(max(self.clock(), not_before)))

    def receive(self, data: bytes, source: tuple[Any, ...]) -> None:
        address = self.sources.get(source)
        if address is None:
            self.counters.add("dropped.bad_source")
            return
        self.carry(self.node.receive(data, address, self.clock()))

    def serve_exchange(self, data: bytes) -> bytes | None:
        reply, actions = self.node.handle_exchange(data, self.clock())
        self.carry(actions)
        if reply is None:
            self.counters.add("exchange.refused_in")
            self.log.debug("refused an exchange (%d bytes)", len(data))
        else:
            self.counters.add("exchange.served_in")
        return reply

    def exchange_reply(self, exchange_id: int, data: bytes) -> None:
        self.counters.add("exchange.completed_out")
        self._exchange_done(exchange_id, None)
        self.carry(self.node.exchange_reply(exchange_id, data, self.clock()))

    def exchange_failed(self, exchange_id: int, reason: str) -> None:
        self.counters.add("exchange.failed_out")
        self._exchange_done(exchange_id, reason)
        self.carry(self.node.exchange_failed(exchange_id, reason, self.clock()))

    def start(self, seeds: Sequence[Address]) -> None:
        now = self.clock()
        joining = f", joining through {', '.join(map(str, seeds))}" if seeds else ""
        self.log.info("started at %s%s", self.node.address, joining)
        self.carry(self.node.join(seeds, now) if seeds else self.node.start(now))

    def join(self, seeds: Sequence[Address]) -> None:
        self.log.info("joining through %s", ", ".join(map(str, seeds)))
        self.carry(self.node.join(seeds, self.clock()))

    def leave(self) -> None:
        if not self.node.has_left:
            self.log.info("leaving the group")
        self.carry(self.node.leave(self.clock()))

    def set_metadata(self, meta: bytes) -> None:
        self.carry(self.node.set_metadata(meta, self.clock()))
        self.log.debug(
            "metadata changed (%d bytes), incarnation %d", len(meta), self.node.incarnation
        )

    def broadcast(self, key: str, payload: bytes) -> None:
        self.carry(self.node.broadcast(key, payload, self.clock()))
        self.log.debug("broadcast %r queued (%d bytes)", key, len(payload))

    def stop(self, reason: str = "the member stopped") -> None:
        """The driver is stopping: no more input; every message still in flight fails now."""
        if not self.closing:
            self.log.info("stopped")
        self.closing = True
        self.fail_messages(reason)
        self.fanout.close()

    # Direct messages.

    def send_message(
        self, name: str, payload: bytes, *, reliable: bool, done: MessageDone
    ) -> int | None:
        """Send ``payload`` to the member ``name``; ``done`` hears the outcome exactly once.

        Best effort: the datagram is sent now, ``done(None)`` is called before this returns and
        the result is ``None``.  Reliable: the result is the exchange id, and ``done`` is called
        when the peer acknowledged (``None``) or the exchange failed (a :class:`DeliveryError`);
        call :meth:`forget_message` with the id when no longer waiting.  Raises
        :class:`DeliveryError` at once when ``name`` is not a live peer or the member is stopping,
        :class:`~swimcore.ConfigError` when the payload is too large.
        """
        if self.closing:
            raise DeliveryError(name, "this member is stopping")
        try:
            actions = self.node.send_message(name, payload, self.clock(), reliable=reliable)
        except StateError:
            raise DeliveryError(name, self._why_not_live(name)) from None
        exchange_id = None
        if reliable:
            for action in actions:
                if isinstance(action, ExchangeRequest):
                    exchange_id = action.exchange_id
                    self._messages[exchange_id] = (name, done)
        self.log.debug(
            "%s message to %s (%d bytes)", "reliable" if reliable else "best-effort", name,
            len(payload),
        )
        self.carry(actions)
        if not reliable:
            done(None)
        return exchange_id

    def forget_message(self, exchange_id: int | None) -> None:
        """Stop waiting for the reliable message ``exchange_id`` (its outcome is ignored)."""
        if exchange_id is not None:
            self._messages.pop(exchange_id, None)

    def fail_messages(self, reason: str) -> None:
        """Fail every reliable message still waiting for its outcome."""
        waiting, self._messages = self._messages, {}
        for name, done in waiting.values():
            done(DeliveryError(name, reason))

    def _why_not_live(self, name: str) -> str:
        if name == self.node.name:
            return "it is this member"
        info = self.node.member(name)
        if info is None:
            return "no such member"
        return f"the member is {info.state.name.lower()}"

    def _settle(self, event: MessageDelivered | MessageFailed) -> None:
        waiting = self._messages.pop(event.exchange_id, None)
        if waiting is None:
            return
        name, done = waiting
        if isinstance(event, MessageDelivered):
            done(None)
        else:
            self.log.debug("message to %s failed: %s", name, event.reason)
            done(DeliveryError(name, event.reason))

    # Exchange durations.

    def _time_exchange(self, request: ExchangeRequest) -> None:
        if len(self._timed) >= _TIMED_EXCHANGES:
            del self._timed[next(iter(self._timed))]
        self._timed[request.exchange_id] = (self.clock(), request.to)
        self.log.debug("exchange %d with %s started", request.exchange_id, request.to)

    def _exchange_done(self, exchange_id: int, failure: str | None) -> None:
        timed = self._timed.pop(exchange_id, None)
        if timed is None:
            return
        started, peer = timed
        elapsed = max(0.0, self.clock() - started)
        self.counters.add("exchange.duration_count")
        self.counters.add("exchange.duration_us", round(elapsed * 1e6))
        if failure is None:
            self.log.debug("exchange %d with %s done in %.3f s", exchange_id, peer, elapsed)
        else:
            self.log.debug(
                "exchange %d with %s failed after %.3f s: %s", exchange_id, peer, elapsed, failure
            )

    # Queries.

    def alone(self) -> bool:
        return not any(m.name != self.node.name for m in self.node.members())

    def live_addresses(self) -> list[Address]:
        return [m.address for m in self.node.members()]

    def counters_snapshot(self) -> dict[str, int]:
        out = self.node.counters()
        out.update(self.counters.snapshot())
        return out


class MemberSurface:
    """The synchronous part of the user surface, the same on every driver."""

    _core: MemberCore | None

    def _require_core(self) -> MemberCore:
        if self._core is None:
            raise RuntimeError("the member is not started: use it as `async with member:`")
        return self._core

    @property
    def node(self) -> Node:
        """The sans-IO node underneath (read it; drive it only through this object)."""
        return self._require_core().node

    @property
    def address(self) -> Address:
        """The advertised address, with the actual port once started."""
        return self._require_core().node.address

    @property
    def name(self) -> str:
        return self._require_core().node.name

    @property
    def incarnation(self) -> int:
        return self._require_core().node.incarnation

    @property
    def leader(self) -> MemberInfo | None:
        """The best-effort leader (alive member with the highest address) in this view."""
        return self._require_core().node.leader

    @property
    def health(self) -> int:
        return self._require_core().node.health

    def members(self) -> list[MemberInfo]:
        """Alive and suspect members, this one included (unless it left)."""
        return self._require_core().node.members()

    def member(self, name: str) -> MemberInfo | None:
        """One member by name (any state, until forgotten), or ``None``."""
        return self._require_core().node.member(name)

    def counters(self) -> dict[str, int]:
        """The node's counters plus the driver's (``driver.*``: socket errors, drops, ...)."""
        return self._require_core().counters_snapshot()

    def on_event(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(event)`` for every event from now on; returns a function to stop."""
        return self._require_core().fanout.add_callback(callback)

    def set_metadata(self, meta: bytes) -> None:
        """Change this member's metadata; it spreads with a higher incarnation."""
        self._require_core().set_metadata(meta)

    def broadcast(self, key: str, payload: bytes) -> None:
        """Disseminate an application payload to every member (newest per key wins)."""
        self._require_core().broadcast(key, payload)


def make_node(
    config: Config,
    advertised: Address,
    *,
    name: str | None,
    meta: bytes,
    seed: int | random.Random | None,
    incarnation: int,
    keyring: Keyring | None = None,
    log: LogSink | None = None,
) -> Node:
    """The node a driver runs; without ``seed`` its randomness comes from the OS.

    The node logs to ``log``, by default :func:`core_logger` for its name.
    """
    rng = random.Random() if seed is None else seed
    return Node(
        config,
        advertised,
        name=name,
        meta=meta,
        seed=rng,
        incarnation=incarnation,
        keyring=keyring,
        log=core_logger(str(advertised) if name is None else name) if log is None else log,
    )


def default_leave_timeout(config: Config) -> float:
    """How long a leave waits for its news to spread: three protocol periods, at least 1 s."""
    return max(1.0, 3 * config.probe_interval)


def default_exchange_timeout(config: Config) -> float:
    """Time allowed for one TCP exchange (dial, request, reply)."""
    return max(2.0, 5 * config.probe_interval)


# ----------------------------------------------------------------------- shared coroutines

Sleep = Callable[[float], Awaitable[None]]
ToThread = Callable[[Callable[[], Any]], Awaitable[Any]]


async def wait_for_leave(core: MemberCore, timeout: float, sleep: Sleep) -> None:
    """Leave, then wait (at most ``timeout``) until the queued news has been sent out."""
    if core.node.has_left:
        return
    core.leave()
    deadline = core.clock() + timeout
    step = max(0.01, min(0.1, core.node.config.gossip_interval or 0.1))
    while core.node.queue_depth() and not core.alone() and core.clock() < deadline:
        await sleep(step)


class Backoff:
    """Jittered exponential backoff: ``initial`` doubling up to ``maximum``, each delay x0.5-1.5."""

    def __init__(self, initial: float, maximum: float, rng: random.Random) -> None:
        self.initial = initial
        self.maximum = max(initial, maximum)
        self._rng = rng
        self._current = initial

    def next(self) -> float:
        delay = self._current * (0.5 + self._rng.random())
        self._current = min(self.maximum, self._current * 2)
        return delay

    def reset(self) -> None:
        self._current = self.initial


@attrs.frozen(slots=True)
class DiscoveryOptions:
    """How often a member asks its store: quickly (with backoff) while alone, then rarely."""

    #: First retry delay while alone (the backoff doubles it up to ``alone_max``).
    alone_initial: float = 1.0
    alone_max: float = 8.0
    #: While in a group, look again this often and contact any address not known yet, so
    #: groups that formed apart merge (0 turns this off).
    refresh: float = 30.0
    #: At most this many unknown addresses (picked at random) are contacted per look: a DNS
    #: name of a large deployment lists every pod, and one or two are enough to join.
    max_contacts: int = 3


async def discovery_loop(
    core: MemberCore,
    store: DiscoveryStore,
    options: DiscoveryOptions,
    *,
    sleep: Sleep,
    to_thread: ToThread,
    rng: random.Random,
) -> None:
    """Find the join address in ``store`` and join through it, for as long as the member runs."""
    backoff = Backoff(options.alone_initial, options.alone_max, rng)
    failing = False  # the first failure of a streak is a warning, the repeats are detail
    while not core.closing:
        alone = core.alone()
        if not core.node.has_left and (alone or options.refresh > 0):
            try:
                found = list(await to_thread(store.lookup))
            except Exception as exc:
                core.counters.add("discovery.lookup_errors")
                level = logging.DEBUG if failing else logging.WARNING
                core.log.log(level, "discovery lookup failed: %s", exc)
                failing = True
                found = []
            else:
                if failing:
                    core.log.info("discovery store reachable again")
                failing = False
            core.counters.add("discovery.lookups")
            known = set(core.live_addresses())
            fresh = [a for a in found if a not in known]
            if len(fresh) > options.max_contacts:
                fresh = rng.sample(fresh, options.max_contacts)
            if fresh and not core.closing:
                core.counters.add("discovery.joins")
                core.join(fresh)
        if alone:
            delay = backoff.next()
        else:
            backoff.reset()
            delay = options.refresh if options.refresh > 0 else options.alone_max
        await sleep(delay)


class Publisher:
    """Writes the join address to the store, one write at a time (the latest wins)."""

    def __init__(self, store: DiscoveryStore, counters: Counters) -> None:
        self._store = store
        self._counters = counters
        self._busy = False
        self._pending: Address | None = None

    def want(self, address: Address) -> bool:
        """Note ``address``; True when the caller must start :meth:`run` (none is running)."""
        self._pending = address
        if self._busy:
            return False
        self._busy = True
        return True

    async def run(
        self, to_thread: ToThread, logger: logging.Logger | logging.LoggerAdapter[Any] = log
    ) -> None:
        try:
            while self._pending is not None:
                address, self._pending = self._pending, None
                try:
                    await to_thread(functools.partial(self._store.publish, address))
                except Exception as exc:
                    self._counters.add("discovery.publish_errors")
                    logger.warning("publishing join address %s failed: %s", address, exc)
                else:
                    self._counters.add("discovery.published")
                    logger.debug("published join address %s", address)
        finally:
            self._busy = False


def describe_event(event: Event) -> str:
    """One log line for ``event``."""
    if isinstance(event, BroadcastReceived):
        return f"broadcast {event.key!r} from {event.origin} ({len(event.payload)} bytes)"
    if isinstance(event, LeaderChanged):
        return f"leader is now {event.leader.name} ({event.leader.address})"
    if isinstance(event, JoinAddress):
        return f"this node is leader: join address {event.address}"
    if isinstance(event, JoinFailed):
        return f"join through {event.seed} failed: {event.reason}"
    if isinstance(event, JoinResult):
        if event.error is not None:
            return f"join attempt failed: {event.error}"
        tried = len(event.reached) + len(event.failures)
        return f"joined through {len(event.reached)} of {tried} seeds"
    if isinstance(event, RoundTrip):
        return f"round trip to {event.name} ({event.address}): {event.rtt * 1000:.1f} ms"
    if isinstance(event, ExchangeRefused):
        advice = refusals.ADVICE.get(event.reason, "check the configuration")
        return f"refused an exchange: {event.reason} ({event.detail}); {advice}"
    if isinstance(event, NameConflict):
        if event.local:
            return (
                f"name conflict: this member's name {event.name!r} is also claimed at "
                f"{event.other}; give each member its own --name"
            )
        return (
            f"name conflict: {event.name!r} is at {event.address} and also claimed at "
            f"{event.other}; two members run with one name"
        )
    member = getattr(event, "member", None)
    if isinstance(member, MemberInfo):
        kind = type(event).__name__.removeprefix("Member").lower()
        return f"member {kind}: {member.name} ({member.address}) incarnation {member.incarnation}"
    return repr(event)


def live_state(info: MemberInfo | None) -> bool:
    return info is not None and info.state in (State.ALIVE, State.SUSPECT)
