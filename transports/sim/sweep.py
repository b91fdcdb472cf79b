"""Sweeps: many independent simulator runs on any :class:`concurrent.futures.Executor`.

A sweep is a list of :class:`Task` objects, each a module-level function and its arguments
(a scenario, a config, a seed, ...) that returns a small picklable summary.  Tasks share no
state and hand no live objects across processes, so where one runs cannot change what it
returns.  :func:`sweep` submits them to the executor it is given (``None`` runs them here, one
after the other), feeds ``progress`` as they complete, and returns the results **in task
order**, so a sweep on one process, a process pool or a Dask cluster gives the same bytes.

Failures are contained:

* a task that raises, or whose worker is lost (a dead process-pool child, a Dask
  ``KilledWorker``), is submitted once more (``SweepOptions.retries``, default 1);
* waits are bounded: when no task completes for ``stall_timeout`` seconds, every task still in
  flight counts as lost (cancelled, retried once), so a dead worker that nobody notices cannot
  hang the sweep;
* a task that still fails becomes a :class:`Failure` naming its seed, so it can be replayed
  alone (``swimcore simulate --seed N``); :meth:`SweepResult.values` raises
  :class:`SweepError` listing them when a caller needs every result.

The knobs are :class:`SweepOptions`.  At most ``window`` submissions are in flight at once, so
a sweep of a million seeds does not hold a million futures; ``batch`` runs travel together in
one submission, so short runs do not each pay the executor's cost per submission (a Dask
scheduler's is about a millisecond).

Which executor to use is :mod:`~swimcore.transports.sim.executors`' job.
"""

from __future__ import annotations

import collections
import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import attrs

from swimcore.errors import ConfigError, SwimError

T = TypeVar("T")

#: Called with (tasks finished, tasks in all) after each completion.
Progress = Callable[[int, int], None]

#: Seconds without any completion after which the tasks in flight count as lost.
DEFAULT_STALL_TIMEOUT = 1800.0
#: Tasks in flight at once on an executor.
DEFAULT_WINDOW = 4096


@attrs.frozen(slots=True)
class Task(Generic[T]):
    """One run: ``fn(*args)``; ``seed`` (and ``label``) name it in failure reports."""

    fn: Callable[..., T]
    args: tuple[Any, ...]
    seed: int
    label: str = ""

    def run(self) -> T:
        """Run it here (what a replay does)."""
        return self.fn(*self.args)


@attrs.frozen(slots=True)
class Failure:
    """A task that failed on every attempt: its place in the sweep, its seed, the last error."""

    index: int
    seed: int
    label: str
    attempts: int
    error: str

    def __str__(self) -> str:
        name = f"{self.label} " if self.label else ""
        return f"{name}seed {self.seed}: {self.error} ({self.attempts} attempts)"


class SweepError(SwimError, RuntimeError):
    """Some tasks of a sweep failed on every attempt; ``failures`` says which and why."""

    def __init__(self, failures: Sequence[Failure]) -> None:
        self.failures = tuple(failures)
        shown = "; ".join(str(f) for f in self.failures[:5])
        more = f" and {len(self.failures) - 5} more" if len(self.failures) > 5 else ""
        super().__init__(f"{len(self.failures)} sweep task(s) failed: {shown}{more}")


@attrs.frozen(slots=True)
class SweepResult(Generic[T]):
    """The results in task order (``None`` where the task failed) and the failures."""

    results: tuple[T | None, ...]
    failures: tuple[Failure, ...]

    def values(self) -> list[T]:
        """Every result, in task order; :class:`SweepError` if any task failed."""
        if self.failures:
            raise SweepError(self.failures)
        return [r for r in self.results if r is not None]

    def failed_seeds(self) -> list[int]:
        return [f.seed for f in self.failures]


def _at_least(low: float) -> Callable[[Any, Any, float], None]:
    def check(_: Any, attribute: Any, value: float) -> None:
        if not value >= low or value == float("inf"):
            raise ConfigError(f"sweep option {attribute.name} must be >= {low:g}, got {value!r}")

    return check


@attrs.frozen(slots=True, kw_only=True)
class SweepOptions:
    """How a sweep treats its executor (none of it changes the results)."""

    #: Attempts after the first for a task that fails or is lost.
    retries: int = attrs.field(default=1, validator=_at_least(0))
    #: Seconds without any completion after which the tasks in flight count as lost.
    stall_timeout: float = attrs.field(default=DEFAULT_STALL_TIMEOUT, validator=_at_least(1e-3))
    #: Submissions in flight at once.
    window: int = attrs.field(default=DEFAULT_WINDOW, validator=_at_least(1))
    #: Tasks sent to a worker together in one submission: divides the scheduling cost per run
    #: when runs are short; a lost batch is retried as a whole, a run that raises on its own.
    batch: int = attrs.field(default=1, validator=_at_least(1))


DEFAULTS = SweepOptions()


def sweep(
    tasks: Sequence[Task[T]],
    executor: concurrent.futures.Executor | None = None,
    *,
    progress: Progress | None = None,
    options: SweepOptions = DEFAULTS,
) -> SweepResult[T]:
    """Run every task (on ``executor``, or here when ``None``); results in task order."""
    state = _State(tasks, options.retries, progress)
    if executor is None:
        _run_here(state)
    else:
        _run_on(state, executor, options)
    failures = tuple(state.failures[i] for i in sorted(state.failures))
    return SweepResult(tuple(state.results), failures)


class _State(Generic[T]):
    """The bookkeeping of one sweep: attempts, results, failures, the retry queue."""

    def __init__(self, tasks: Sequence[Task[T]], retries: int, progress: Progress | None):
        self.tasks = tasks
        self.retries = retries
        self.progress = progress
        self.results: list[T | None] = [None] * len(tasks)
        self.attempts = [0] * len(tasks)
        self.failures: dict[int, Failure] = {}
        self.queue: collections.deque[int] = collections.deque(range(len(tasks)))
        self.finished = 0
        if progress is not None:
            progress(0, len(tasks))

    def done(self, index: int, value: T) -> None:
        self.results[index] = value
        self._tick()

    def lost(self, index: int, error: str) -> None:
        """Attempt failed: queue it again while retries are left, else record the failure."""
        if self.attempts[index] <= self.retries:
            self.queue.append(index)
            return
        task = self.tasks[index]
        self.failures[index] = Failure(index, task.seed, task.label, self.attempts[index], error)
        self._tick()

    def _tick(self) -> None:
        self.finished += 1
        if self.progress is not None:
            self.progress(self.finished, len(self.tasks))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _run_here(state: _State[T]) -> None:
    while state.queue:
        index = state.queue.popleft()
        state.attempts[index] += 1
        try:
            value = state.tasks[index].run()
        except Exception as exc:  # a failing run is reported with its seed, not raised
            state.lost(index, _describe(exc))
        else:
            state.done(index, value)


def run_batch(tasks: Sequence[Task[T]]) -> list[tuple[bool, T | str]]:
    """Run ``tasks`` one after the other (on a worker): ``(True, result)`` or ``(False, error)``
    for each, so that one failing run does not take its batch-mates with it."""
    out: list[tuple[bool, T | str]] = []
    for task in tasks:
        try:
            out.append((True, task.run()))
        except Exception as exc:  # reported with its seed by the sweep
            out.append((False, _describe(exc)))
    return out


def _run_on(state: _State[T], executor: concurrent.futures.Executor, options: SweepOptions) -> None:
    batch, window, stall_timeout = options.batch, options.window, options.stall_timeout
    flying: dict[concurrent.futures.Future[Any], list[int]] = {}
    while state.queue or flying:
        while state.queue and len(flying) < window:
            indices = [state.queue.popleft() for _ in range(min(batch, len(state.queue)))]
            for index in indices:
                state.attempts[index] += 1
            try:
                flying[_submit(executor, [state.tasks[i] for i in indices])] = indices
            except (concurrent.futures.BrokenExecutor, RuntimeError) as exc:
                # The executor is gone (a broken pool, a closed client): nothing more can run.
                _give_up(state, indices, f"executor refused the task: {_describe(exc)}")
        if not flying:
            continue
        finished, _ = concurrent.futures.wait(
            flying, timeout=stall_timeout, return_when=concurrent.futures.FIRST_COMPLETED
        )
        if not finished:
            lost = sorted(i for indices in flying.values() for i in indices)
            for future in flying:
                future.cancel()
            flying.clear()
            for index in lost:
                state.lost(index, f"no result within {stall_timeout:g} s (worker lost?)")
            continue
        for future in sorted(finished, key=lambda f: flying[f][0]):
            _collect(state, flying.pop(future), future)


def _submit(
    executor: concurrent.futures.Executor, tasks: list[Task[T]]
) -> concurrent.futures.Future[Any]:
    if len(tasks) == 1:
        return executor.submit(tasks[0].fn, *tasks[0].args)
    return executor.submit(run_batch, tasks)


def _collect(state: _State[T], indices: list[int], future: concurrent.futures.Future[Any]) -> None:
    try:
        value = future.result()
    except Exception as exc:  # raised by the task, or a lost worker took the batch
        for index in indices:
            state.lost(index, _describe(exc))
        return
    if len(indices) == 1:
        state.done(indices[0], value)
        return
    for index, (ok, item) in zip(indices, value, strict=True):
        if ok:
            state.done(index, item)
        else:
            state.lost(index, item)


def _give_up(state: _State[T], indices: list[int], error: str) -> None:
    """Record ``indices`` and everything still queued as failed with ``error``."""
    while state.queue:
        other = state.queue.popleft()
        state.attempts[other] += 1
        indices.append(other)
    for index in indices:
        state.attempts[index] = max(state.attempts[index], state.retries + 1)
        state.lost(index, error)
