"""The discovery loop: find seeds in a store while alone, look again now and then, publish.

The loop and the publisher are coroutines that await only what the driver injects (``sleep``
and ``to_thread``), so the same code runs on asyncio, on trio and on the thread driver's own
protocol thread.  Stores block (files, DNS, HTTP), so they are always called in a worker.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from swimcore import Address
from swimcore import counter_names as cn
from swimcore.transports.counters import Counters
from swimcore.transports.lazy_log import DEBUG, WARNING, AnyLogger, named

if TYPE_CHECKING:
    from swimcore.transports.member import MemberCore

log = named("swimcore.transports")

Sleep = Callable[[float], Awaitable[None]]
ToThread = Callable[[Callable[[], Any]], Awaitable[Any]]


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
                core.counters.add(cn.DISCOVERY_LOOKUP_ERRORS)
                level = DEBUG if failing else WARNING
                core.log.log(level, "discovery lookup failed: %s", exc)
                failing = True
                found = []
            else:
                if failing:
                    core.log.info("discovery store reachable again")
                failing = False
            core.counters.add(cn.DISCOVERY_LOOKUPS)
            known = set(core.live_addresses())
            fresh = [a for a in found if a not in known]
            if len(fresh) > options.max_contacts:
                fresh = rng.sample(fresh, options.max_contacts)
            # (The lookup ran in a thread: the member may have left meanwhile.)
            if fresh and not core.closing and not core.node.has_left:
                core.counters.add(cn.DISCOVERY_JOINS)
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

    async def run(self, to_thread: ToThread, logger: AnyLogger = log) -> None:
        try:
            while self._pending is not None:
                address, self._pending = self._pending, None
                try:
                    await to_thread(functools.partial(self._store.publish, address))
                except Exception as exc:
                    self._counters.add(cn.DISCOVERY_PUBLISH_ERRORS)
                    logger.warning("publishing join address %s failed: %s", address, exc)
                else:
                    self._counters.add(cn.DISCOVERY_PUBLISHED)
                    logger.debug("published join address %s", address)
        finally:
            self._busy = False
