"""Events on their way to the application: bounded buffers and the fan-out to subscribers.

The node's :data:`~swimcore.Event` values reach callbacks (``on_event``) and subscriptions
(``events()``) in registration order.  Buffers are bounded: a slow reader loses new events,
counted as ``driver.dropped.events``, and never holds the protocol.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from swimcore import (
    Event,
    MemberInfo,
)
from swimcore.messages import State
from swimcore.transports.counters import Counters

#: Called with each event (``on_event``); what it returns is ignored.
EventCallback = Callable[[Event], object]

#: Events buffered per subscription before new ones are dropped (and counted).
EVENT_BUFFER = 10_000

log = logging.getLogger("swimcore.transports")


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



def live_state(info: MemberInfo | None) -> bool:
    return info is not None and info.state in (State.ALIVE, State.SUSPECT)
