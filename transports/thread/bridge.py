"""A thread-backed member for asyncio and trio programs: the protocol stays off their loop.

:class:`BridgedMember` is a :class:`~swimcore.transports.ThreadMember` with the async surface of
:class:`~swimcore.transports.AsyncioMember`: ``async with``, ``events()`` as an async iterator,
``await leave()``. The protocol runs on the member's own thread, so a loop that is blocked for
seconds (a long synchronous call, a CPU-heavy request) still answers every probe in time and is
never suspected. Events cross into the loop through the loop's own thread-safe entry point
(asyncio's ``call_soon_threadsafe``, trio's ``TrioToken.run_sync_soon``), detected when the
member starts. Only one hand-over is pending at a time: while the loop is blocked, events wait
in a bounded inbox (newer ones beyond it are dropped and counted as
``driver.dropped.bridge_events``), and they all arrive, in order, when the loop runs again.

Blocking steps (``leave``, ``close``, ``join``) run on a short-lived thread of their own, so
the loop keeps running while they wait; no worker thread outlives them.

Usage (identical under ``asyncio.run`` and ``trio.run``)::

    async with BridgedMember(Config.lan(label="blue"), bind="127.0.0.1:0",
                             seeds=["127.0.0.1:7946"]) as member:
        await member.send("other", b"hello", reliable=True)   # DeliveryError if it cannot
        async for event in member.events():
            print(event)
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, Unpack

from swimcore import Address, Config, DeliveryError, Event, MemberInfo, Node, StateError
from swimcore import counter_names as cn
from swimcore._inputs import require_callable
from swimcore.transports.events import (
    EVENT_BUFFER,
    EventBuffer,
    EventCallback,
    EventStream,
    Flag,
)
from swimcore.transports.member import AsyncLifecycle
from swimcore.transports.options import MemberOptions, MemberOverrides
from swimcore.transports.sockets import as_addresses
from swimcore.transports.thread.member import ThreadMember

__all__ = ["BridgedMember"]

T = TypeVar("T")


class _Backend(Protocol):
    def post(self, function: Callable[[], None]) -> bool:
        """Run ``function`` in the loop soon (thread-safe, never blocks); False if it is gone."""
        ...

    def flag(self) -> Flag: ...


class _Asyncio:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def post(self, function: Callable[[], None]) -> bool:
        try:
            self._loop.call_soon_threadsafe(function)
        except RuntimeError:  # the loop is closed
            return False
        return True

    def flag(self) -> Flag:
        return asyncio.Event()


class _Trio:
    def __init__(self) -> None:
        import trio  # noqa: PLC0415 - only trio users need trio installed

        self._trio = trio
        self._token = trio.lowlevel.current_trio_token()

    def post(self, function: Callable[[], None]) -> bool:
        try:
            self._token.run_sync_soon(function)
        except self._trio.RunFinishedError:
            return False
        return True

    def flag(self) -> Flag:
        return self._trio.Event()


def _current_backend() -> _Backend:
    """The loop the caller runs in: asyncio's running loop, else the current trio run."""
    try:
        return _Asyncio(asyncio.get_running_loop())
    except RuntimeError:
        pass
    try:
        return _Trio()
    except (ImportError, RuntimeError):
        raise StateError("BridgedMember must start inside asyncio or trio") from None


class BridgedMember(AsyncLifecycle):
    """A :class:`ThreadMember` used from asyncio or trio; the same arguments and surface as
    :class:`~swimcore.transports.asyncio.AsyncioMember`.

    Callbacks given to :meth:`on_event` and the streams of :meth:`events` run in the loop the
    member was started in.  Queries (``members()``, ``counters()``, ...) are plain calls that
    take the member's lock for a moment.
    """

    def __init__(
        self,
        config: Config | None = None,
        bind: Address | str | None = None,
        *,
        options: MemberOptions | None = None,
        **overrides: Unpack[MemberOverrides],
    ) -> None:
        self._member = ThreadMember(config, bind, options=options, **overrides)
        self._backend: _Backend | None = None
        self._inbox: deque[Event] = deque()
        self._inbox_lock = threading.Lock()
        self._posted = False
        self._streams: dict[EventBuffer, None] = {}
        self._callbacks: list[EventCallback] = []
        self._closed = False

    # ------------------------------------------------------------------------ lifecycle

    @property
    def thread_member(self) -> ThreadMember:
        """The thread-driven member underneath (its methods are thread-safe)."""
        return self._member

    @property
    def config(self) -> Config:
        return self._member.config

    @property
    def options(self) -> MemberOptions:
        """The options this member runs with (validated)."""
        return self._member.options

    @property
    def leave_timeout(self) -> float:
        """Longest wait for a leave to spread, in seconds."""
        return self._member.leave_timeout

    @property
    def exchange_timeout(self) -> float:
        """Longest time one TCP exchange may take, in seconds."""
        return self._member.exchange_timeout

    async def start(self) -> None:
        """Bind, start the protocol thread and join; events go to the current loop."""
        self._backend = _current_backend()
        self._member.start()  # binds and starts a thread: a few milliseconds at most
        self._member.on_event(self._from_thread)

    async def leave(self) -> None:
        """Leave gracefully; returns once the news went out (at most ``leave_timeout``)."""
        await self._off_loop(self._member.leave)

    async def join(self, seeds: Sequence[Address | str]) -> None:
        """Join (again) through ``seeds``; the node retries them while it is alone."""
        addresses = as_addresses(seeds)
        await self._off_loop(lambda: self._member.join(addresses))

    async def close(self, *, leave: bool | None = None) -> None:
        """Leave (unless ``leave`` is False; default ``leave_on_exit``), stop, join threads.

        Events raised before the stop are handed to the streams and callbacks first; then
        every stream ends.  Cancelled while it leaves, it still stops the member (without
        waiting for the news to spread).
        """
        if self._closed or self._backend is None:
            return
        try:
            await self._off_loop(lambda: self._member.close(leave=leave))
        except BaseException:
            # Cancelled while leaving: the close goes on in its thread, without waiting for the
            # leave to spread, and the member is closed for this loop now, as on every driver.
            self._member._stop_soon()
            raise
        finally:
            self._closed = True
            self._end_streams()

    def _end_streams(self) -> None:
        """Hand over what came before the stop, then end every stream."""
        self._drain()
        for buffer in list(self._streams):
            buffer.close()
        self._streams.clear()

    async def send(self, name: str, payload: bytes, *, reliable: bool = False) -> None:
        """Send ``payload`` to the member ``name``: it gets a ``MessageReceived`` event.

        Best effort (one datagram) returns once sent; ``reliable=True`` (the reliable exchange,
        over TCP) returns once the member acknowledged it.  Raises
        :class:`~swimcore.DeliveryError` when ``name`` is unknown, dead or left, or when the
        exchange fails or takes longer than ``exchange_timeout``: never hangs (the protocol
        thread fails every exchange at its deadline, and every message when it stops).
        """
        backend = self._backend_now()
        if self._closed:
            raise DeliveryError(name, "this member is closed")
        # Hands the request to the protocol thread (a moment, like broadcast()); the outcome
        # comes back through the loop's thread-safe entry point.
        outcome, exchange_id = self._member._send_future(name, payload, reliable)
        try:
            if not outcome.done():
                ready = backend.flag()
                outcome.add_done_callback(lambda _done: backend.post(ready.set))
                await ready.wait()
        finally:
            if not outcome.done():  # cancelled while waiting
                self._member._forget_message(exchange_id)
        outcome.result()

    # ------------------------------------------------------------------------- events

    def events(self, maxsize: int = EVENT_BUFFER) -> EventStream:
        """Every event from now on (membership changes, leader, broadcasts), in order."""
        backend = self._backend_now()
        buffer = EventBuffer(maxsize, self._member._count)
        if self._closed:
            buffer.close()
        else:
            # Streams freed unread since the last event go too (a quiet group emits none).
            for held in [held for held in self._streams if held.closed]:
                del self._streams[held]
            self._streams[buffer] = None
        return EventStream(buffer, backend.flag, functools.partial(self._streams.pop, buffer, None))

    def on_event(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(event)`` in the loop for every event from now on; returns a stop."""
        require_callable(callback, "the event callback")
        self._backend_now()
        if self._closed:
            raise StateError("the member is closed: make a new one to run again")
        self._callbacks.append(callback)

        def remove() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return remove

    def _from_thread(self, event: Event) -> None:
        """On the member's delivery thread: queue ``event`` and wake the loop once."""
        backend = self._backend
        if backend is None or (not self._streams and not self._callbacks):
            return
        with self._inbox_lock:
            if len(self._inbox) >= EVENT_BUFFER:
                dropped = True
            else:
                dropped = False
                self._inbox.append(event)
                post, self._posted = not self._posted, True
        if dropped:
            self._member._count(cn.DROPPED_BRIDGE_EVENTS)
            return
        if post and not backend.post(self._drain):
            with self._inbox_lock:
                self._posted = False

    def _drain(self) -> None:
        """In the loop: hand every waiting event to the streams and callbacks, in order."""
        with self._inbox_lock:
            events = list(self._inbox)
            self._inbox.clear()
            self._posted = False
        for buffer in [buffer for buffer in self._streams if buffer.closed]:
            del self._streams[buffer]  # streams freed unread
        for event in events:
            for buffer in list(self._streams):
                buffer.put(event)
            for callback in list(self._callbacks):
                try:
                    callback(event)
                except Exception:
                    self._member._count(cn.CALLBACK_ERRORS)
                    self._member._log.exception("event callback %r failed on %r", callback, event)

    def _backend_now(self) -> _Backend:
        if self._backend is None:
            raise StateError(
                "the member is not started: use it as `async with member:`, or "
                "`await member.start()` first"
            )
        return self._backend

    async def _off_loop(self, function: Callable[[], T]) -> T:
        """Run the blocking ``function`` on a thread of its own; the loop keeps running."""
        backend = self._backend_now()
        done = backend.flag()
        outcome: list[tuple[bool, Any]] = []

        def run() -> None:
            try:
                outcome.append((True, function()))
            except BaseException as exc:
                outcome.append((False, exc))
            finally:
                backend.post(done.set)

        thread = threading.Thread(target=run, name="swimcore-bridge-call", daemon=True)
        thread.start()
        await done.wait()
        thread.join()
        ok, value = outcome[0]
        if not ok:
            raise value
        result: T = value
        return result

    # ------------------------------------------------------------------------ queries

    @property
    def node(self) -> Node:
        return self._member.node

    @property
    def address(self) -> Address:
        return self._member.address

    @property
    def name(self) -> str:
        return self._member.name

    @property
    def incarnation(self) -> int:
        return self._member.incarnation

    @property
    def leader(self) -> MemberInfo | None:
        return self._member.leader

    @property
    def health(self) -> int:
        return self._member.health

    def members(self) -> list[MemberInfo]:
        """Alive and suspect members, this one included (unless it left)."""
        return self._member.members()

    def member(self, name: str) -> MemberInfo | None:
        """One member by name (any state, until forgotten), or ``None``."""
        return self._member.member(name)

    def counters(self) -> dict[str, int]:
        """The node's counters plus the driver's (``driver.*``)."""
        return self._member.counters()

    def set_metadata(self, meta: bytes) -> None:
        """Change this member's metadata; it spreads with a higher incarnation."""
        self._member.set_metadata(meta)

    def broadcast(self, key: str, payload: bytes) -> None:
        """Disseminate an application payload to every member (newest per key wins)."""
        self._member.broadcast(key, payload)
