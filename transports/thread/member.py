"""The thread driver: a :class:`~swimcore.Node` run by an OS thread of its own.

For programs with no event loop at all (scripts, WSGI workers, thread-pool services) and for
programs whose event loop may be busy for a while: the protocol keeps answering probes on its
own thread, so a long synchronous call on the application's loop never makes the group declare
this member dead.

One protocol thread owns everything: the node, the UDP socket, the TCP listener and every
exchange connection.  It waits in one selector for the earliest of: a datagram, a TCP
connection or exchange making progress, a request from another thread, or the node's
``next_deadline()``.  After each wake-up it reads **every** datagram that is waiting before it
fires due timers, so an ack that arrived while the thread was late (a busy CPU, the GIL held by
another thread) is seen before the probe it answers times out: a late wake-up delays the node,
it never makes it suspect others.  Sockets are non-blocking, so no single send or receive can
hold the thread; the thread itself blocks only in the selector.

Other threads never touch the node directly.  Queries (:meth:`~ThreadMember.members`,
:meth:`~ThreadMember.counters`, ...) read it under a lock the protocol thread holds only while
it handles input; changes (:meth:`~ThreadMember.leave`, :meth:`~ThreadMember.join`,
metadata, broadcasts) are handed to the protocol thread, and the caller waits for the outcome.
Events go to bounded buffers: :meth:`~ThreadMember.events` queues for any thread, and callbacks
run on a separate delivery thread (a slow or failing callback never delays the protocol; each
failure is logged under ``swimcore.transports.thread.member`` and counted).

Usage::

    with ThreadMember(Config.lan(label="blue"), bind="127.0.0.1:0",
                      seeds=["127.0.0.1:7946"]) as member:
        member.on_event(print)          # runs on the member's delivery thread
        member.send("other", b"hello", reliable=True)   # blocks; DeliveryError if it cannot
        for event in member.events():   # or block on a thread-safe queue
            ...

Records go to ``swimcore.transports.thread.member`` (this driver) and ``swimcore.core`` (the node).

Leaving the ``with`` block leaves gracefully, stops and joins every thread of the member and
closes every socket (each by the thread that owns it).  See :func:`_after_fork_in_child` for
what happens after ``os.fork()``.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import selectors
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from swimcore import (
    Address,
    DeliveryError,
    Event,
    ExchangeRequest,
    StateError,
)
from swimcore import counter_names as cn
from swimcore._inputs import as_bytes, require_callable
from swimcore.transports.events import EVENT_BUFFER, EventCallback
from swimcore.transports.exchange import framed
from swimcore.transports.lazy_log import AnyLogger, named
from swimcore.transports.member import (
    MAX_INBOUND_EXCHANGES,
    MemberBase,
    MemberCore,
    wait_for_leave,
)
from swimcore.transports.sockets import as_addresses, drain, send_datagram, sockaddr
from swimcore.transports.thread.events import Delivery, EventQueue
from swimcore.transports.thread.exchange import Exchanges
from swimcore.transports.thread.tasks import Done, Outcome, Tasks, Worker, sleep, to_thread

__all__ = ["EventQueue", "ThreadMember"]

log = named("swimcore.transports.thread")

T = TypeVar("T")

#: Datagrams read in one pass; beyond that timers get their turn, so a flood cannot stop them.
MAX_DRAIN = 4096
#: Receive buffer asked of the kernel (it may grant less): datagrams wait there while the
#: protocol thread is late.
RECEIVE_BUFFER = 1 << 20
#: A timer fired this much (seconds) after its deadline is counted as ``driver.late_ticks``.
LATE_TICK = 0.1

# Tags of the selector keys that are not exchange connections.
_UDP, _LISTEN, _WAKE = "udp", "listen", "wake"

_Request = tuple[Callable[[], None], "Outcome[Any] | None"]

_running: weakref.WeakSet[ThreadMember] = weakref.WeakSet()


class ThreadMember(MemberBase):
    """A group member run by a thread of its own: UDP for the protocol, TCP for exchanges.

    The constructor takes the same arguments as :class:`swimcore.transports.asyncio.AsyncioMember`.
    ``bind`` is ``"ip:port"`` (port 0 picks a free port for UDP and TCP alike); binding
    ``0.0.0.0`` or ``::`` needs ``advertise``.  ``seeds`` are join addresses; ``discovery`` is
    a store to find them in (its blocking calls run on a worker thread).  Leaving the ``with``
    block leaves gracefully (``leave_on_exit``, waiting at most ``leave_timeout``), then stops.

    Every public method may be called from any thread.  ``node`` gives the sans-IO node
    itself; it belongs to the protocol thread, so read it only through the methods here.
    ``keyring`` seals every datagram and exchange (AES-GCM, see :class:`swimcore.Keyring`).
    """

    _START_HINT = "use it as `with member:`, or call `member.start()` first"

    driver = "thread"

    def _setup(self) -> None:
        self._log: AnyLogger = log
        # Guards the node, the counters, the subscriptions and the command queue.
        self._lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._commands: deque[_Request] = deque()
        # Held weakly: a queue nobody reads any more (a loop left with ``break``) is freed, and
        # dropped from here at the next event.
        self._queues: list[weakref.ref[EventQueue]] = []
        self._delivery: Delivery | None = None
        self._worker: Worker | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._signalled = False
        self._stopping = False  # asked to stop (set by close)
        self._stopped = False  # the protocol thread has torn down
        self._forked = False
        # Owned by the protocol thread once it runs.
        self._selector: selectors.BaseSelector | None = None
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._exchanges: Exchanges | None = None
        self._tasks: Tasks | None = None

    # ------------------------------------------------------------------------ lifecycle

    def __enter__(self) -> ThreadMember:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Bind, start the protocol thread, start the node and join ``seeds``.

        Returns once the node runs; binding errors are raised here, in the caller's thread.
        """
        self._check_unstarted()
        udp, tcp, node = self._bind()
        opened = [udp, tcp]
        try:
            grown = _grow_receive_buffer(udp)
            wake_r, wake_w = socket.socketpair()
            opened += [wake_r, wake_w]
            wake_r.setblocking(False)
            wake_w.setblocking(False)
            selector = selectors.DefaultSelector()
            selector.register(udp, selectors.EVENT_READ, _UDP)
            selector.register(tcp, selectors.EVENT_READ, _LISTEN)
            selector.register(wake_r, selectors.EVENT_READ, _WAKE)
        except BaseException:
            for sock in opened:
                sock.close()
            raise
        self._selector, self._udp, self._tcp = selector, udp, tcp
        self._wake_r, self._wake_w = wake_r, wake_w
        core = self._attach(
            node,
            time.monotonic,
            send=self._send,
            exchange=self._start_exchange,
            rearm=_ignore_deadline,
            publish=self._publish,
        )
        self._log = core.log
        if not grown:
            self._log.debug("could not enlarge the UDP receive buffer")
        core.fanout.add_callback(self._dispatch)
        self._exchanges = Exchanges(
            selector,
            self._counters,
            clock=time.monotonic,
            timeout=self.exchange_timeout,
            limit=self.config.max_exchange_bytes,
            max_open=MAX_INBOUND_EXCHANGES,
            stream=core.node.wire.stream,
            encode=functools.partial(framed, core.node),
            serve=core.serve_exchange,
            replied=core.exchange_reply,
            failed=core.exchange_failed,
        )
        self._tasks = Tasks(time.monotonic, self._run_blocking, self._log)
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name=f"swimcore-{node.name}", daemon=True
        )
        _running.add(self)
        self._thread.start()
        ready.wait()
        if self._failure is not None:
            self.close(leave=False)
            raise StateError("the protocol thread failed to start") from self._failure

    def leave(self) -> None:
        """Leave gracefully; returns once the news went out (at most ``leave_timeout``)."""
        core = self._require_core()
        done: Outcome[None] = Outcome()
        tasks = self._tasks
        assert tasks is not None
        self._post(
            lambda: tasks.spawn(wait_for_leave(core, self.leave_timeout, sleep), done),
            done,
        )
        done.result()

    def join(self, seeds: Sequence[Address | str]) -> None:
        """Join (again) through ``seeds``; the node retries them while it is alone."""
        addresses = as_addresses(seeds)
        self._call(lambda core: core.join(addresses))

    def close(self, *, leave: bool | None = None) -> None:
        """Stop: leave first unless ``leave`` is False (default: ``leave_on_exit``), then stop
        the protocol thread, close its sockets and join every thread of this member.

        ``close(leave=False)`` stops silently, as a crash would look to the group.  Callbacks
        still run for the events raised before the stop; ``close`` waits for them.
        """
        if self._core is None or self._forked:
            return
        thread = self._thread
        if thread is threading.current_thread():
            raise StateError("close() cannot be called from the protocol thread")
        with self._close_lock:
            if self._closed:
                return
            if (self.leave_on_exit if leave is None else leave) and not self._stopped:
                with contextlib.suppress(RuntimeError):  # the thread stopped meanwhile
                    self.leave()
            with self._lock:
                self._stopping = True
                self._wake_locked()
            if thread is not None:
                thread.join()
            if self._delivery is not None:
                self._delivery.stop()
                self._delivery.join()
            if self._worker is not None:
                self._worker.stop(self.exchange_timeout)
            self._closed = True
            _running.discard(self)

    def _stop_soon(self) -> None:
        """Stop the protocol thread now, cutting short a leave under way (``close`` goes on)."""
        with self._lock:
            if not self._stopped:
                self._stopping = True
                self._wake_locked()

    @property
    def running(self) -> bool:
        """True while the protocol thread runs (between start and close, unless it failed)."""
        return self._core is not None and not self._stopped and not self._forked

    # -------------------------------------------------------------------- thread-safe queries

    def _require_core(self) -> MemberCore:
        if self._forked:
            raise StateError(
                "this member belongs to the parent process (it was started before fork); "
                "start a new member in the child"
            )
        return super()._require_core()

    def _query(self, read: Callable[[MemberCore], T]) -> T:
        core = self._require_core()
        with self._lock:
            return read(core)

    # ------------------------------------------------------------------------ direct messages

    def send(self, name: str, payload: bytes, *, reliable: bool = False) -> None:
        """Send ``payload`` to the member ``name`` (blocking): it gets a ``MessageReceived``.

        Best effort (one datagram) returns once sent; ``reliable=True`` (the reliable exchange,
        over TCP) returns once the member acknowledged it.  Raises
        :class:`~swimcore.DeliveryError` when ``name`` is unknown, dead or left, or when the
        exchange fails or takes longer than ``exchange_timeout``: never hangs.
        """
        outcome, exchange_id = self._send_future(name, payload, reliable)
        try:
            outcome.result(self.exchange_timeout + 1.0)
        except TimeoutError:
            self._forget_message(exchange_id)
            raise DeliveryError(name, "timeout") from None

    def _send_future(
        self, name: str, payload: bytes, reliable: bool
    ) -> tuple[Outcome[None], int | None]:
        """Start a direct message; the future settles on the protocol thread (never blocks
        beyond handing the request over).  Raises at once what :meth:`send` raises at once."""
        if self._stopping or self._stopped:
            raise DeliveryError(name, "this member is closed")
        outcome: Outcome[None] = Outcome()
        data = as_bytes(payload, "message payload")

        def done(error: DeliveryError | None) -> None:
            if outcome.done():
                return
            if error is None:
                outcome.set_result(None)
            else:
                outcome.set_exception(error)

        try:
            exchange_id = self._call(
                lambda core: core.send_message(name, data, reliable=reliable, done=done)
            )
        except StateError:
            if self._stopping or self._stopped:  # closed since the check above
                raise DeliveryError(name, "this member is closed") from None
            raise
        return outcome, exchange_id

    def _forget_message(self, exchange_id: int | None) -> None:
        core = self._require_core()
        self._post_quiet(lambda: core.forget_message(exchange_id))

    # -------------------------------------------------------------------------------- events

    def events(self, maxsize: int = EVENT_BUFFER) -> EventQueue:
        """Every event from now on, in order, as a thread-safe queue (iterate it or ``get``)."""
        self._require_core()
        stream = EventQueue(maxsize, self._detach)
        with self._lock:
            if self._stopped:
                stream.end()
            else:
                # Queues freed unread since the last event go too (a quiet group emits none).
                self._queues = [ref for ref in self._queues if ref() is not None]
                self._queues.append(weakref.ref(stream))
        return stream

    def on_event(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(event)`` on the delivery thread for every event from now on.

        Returns a function that stops the calls.  A callback that raises is logged and
        counted (``driver.callback_errors``), one slower than a second is counted as
        ``driver.callback_slow``; neither affects the protocol.
        """
        require_callable(callback, "the event callback")
        core = self._require_core()
        with self._lock:
            if self._closed:
                raise StateError("the member is closed")
            if self._delivery is None:
                self._delivery = Delivery(
                    f"swimcore-{core.node.name}-events",
                    EVENT_BUFFER,
                    self._callback_failed,
                    self._callback_slow,
                )
            return self._delivery.add(callback)

    def _detach(self, stream: EventQueue) -> None:
        with self._lock:
            self._queues = [ref for ref in self._queues if ref() not in (stream, None)]

    def _dispatch(self, event: Event) -> None:
        """Hand ``event`` to every queue and to the delivery thread (protocol thread, locked)."""
        freed = False
        for ref in self._queues:
            stream = ref()
            if stream is None:
                freed = True
            elif not stream.put(event):
                self._counters.add(cn.DROPPED_EVENTS)
        if freed:
            self._queues = [ref for ref in self._queues if ref() is not None]
        if self._delivery is not None and not self._delivery.put(event):
            self._counters.add(cn.DROPPED_EVENTS)

    def _callback_failed(self, callback: EventCallback, event: Event, exc: BaseException) -> None:
        with self._lock:
            self._counters.add(cn.CALLBACK_ERRORS)
        self._log.error("event callback %r failed on %r", callback, event, exc_info=exc)

    def _callback_slow(self, callback: EventCallback, event: Event, elapsed: float) -> None:
        with self._lock:
            self._counters.add(cn.CALLBACK_SLOW)
        self._log.warning("event callback %r took %.1f s on %r", callback, elapsed, event)

    def _count(self, key: str, amount: int = 1) -> None:
        """Add to a driver counter from any thread (the bridges count their drops here)."""
        with self._lock:
            self._counters.add(key, amount)

    # ------------------------------------------------------------------ commands and wake-ups

    def _call(self, function: Callable[[MemberCore], T]) -> T:
        """Run ``function(core)`` on the protocol thread; return its result or raise its error."""
        core = self._require_core()
        done: Outcome[T] = Outcome()

        def run() -> None:
            try:
                done.set_result(function(core))
            except Exception as exc:
                done.set_exception(exc)

        self._post(run, done)
        return done.result()

    def _post(self, command: Callable[[], None], done: Outcome[Any] | None = None) -> None:
        """Queue ``command`` for the protocol thread; StateError when it no longer runs."""
        with self._lock:
            if self._stopped or self._stopping:
                raise StateError("the member is not running")
            self._commands.append((command, done))
            self._wake_locked()

    def _post_quiet(self, command: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # stopping: the outcome no longer matters
            self._post(command)

    def _wake_locked(self) -> None:
        if self._signalled or self._stopped or self._wake_w is None:
            return
        self._signalled = True
        with contextlib.suppress(OSError):  # a full buffer means a wake-up is pending
            self._wake_w.send(b"\0")

    def _run_blocking(self, call: Callable[[], Any], done: Done) -> None:
        """``to_thread`` of the shared coroutines: ``call`` on the worker, ``done`` back here."""
        if self._worker is None:
            self._worker = Worker(f"swimcore-{self._require_core().node.name}-store", self._log)

        def finished(result: Any, exc: BaseException | None) -> None:
            self._post_quiet(lambda: done(result, exc))

        self._worker.submit(call, finished)

    # --------------------------------------------------------------------- the protocol thread

    def _run(self, ready: threading.Event) -> None:
        core, tasks = self._core, self._tasks
        assert core is not None and tasks is not None
        try:
            with self._lock:
                core.start(self.options.addresses)
                tasks.spawn(self._discover(sleep, to_thread))
            ready.set()
            self._loop(core)
        except Exception as exc:
            self._failure = exc
            self._log.exception("the protocol thread stopped on an error")
        finally:
            self._teardown()
            ready.set()

    def _loop(self, core: MemberCore) -> None:
        selector, exchanges, tasks = self._selector, self._exchanges, self._tasks
        assert selector is not None and exchanges is not None and tasks is not None
        node = core.node
        while not self._stopping:
            deadlines = [
                d
                for d in (node.next_deadline(), exchanges.next_deadline(), tasks.next_deadline())
                if d is not None
            ]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            ready = selector.select(timeout)
            with self._lock:
                self._pass(core, ready)

    def _pass(self, core: MemberCore, ready: list[tuple[selectors.SelectorKey, int]]) -> None:
        """Handle one wake-up: requests, exchanges, then every datagram, then due timers."""
        exchanges, tasks = self._exchanges, self._tasks
        assert exchanges is not None and tasks is not None
        datagrams = False
        for key, mask in ready:
            tag = key.data
            if tag is _UDP:
                datagrams = True
            elif tag is _LISTEN:
                assert self._tcp is not None
                exchanges.accept(self._tcp)
            elif tag is _WAKE:
                self._drain_wake()
            else:
                exchanges.handle(tag, mask)
        self._run_commands()
        now = time.monotonic()
        exchanges.expire(now)
        tasks.run_due(now)
        deadline = core.node.next_deadline()
        due = deadline is not None and deadline <= time.monotonic()
        # Late or not, read what is waiting before any timer fires: an ack that arrived while
        # this thread was late must count before the probe it answers times out.
        if datagrams or due:
            self._drain_udp(core)
        if due and deadline is not None:
            if time.monotonic() - deadline > LATE_TICK:
                self._counters.add(cn.LATE_TICKS)
            core.tick(deadline)

    def _drain_udp(self, core: MemberCore) -> None:
        udp = self._udp
        assert udp is not None
        drain(udp, functools.partial(self._receive, core), self._counters, MAX_DRAIN)

    def _receive(self, core: MemberCore, data: bytes, source: tuple[Any, ...]) -> None:
        """Feed one datagram to the node (a seam for tests that time probes on the wire)."""
        core.receive(data, source)

    def _drain_wake(self) -> None:
        wake = self._wake_r
        assert wake is not None
        self._signalled = False
        try:
            while wake.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _run_commands(self) -> None:
        while self._commands:
            command, done = self._commands.popleft()
            try:
                command()
            except Exception as exc:
                if done is not None and not done.done():
                    done.set_exception(exc)
                else:
                    self._log.exception("a request to the protocol thread failed")

    def _teardown(self) -> None:
        """Close what the protocol thread owns; fail every request still waiting."""
        with self._lock:
            self._stopped = True
            pending = list(self._commands)
            self._commands.clear()
            if self._core is not None:
                self._core.stop()
            if self._tasks is not None:
                self._tasks.close()
            if self._exchanges is not None:
                self._exchanges.close()
            if self._selector is not None:
                self._selector.close()
            for sock in (self._udp, self._tcp, self._wake_r, self._wake_w):
                if sock is not None:
                    sock.close()
            self._end_queues()
            self._queues.clear()
        for _command, done in pending:
            if done is not None and not done.done():
                done.set_exception(StateError("the member stopped"))

    # ------------------------------------------------------------------ hooks of the core

    def _send(self, to: Address, data: bytes) -> None:
        udp = self._udp
        if udp is None:
            self._counters.add(cn.DROPPED_SEND_CLOSED)
            return
        send_datagram(udp, data, sockaddr(to), self._counters)

    def _start_exchange(self, request: ExchangeRequest) -> None:
        assert self._exchanges is not None
        self._exchanges.dial(request)

    def _publish(self, address: Address) -> None:
        publisher, tasks = self._publisher, self._tasks
        if publisher is not None and tasks is not None and publisher.want(address):
            tasks.spawn(publisher.run(to_thread, self._log))

    # ------------------------------------------------------------------------------ fork

    def _abandon_after_fork(self) -> None:
        """In a forked child: forget the parent's member and close the inherited sockets."""
        self._forked = True
        self._lock = threading.Lock()  # the old one may be held by a thread that is gone
        if self._exchanges is not None:
            self._exchanges.close()
        if self._selector is not None:
            self._selector.close()
        for sock in (self._udp, self._tcp, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._end_queues()

    def _end_queues(self) -> None:
        for ref in self._queues:
            stream = ref()
            if stream is not None:
                stream.end()


def _ignore_deadline(deadline: float) -> None:
    """The protocol thread recomputes its wait after every pass; nothing to re-arm."""


def _grow_receive_buffer(sock: socket.socket) -> bool:
    """Ask for a larger receive buffer; False when the kernel refused."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    except OSError:
        return False
    return True


def _after_fork_in_child() -> None:
    """After ``os.fork()`` the child has no protocol thread: its members are unusable.

    Every member started in the parent is marked as belonging to the parent (its methods raise
    :class:`~swimcore.StateError`, ``close()`` does nothing) and the child closes its copies of the
    inherited sockets, so that the port is free once the parent lets go.  The parent's
    member keeps running undisturbed.
    """
    for member in list(_running):
        member._abandon_after_fork()
    _running.clear()


def _close_at_exit() -> None:
    """At interpreter exit, stop members still running (without leaving) and close sockets."""
    for member in list(_running):
        try:
            member.close(leave=False)
        except Exception:
            member._log.exception("closing the member at exit failed")


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_at_exit)
