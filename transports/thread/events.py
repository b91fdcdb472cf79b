"""Events of the thread driver, for any thread: blocking queues and a callback thread.

The protocol thread only ever appends to bounded buffers here; it never waits on a reader and
never runs user code.  :class:`EventQueue` is what ``ThreadMember.events()`` returns: iterate
it (blocking) or ``get(timeout)`` from any thread.  :class:`Delivery` runs user callbacks on a
thread of its own, so a slow or failing callback delays only later callbacks, never the
protocol; each failure is reported to the member, which logs and counts it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from types import TracebackType

from swimcore import Event
from swimcore.transports.events import EventCallback, buffer_size

#: A callback running longer than this (seconds) is reported as slow.
SLOW_CALLBACK = 1.0


class EventQueue:
    """Events from the moment it was made, in order, for any thread.

    Iterate it (each step blocks until the next event; iteration ends once the member stops
    and every buffered event has been read), or call :meth:`get` with a timeout.  At most
    ``maxsize`` events wait; newer ones are dropped and counted (``driver.dropped.events``).
    """

    def __init__(self, maxsize: int, detach: Callable[[EventQueue], None]) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._items: deque[Event] = deque()
        self._maxsize = buffer_size(maxsize)
        self._detach = detach
        self._ended = False

    def put(self, event: Event) -> bool:
        """Buffer ``event`` (never blocks); False when it was dropped (full or ended)."""
        with self._cond:
            if self._ended or len(self._items) >= self._maxsize:
                return False
            self._items.append(event)
            self._cond.notify()
            return True

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event; ``None`` after ``timeout`` seconds, or at once when ended and empty."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                if self._ended:
                    return None
                remaining = None if end is None else end - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return self._items.popleft()

    def get_nowait(self) -> Event | None:
        """The next event if one is buffered, else ``None``."""
        with self._cond:
            return self._items.popleft() if self._items else None

    @property
    def ended(self) -> bool:
        """True once no event will be added (the member stopped or the queue was closed)."""
        return self._ended

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        event = self.get()
        if event is None:
            raise StopIteration
        return event

    def close(self) -> None:
        """Stop buffering; iteration ends after the events already buffered."""
        self._detach(self)
        self.end()

    def end(self) -> None:
        """Mark the stream finished and wake every waiting reader (used by the driver)."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def __enter__(self) -> EventQueue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


ErrorHook = Callable[[EventCallback, Event, BaseException], None]
SlowHook = Callable[[EventCallback, Event, float], None]


class Delivery:
    """Runs event callbacks, in registration order, on one thread of their own.

    ``put`` is called by the protocol thread and never blocks: at most ``maxsize`` events wait,
    newer ones are refused (the caller counts them).  ``on_error`` hears of every exception a
    callback raises, ``on_slow`` of every call that took longer than :data:`SLOW_CALLBACK`.
    """

    def __init__(self, name: str, maxsize: int, on_error: ErrorHook, on_slow: SlowHook) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._items: deque[Event] = deque()
        self._maxsize = maxsize
        self._callbacks: tuple[EventCallback, ...] = ()
        self._on_error = on_error
        self._on_slow = on_slow
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def add(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(event)`` for every later event; returns a function to stop."""
        with self._cond:
            self._callbacks = (*self._callbacks, callback)

        def remove() -> None:
            with self._cond:
                callbacks = list(self._callbacks)
                if callback in callbacks:
                    callbacks.remove(callback)
                self._callbacks = tuple(callbacks)

        return remove

    def put(self, event: Event) -> bool:
        """Queue ``event`` for the callbacks; False when refused (full or stopping)."""
        with self._cond:
            if not self._callbacks:
                return True  # nobody to deliver to: nothing is lost
            if self._stopping or len(self._items) >= self._maxsize:
                return False
            self._items.append(event)
            self._cond.notify()
            return True

    def stop(self) -> None:
        """Let the thread finish the events already queued, then end."""
        with self._cond:
            self._stopping = True
            self._cond.notify()

    def join(self, timeout: float | None = None) -> None:
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._stopping:
                    self._cond.wait()
                if not self._items:
                    return
                event = self._items.popleft()
                callbacks = self._callbacks
            for callback in callbacks:
                started = time.monotonic()
                try:
                    callback(event)
                except Exception as exc:
                    self._on_error(callback, event, exc)
                elapsed = time.monotonic() - started
                if elapsed > SLOW_CALLBACK:
                    self._on_slow(callback, event, elapsed)
