"""Garbage-collector settings for processes that run members (``MemberOptions.gc_freeze``).

A member's tables, queues and indexes, like the program's modules, are built at start-up and
live as long as the process; the collector would walk them again on every full collection.
With hundreds of members in one process those walks are pauses longer than a probe timeout
(which peers read as a failure: 161 ms at 300 members, 0.7-1.4 s at 500, see
``benchmarks/bench_gc_pauses.py``), and in a one-member process they are most of the idle
cost of a collection.  :func:`settle` collects once and moves every object alive at that
moment to the permanent generation (``gc.freeze``: never scanned again).

Drivers call :func:`hold` when a member has started and :func:`release` when it stops: each
start freezes what was added since the last one (the new member's tables, the tables the
others grew as it joined), and once no started member is left the freeze is undone
(``gc.unfreeze``), so that what stopped members leave behind (their sockets, tasks and
tables form reference cycles, which a frozen object never leaves) can be collected; while
others still run, that is redone once as many members have stopped as still run.  The
collector's thresholds are left as the application set them.  An application that manages the
collector itself (for example freezing before it forks workers) passes ``gc_freeze=False``.

The simulator freezes nothing: while its loop runs it only raises the young-generation
threshold (:class:`FewerCollections`), and puts the application's back when the loop returns.
"""

from __future__ import annotations

import gc
import threading

#: A young-generation threshold for :func:`settle`'s callers and :class:`FewerCollections`
#: (CPython's default is 700 allocations).  Drivers do not set it: with the freeze, pauses
#: are short already (see ``benchmarks/README.md``).
YOUNG_THRESHOLD = 7_000


class _Holders:
    """Members started with the freeze and not stopped yet (any driver's thread may start one),
    and how many stopped since the freeze was last redone."""

    __slots__ = ("count", "lock", "stopped")

    def __init__(self) -> None:
        self.count = 0
        self.stopped = 0
        self.lock = threading.RLock()


_HOLDERS = _Holders()


def settle(*, young_threshold: int | None = None) -> int:
    """Collect, freeze what survives and (when given) set the young-generation threshold.

    Returns how many objects are now frozen (``gc.get_freeze_count()``).
    """
    gc.collect()
    gc.freeze()
    if young_threshold is not None:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)
    return gc.get_freeze_count()


def hold() -> None:
    """A member has started: :func:`settle`, and count it until its :func:`release`."""
    with _HOLDERS.lock:
        _HOLDERS.count += 1
        settle()


def release() -> None:
    """A member started with :func:`hold` has stopped; the last one undoes the freeze.

    While others run, what stopped members left frozen (their reference cycles) is collected
    once as many have stopped as still run: a process that keeps one member and restarts
    another would otherwise keep every stopped member for good, and the full collection this
    costs is paid once per as many stops as there are members to walk.
    """
    with _HOLDERS.lock:
        if _HOLDERS.count > 0:
            _HOLDERS.count -= 1
            _HOLDERS.stopped += 1
            if _HOLDERS.count == 0:
                _HOLDERS.stopped = 0
                gc.unfreeze()
            elif _HOLDERS.stopped >= _HOLDERS.count:
                _HOLDERS.stopped = 0
                gc.unfreeze()
                settle()


class FewerCollections:
    """A ``with`` block that runs with the young-generation threshold at least ``young``.

    For code that owns the thread while it runs and keeps a large heap alive, such as the
    simulator's event loop: at CPython's default of 700 allocations, objects that live a few
    milliseconds (datagrams in flight, timers) survive two young collections and reach the
    oldest generation, and full collections then walk the whole cluster (14% of a
    10,000-member simulation's CPU; 6% at 7,000, see ``benchmarks/README.md``).  On leaving,
    the application's own thresholds come back unless it changed them inside the block; a
    higher threshold, or 0 (automatic collection off), is left as it is.  Blocks nest.
    """

    __slots__ = ("_saved", "_young")

    def __init__(self, young: int = YOUNG_THRESHOLD) -> None:
        self._young = young
        self._saved: tuple[int, int, int] | None = None

    def __enter__(self) -> None:
        saved = gc.get_threshold()
        if 0 < saved[0] < self._young:
            gc.set_threshold(self._young, saved[1], saved[2])
            self._saved = saved

    def __exit__(self, *exc_info: object) -> None:
        saved, self._saved = self._saved, None
        if saved is not None and gc.get_threshold() == (self._young, saved[1], saved[2]):
            gc.set_threshold(*saved)


def held() -> int:
    """How many started members hold the freeze now."""
    return _HOLDERS.count
