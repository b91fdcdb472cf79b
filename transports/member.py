"""A member as every driver runs it: the node, its options, its counters and its user surface.

The drivers differ only in how they wait (for a datagram, a deadline, a TCP stream).  The rest
is here, once:

* :class:`MemberCore` owns the :class:`~swimcore.Node`, feeds it with the driver's clock and
  carries out its actions through three hooks the driver provides (send a datagram, start an
  exchange, re-arm the wake-up); events fan out to callbacks and subscriptions; driver counters
  sit beside the node's; direct messages settle their senders' waiters;
* :class:`MemberBase` is what each driver's member class builds on: one constructor over
  :class:`~swimcore.transports.MemberOptions`, binding, the node, and the synchronous surface
  (``members()``, ``counters()``, ``broadcast()``, ...), the same on every driver;
* :func:`wait_for_leave` is a coroutine that awaits only the ``sleep`` it is given, so it runs
  unchanged on asyncio, trio and the thread driver's protocol thread.
"""

from __future__ import annotations

import functools
import random
import socket
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, Unpack

from swimcore import (
    Address,
    Config,
    ConfigError,
    DeliveryError,
    ExchangeRequest,
    JoinAddress,
    MemberInfo,
    MessageDelivered,
    MessageFailed,
    Node,
    Outgoing,
    Send,
    StateError,
)
from swimcore import counter_names as cn
from swimcore._inputs import as_bytes, require_callable
from swimcore.actions import Action
from swimcore.transports import gc_tuning
from swimcore.transports.counters import Counters
from swimcore.transports.events import EventCallback, EventStream, Fanout, Flag
from swimcore.transports.lazy_log import AnyLogger, Logger, deferred
from swimcore.transports.options import MemberOptions, MemberOverrides
from swimcore.transports.sockets import BindPlan, open_sockets, source_address

if TYPE_CHECKING:
    # The discovery loop is loaded by a member that has a store (seeds given as host names or
    # ``discovery``): the others never need it.
    from swimcore.transports.discovery.loop import Publisher, Sleep, ToThread

#: Concurrent inbound TCP exchanges; more are refused and counted.
MAX_INBOUND_EXCHANGES = 64
#: Exchanges whose start time is kept for their duration; beyond that the oldest is forgotten.
_TIMED_EXCHANGES = 4096
_LOGGER = "swimcore.transports"

T = TypeVar("T")

#: Called once with the outcome of a direct message: ``None`` (delivered or sent) or the error.
MessageDone = Callable[[DeliveryError | None], None]


def member_logger(name: str, member: str) -> AnyLogger:
    """The :class:`~swimcore.transports.logs.MemberLogger` of the logger ``name`` for
    ``member``; made when a record could be written (see :mod:`~swimcore.transports.lazy_log`:
    a thread member in a program that never logs has no use for :mod:`logging`)."""
    return deferred(functools.partial(_member_logger, name, member))


def _member_logger(name: str, member: str) -> Logger:
    import logging  # noqa: PLC0415 (see member_logger)

    from swimcore.transports.logs import MemberLogger  # noqa: PLC0415

    return MemberLogger(logging.getLogger(name), member)


def _core_logger(member: str) -> Logger:
    """The node's log sink (:func:`~swimcore.transports.logs.core_logger`), made when used."""
    from swimcore.transports.logs import core_logger  # noqa: PLC0415 (see member_logger)

    return core_logger(member)


class MemberCore:
    """The node plus everything driver-independent about running it.

    ``send`` transmits one datagram, ``exchange`` starts carrying an :class:`ExchangeRequest`,
    ``rearm`` tells the driver the node's next deadline (it wakes up no later than that).
    ``log`` is the driver's logger for this member (see :func:`member_logger`).
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
        log: AnyLogger | None = None,
        gc_freeze: bool = False,
    ) -> None:
        self.node = node
        self.clock = clock
        self.counters = counters
        self.log = log if log is not None else member_logger(_LOGGER, node.name)
        self.fanout = Fanout(counters, self.log)
        self.closing = False
        self._send = send
        self._exchange = exchange
        self._rearm = rearm
        self._on_join_address = on_join_address
        self._gc_freeze = gc_freeze
        self._gc_held = False
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
        address = source_address(source)
        if address is None:
            self.counters.add(cn.DROPPED_BAD_SOURCE)
            return
        self.carry(self.node.receive(data, address, self.clock()))

    def serve_exchange(self, data: bytes) -> Outgoing | None:
        """The node's answer to a peer's exchange ``data``, to build a step at a time."""
        reply, actions = self.node.answer_exchange(data, self.clock())
        self.carry(actions)
        if reply is None:
            self.counters.add(cn.EXCHANGE_REFUSED_IN)
            self.log.debug("refused an exchange (%d bytes)", len(data))
        else:
            self.counters.add(cn.EXCHANGE_SERVED_IN)
        return reply

    def exchange_reply(self, exchange_id: int, data: bytes) -> None:
        self.counters.add(cn.EXCHANGE_COMPLETED_OUT)
        self._exchange_done(exchange_id, None)
        self.carry(self.node.exchange_reply(exchange_id, data, self.clock()))

    def exchange_failed(self, exchange_id: int, reason: str) -> None:
        self.counters.add(cn.EXCHANGE_FAILED_OUT)
        self._exchange_done(exchange_id, reason)
        self.carry(self.node.exchange_failed(exchange_id, reason, self.clock()))

    def start(self, seeds: Sequence[Address]) -> None:
        now = self.clock()
        joining = f", joining through {', '.join(map(str, seeds))}" if seeds else ""
        self.log.info("started at %s%s", self.node.address, joining)
        self.carry(self.node.join(seeds, now) if seeds else self.node.start(now))
        if self._gc_freeze and not self._gc_held:
            # Every driver starts its member here, after its imports and set-up: what lives
            # now lives as long as the member (MemberOptions.gc_freeze).
            self._gc_held = True
            gc_tuning.hold()

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
        if self._gc_held:
            self._gc_held = False
            gc_tuning.release()
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
            "%s message to %s (%d bytes)",
            "reliable" if reliable else "best-effort",
            name,
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
        self.counters.add(cn.EXCHANGE_DURATION_COUNT)
        self.counters.add(cn.EXCHANGE_DURATION_US, round(elapsed * 1e6))
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


class MemberBase:
    """What every driver's member class is before its own way of waiting.

    Built from a :class:`~swimcore.Config` and one
    :class:`~swimcore.transports.MemberOptions` (given whole as ``options=``, or as keyword
    arguments, or both: the keywords win), validated before anything is opened.  The
    synchronous surface below is the same on every driver.
    """

    #: How to start this driver's member, for the error a member used unstarted raises.
    _START_HINT = "use it as `async with member:`, or `await member.start()` first"

    #: The driver's name in its logger, ``swimcore.transports.<driver>``.
    driver = "transports"

    def __init__(
        self,
        config: Config | None = None,
        bind: Address | str | None = None,
        *,
        options: MemberOptions | None = None,
        **overrides: Unpack[MemberOverrides],
    ) -> None:
        if config is not None and not isinstance(config, Config):
            raise ConfigError(f"config must be a swimcore.Config or None, got {config!r}")
        self.config = config if config is not None else Config.lan()
        #: The options this member runs with (validated).
        self.options = MemberOptions.build(options, bind, overrides)
        #: Leave gracefully when closed (``close(leave=...)`` decides for one call).
        self.leave_on_exit = self.options.leave_on_exit
        #: Longest wait for a leave to spread, in seconds.
        self.leave_timeout = self.options.leave_seconds(self.config)
        #: Longest time one TCP exchange may take, in seconds.
        self.exchange_timeout = self.options.exchange_seconds(self.config)
        self._plan = BindPlan(self.options.bind, self.options.advertise)
        self._store = self.options.store()
        self._counters = Counters()
        self._publisher: Publisher | None = None
        if self._store is not None:
            from swimcore.transports.discovery.loop import Publisher  # noqa: PLC0415 (see above)

            self._publisher = Publisher(self._store, self._counters)
        self._core: MemberCore | None = None
        self._closed = False
        self._setup()

    def _setup(self) -> None:
        """The driver's own state, before it starts (nothing is opened here)."""

    def _bind(self) -> tuple[socket.socket, socket.socket, Node]:
        """Open the UDP and TCP sockets and make the node that advertises their port."""
        udp, tcp = open_sockets(self._plan)
        try:
            options = self.options
            advertised = self._plan.advertised(int(udp.getsockname()[1]))
            node = Node(
                self.config,
                advertised,
                name=options.name,
                meta=options.meta,
                # Without a seed the member's randomness comes from the OS.
                seed=random.Random() if options.seed is None else options.seed,
                incarnation=options.incarnation,
                keyring=options.keyring,
                log=deferred(functools.partial(_core_logger, options.name or str(advertised))),
                admit=options.admit,
                admit_merge=options.admit_merge,
                local_state=options.local_state,
                merge_state=options.merge_state,
            )
        except BaseException:
            udp.close()
            tcp.close()
            raise
        return udp, tcp, node

    def _attach(
        self,
        node: Node,
        clock: Callable[[], float],
        *,
        send: Callable[[Address, bytes], None],
        exchange: Callable[[ExchangeRequest], None],
        rearm: Callable[[float], None],
        publish: Callable[[Address], None],
    ) -> MemberCore:
        """The :class:`MemberCore` that runs ``node`` through the driver's hooks."""
        self._core = MemberCore(
            node,
            clock,
            send=send,
            exchange=exchange,
            rearm=rearm,
            counters=self._counters,
            on_join_address=publish if self._publisher is not None else None,
            log=member_logger(f"swimcore.transports.{self.driver}", node.name),
            gc_freeze=self.options.gc_freeze,
        )
        return self._core

    async def _discover(self, sleep: Sleep, to_thread: ToThread) -> None:
        """Look for seeds in the store for as long as the member runs (if there is a store)."""
        if self._store is not None:
            from swimcore.transports.discovery.loop import discovery_loop  # noqa: PLC0415

            await discovery_loop(
                self._require_core(),
                self._store,
                self.options.discovery_settings(self.config),
                sleep=sleep,
                to_thread=to_thread,
                rng=random.Random(),
            )

    def _require_core(self) -> MemberCore:
        if self._core is None:
            raise StateError(f"the member is not started: {self._START_HINT}")
        return self._core

    def _require_open(self) -> MemberCore:
        """The core of a member that is started and not closed (``StateError`` otherwise)."""
        core = self._require_core()
        if self._closed:
            raise StateError("the member is closed: make a new one to run again")
        return core

    def _check_unstarted(self) -> None:
        if self._core is not None:
            raise StateError("this member was already started: make a new one to run again")

    def _query(self, read: Callable[[MemberCore], T]) -> T:
        """``read(core)`` for a query; the thread driver holds its lock around it."""
        return read(self._require_core())

    def _call(self, change: Callable[[MemberCore], T]) -> T:
        """``change(core)`` for a change; the thread driver runs it on its protocol thread."""
        return change(self._require_open())

    @property
    def node(self) -> Node:
        """The sans-IO node underneath (read it; drive it only through this object)."""
        return self._require_core().node

    @property
    def address(self) -> Address:
        """The advertised address, with the actual port once started."""
        return self._query(lambda core: core.node.address)

    @property
    def name(self) -> str:
        """This member's name (by default its advertised address)."""
        return self._query(lambda core: core.node.name)

    @property
    def incarnation(self) -> int:
        """This member's incarnation number (raised each time it refutes a suspicion)."""
        return self._query(lambda core: core.node.incarnation)

    @property
    def leader(self) -> MemberInfo | None:
        """The best-effort leader (alive member with the highest address) in this view."""
        return self._query(lambda core: core.node.leader)

    @property
    def health(self) -> int:
        """Lifeguard's local health score (0 is healthy)."""
        return self._query(lambda core: core.node.health)

    def members(self) -> list[MemberInfo]:
        """Alive and suspect members, this one included (unless it left)."""
        return self._query(lambda core: core.node.members())

    def member(self, name: str) -> MemberInfo | None:
        """One member by name (any state, until forgotten), or ``None``."""
        return self._query(lambda core: core.node.member(name))

    def counters(self) -> dict[str, int]:
        """The node's counters plus the driver's (``driver.*``: socket errors, drops, ...)."""
        return self._query(lambda core: core.counters_snapshot())

    def on_event(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(event)`` for every event from now on; returns a function to stop."""
        require_callable(callback, "the event callback")
        return self._require_open().fanout.add_callback(callback)

    #: The one-shot wake-up of the driver's event loop (``asyncio.Event``, ``anyio.Event``).
    _flag: Callable[[], Flag]

    def _event_stream(self, maxsize: int) -> EventStream:
        """Every event from now on, in order, as an async iterator (the async drivers)."""
        fanout = self._require_core().fanout
        buffer = fanout.subscribe(maxsize)
        if self._closed:
            buffer.close()
        return EventStream(buffer, self._flag, functools.partial(fanout.unsubscribe, buffer))

    def set_metadata(self, meta: bytes) -> None:
        """Change this member's metadata; it spreads with a higher incarnation."""
        data = as_bytes(meta, "metadata")
        self._call(lambda core: core.set_metadata(data))

    def broadcast(self, key: str, payload: bytes) -> None:
        """Disseminate an application payload to every member (newest per key wins)."""
        data = as_bytes(payload, "broadcast payload")
        self._call(lambda core: core.broadcast(key, data))


class AsyncLifecycle:
    """``async with member:`` starts the member, and leaving the block closes it."""

    async def start(self) -> None:
        raise NotImplementedError

    async def close(self, *, leave: bool | None = None) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def wait_for_leave(core: MemberCore, timeout: float, sleep: Sleep) -> None:
    """Leave, then wait (at most ``timeout``) until the queued news has been sent out."""
    if core.node.has_left:
        return
    core.leave()
    deadline = core.clock() + timeout
    step = max(0.01, min(0.1, core.node.config.gossip_interval or 0.1))
    while core.node.queue_depth() and not core.alone() and core.clock() < deadline:
        await sleep(step)
