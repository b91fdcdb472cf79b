"""Coroutines stepped by the thread driver's protocol thread, and a worker for blocking calls.

The shared driver logic (:func:`~swimcore.transports.member.wait_for_leave`, the discovery
loop,
the join-address publisher) is written as coroutines that only await an injected ``sleep`` and
``to_thread``.  :class:`Tasks` runs them on the protocol thread without any event loop: each
step runs there (so it may touch the node), :func:`sleep` becomes a deadline the protocol loop
waits for, and :func:`to_thread` hands the blocking call to a :class:`Worker` thread, whose
result comes back to the protocol thread before the coroutine resumes.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

from swimcore import StateError
from swimcore.transports.lazy_log import AnyLogger, named

log = named("swimcore.transports.thread")

Done = Callable[[Any, BaseException | None], None]

T = TypeVar("T")


class Outcome(Generic[T]):
    """A value or an error handed from the protocol thread to a thread that waits for it.

    The part of :class:`concurrent.futures.Future` this driver uses (``done``, ``set_result``,
    ``set_exception``, ``result`` with a timeout, ``add_done_callback``), with the same
    behaviour, without the package: :mod:`concurrent.futures` imports :mod:`logging`, about
    400 KiB resident together, which a member that never logs does not need.  Set once
    (``RuntimeError`` on a second time); callbacks run in the thread that settles it, or at once
    if it is settled, and one that raises is logged, as ``Future`` does.
    """

    __slots__ = ("_callbacks", "_error", "_lock", "_ready", "_value")

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._value: T | None = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Outcome[T]], object]] = []

    def done(self) -> bool:
        """True once a result or an error is set."""
        return self._ready.is_set()

    def set_result(self, value: T) -> None:
        """Settle with ``value``: :meth:`result` returns it."""
        self._settle(value, None)

    def set_exception(self, error: BaseException) -> None:
        """Settle with ``error``: :meth:`result` raises it."""
        self._settle(None, error)

    def result(self, timeout: float | None = None) -> T:
        """The value, waiting at most ``timeout`` seconds (``TimeoutError``), or raise the error."""
        if not self._ready.wait(timeout):
            raise TimeoutError
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # (set with the value, T)

    def add_done_callback(self, callback: Callable[[Outcome[T]], object]) -> None:
        """Call ``callback(self)`` once settled (now, if it is)."""
        with self._lock:
            if not self._ready.is_set():
                self._callbacks.append(callback)
                return
        self._call(callback)

    def _settle(self, value: T | None, error: BaseException | None) -> None:
        with self._lock:
            if self._ready.is_set():
                raise RuntimeError("the outcome is already set")
            self._value, self._error = value, error
            self._ready.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            self._call(callback)

    def _call(self, callback: Callable[[Outcome[T]], object]) -> None:
        try:
            callback(self)
        except Exception:
            log.exception("exception calling callback for %r", self)


class Pause:
    """What a task waits for: ``delay`` seconds, or the blocking ``call`` run on the worker."""

    __slots__ = ("call", "delay")

    def __init__(self, delay: float = 0.0, call: Callable[[], Any] | None = None) -> None:
        self.delay = delay
        self.call = call

    def __await__(self) -> Generator[Pause, Any, Any]:
        return (yield self)


async def sleep(delay: float) -> None:
    """The ``sleep`` handed to the shared coroutines."""
    await Pause(delay=delay)


async def to_thread(function: Callable[[], Any]) -> Any:
    """The ``to_thread`` handed to the shared coroutines."""
    return await Pause(call=function)


class _Task:
    __slots__ = ("coro", "future", "wake_at")

    def __init__(self, coro: Coroutine[Any, Any, Any], future: Outcome[Any] | None) -> None:
        self.coro = coro
        self.future = future
        self.wake_at: float | None = None


class Tasks:
    """The coroutines of one member, stepped only by its protocol thread.

    ``run_blocking(call, done)`` must run ``call`` off the protocol thread and then arrange for
    ``done(result, error)`` to run on the protocol thread.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        run_blocking: Callable[[Callable[[], Any], Done], None],
        logger: AnyLogger = log,
    ) -> None:
        self._clock = clock
        self._run_blocking = run_blocking
        self._log = logger
        self._tasks: list[_Task] = []

    def spawn(self, coro: Coroutine[Any, Any, Any], future: Outcome[Any] | None = None) -> None:
        """Start ``coro`` now; its result or exception goes to ``future`` if given."""
        task = _Task(coro, future)
        self._tasks.append(task)
        self._step(task, None, None)

    def next_deadline(self) -> float | None:
        return min((t.wake_at for t in self._tasks if t.wake_at is not None), default=None)

    def run_due(self, now: float) -> None:
        """Resume every task whose sleep is over."""
        for task in list(self._tasks):
            if task.wake_at is not None and task.wake_at <= now:
                task.wake_at = None
                self._step(task, None, None)

    def close(self) -> None:
        """Abandon every task (their ``finally`` blocks run); waiting futures get an error."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.coro.close()
            if task.future is not None and not task.future.done():
                task.future.set_exception(StateError("the member stopped"))

    def _step(self, task: _Task, value: Any, error: BaseException | None) -> None:
        if task not in self._tasks:
            return
        try:
            pause = task.coro.throw(error) if error is not None else task.coro.send(value)
        except StopIteration as stop:
            self._finish(task)
            if task.future is not None and not task.future.done():
                task.future.set_result(stop.value)
            return
        except Exception as exc:
            self._finish(task)
            if task.future is not None and not task.future.done():
                task.future.set_exception(exc)
            else:
                self._log.exception("background task %r failed", task.coro)
            return
        if not isinstance(pause, Pause):
            self._finish(task)
            task.coro.close()
            self._log.error(
                "task %r awaited %r, which the thread driver cannot run", task.coro, pause
            )
            return
        if pause.call is None:
            task.wake_at = self._clock() + max(0.0, pause.delay)
            return
        self._run_blocking(pause.call, lambda result, exc: self._step(task, result, exc))

    def _finish(self, task: _Task) -> None:
        if task in self._tasks:
            self._tasks.remove(task)


class Worker:
    """One thread that runs blocking calls (discovery lookups and writes) in turn."""

    def __init__(self, name: str, logger: AnyLogger = log) -> None:
        self._log = logger
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Done] | None] = queue.SimpleQueue()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def submit(self, call: Callable[[], Any], done: Done) -> None:
        """Run ``call`` on the worker, then ``done(result, error)`` on the worker too."""
        self._queue.put((call, done))

    def stop(self, timeout: float | None) -> None:
        """Finish the call in progress, skip the rest, and join (at most ``timeout``)."""
        self._stopping = True
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._log.warning("%s is still in a blocking call; left running", self._thread.name)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            call, done = item
            if self._stopping:
                continue
            try:
                result = call()
            except Exception as exc:
                done(None, exc)
            else:
                done(result, None)
