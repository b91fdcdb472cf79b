"""Events on their way to the application: bounded buffers and the fan-out to subscribers.

The node's :data:`~swimcore.Event` values reach callbacks (``on_event``) and subscriptions
(``events()``) in registration order.  Buffers are bounded: a slow reader loses new events,
counted as ``driver.dropped.events``, and never holds the protocol.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from swimcore import (
    ConfigError,
    Event,
    MemberInfo,
)
from swimcore import counter_names as cn
from swimcore.messages import State
from swimcore.transports.counters import Counters
from swimcore.transports.lazy_log import AnyLogger, named

#: Called with each event (``on_event``); what it returns is ignored.
EventCallback = Callable[[Event], object]

#: Events buffered per subscription before new ones are dropped (and counted).
EVENT_BUFFER = 10_000

log = named("swimcore.transports")


def buffer_size(maxsize: object) -> int:
    """``maxsize`` of an ``events()`` stream, checked: an int of at least 1.

    Every driver's ``events()`` checks it at once (:class:`~swimcore.ConfigError`): a stream
    that can hold nothing would drop every event, and a size of another type would fail only
    when the first event reached it, inside the driver's loop.
    """
    if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
        raise ConfigError(f"events() maxsize must be an int of at least 1, got {maxsize!r}")
    return maxsize


class EventBuffer:
    """One subscriber's queue of events: bounded, drops new events when full (counted).

    ``wake`` is the driver's way to resume a waiting reader (it sets an event of its backend).
    """

    def __init__(self, maxsize: int, count: Callable[[str], None]) -> None:
        self._items: deque[Event] = deque()
        self._maxsize = buffer_size(maxsize)
        self._count = count
        self.closed = False
        self.wake: Callable[[], None] = lambda: None

    def put(self, event: Event) -> None:
        if self.closed:
            return
        if len(self._items) >= self._maxsize:
            self._count(cn.DROPPED_EVENTS)
            return
        self._items.append(event)
        self.wake()

    def pop(self) -> Event | None:
        return self._items.popleft() if self._items else None

    def close(self) -> None:
        self.closed = True
        self.wake()


class Flag(Protocol):
    """A one-shot wake-up in the reader's loop (``asyncio.Event``, ``anyio.Event``, trio's)."""

    def set(self) -> None: ...

    async def wait(self) -> Any: ...


class EventStream:
    """Events from the moment it was created, as an async iterator; ends when the member closes.

    What every async driver's ``events()`` returns.  At most ``maxsize`` events wait; newer ones
    are dropped and counted as ``driver.dropped.events``.  Close it (or leave ``async with``)
    to stop buffering; a stream no longer referenced (a loop left with ``break``) stops too,
    once Python frees it.
    """

    def __init__(
        self, buffer: EventBuffer, flag: Callable[[], Flag], on_close: Callable[[], None]
    ) -> None:
        self._buffer = buffer
        self._flag = flag
        self._on_close = on_close
        self._waiter: Flag | None = None
        # The buffer is held by its member: it wakes the stream through a weak reference, so
        # that a stream nobody reads any more is freed, and closes its buffer as it goes.
        stream = weakref.ref(self)

        def wake() -> None:
            alive = stream()
            if alive is not None:
                alive._wake()

        buffer.wake = wake
        weakref.finalize(self, buffer.close)

    @property
    def ended(self) -> bool:
        """Whether the stream ended (closed, or its member closed); buffered events remain."""
        return self._buffer.closed

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.set()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        while True:
            event = self._buffer.pop()
            if event is not None:
                return event
            if self._buffer.closed:
                raise StopAsyncIteration
            self._waiter = waiter = self._flag()
            await waiter.wait()

    def close(self) -> None:
        """Stop buffering; iteration ends once what is buffered has been read."""
        self._buffer.close()
        self._on_close()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


class Fanout:
    """Hands each event to every callback and every subscription, in registration order.

    A callback that raises is logged and counted; it never reaches the node or the driver.
    """

    def __init__(self, counters: Counters, logger: AnyLogger = log) -> None:
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
        buffer = EventBuffer(maxsize, self._counters.add)
        # Streams freed unread since the last event are dropped here too: a quiet group emits
        # nothing for hours, while an application may open (and drop) a stream per request.
        self._buffers = [held for held in self._buffers if not held.closed]
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
                self._counters.add(cn.CALLBACK_ERRORS)
                self._log.exception("event callback %r failed on %r", callback, event)
        closed = False
        for buffer in self._buffers:
            buffer.put(event)
            closed = closed or buffer.closed
        if closed:  # streams freed unread since
            self._buffers = [buffer for buffer in self._buffers if not buffer.closed]

    def close(self) -> None:
        for buffer in self._buffers:
            buffer.close()
        self._buffers.clear()


def live_state(info: MemberInfo | None) -> bool:
    return info is not None and info.state in (State.ALIVE, State.SUSPECT)
