"""A discovery lookup that ends after the member left joins nothing, on every driver.

Lookups run in a worker thread (stores block: files, DNS, HTTP), so a member may leave while
one is under way.  Its answer used to be acted on as if nothing had happened: a join through
the addresses found, which a node that has left refuses with ``StateError`` (the anyio
driver's task group then failed with it, the asyncio driver's discovery task died).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import anyio
from support.configs import fast
from support.matrix import Driver
from support.poll import eventually

from swimcore import Address
from swimcore.transports import DiscoveryOptions


class HeldStore:
    """A store whose lookups wait until released, then name an address no member knows."""

    def __init__(self) -> None:
        self.looking = threading.Event()
        self.release = threading.Event()

    def lookup(self) -> Sequence[Address]:
        self.looking.set()
        self.release.wait(10.0)
        return [Address("127.0.0.1", 9)]

    def publish(self, address: Address) -> None:
        pass


def test_a_lookup_that_ends_after_the_member_left_joins_nothing(driver: Driver) -> None:
    async def story(driver: Driver) -> None:
        store = HeldStore()
        options = DiscoveryOptions(alone_initial=0.1, alone_max=0.2)
        try:
            async with driver.member(fast(), discovery=store, discovery_options=options) as m:
                await eventually(store.looking.is_set, "the member never looked in the store")
                await m.leave()
                store.release.set()
                await anyio.sleep(0.5)  # the lookup's answer reaches the discovery loop
                assert m.counters().get("driver.discovery.joins", 0) == 0
                assert m.counters().get("driver.discovery.lookups", 0) >= 1
        finally:
            store.release.set()

    driver.run(story)
