"""Members that find each other through a discovery store, on real loopback sockets.

No member is given a join address: they look in the store, the leader writes its own address
there (the JoinAddress action), lone members keep looking, and groups that formed apart merge.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from discovery_servers import key_value_server
from support.configs import fast
from support.poll import eventually

from swimcore.transports import AnyioMember, AsyncioMember, DiscoveryOptions
from swimcore.transports.discovery import FileStore, HttpStore

pytestmark = pytest.mark.anyio

#: support's FAST, with frequent anti-entropy and the join address reported every 2 periods.
DISCOVERING = fast(push_pull_interval=1.0, join_address_every=2)
QUICK = DiscoveryOptions(alone_initial=0.2, alone_max=0.8, refresh=0.5)

Member = AsyncioMember | AnyioMember


@pytest.fixture(
    params=[
        pytest.param(("asyncio-driver", "asyncio"), id="asyncio-driver"),
        pytest.param(("anyio", "trio"), id="anyio-trio"),
    ]
)
def driver(request: pytest.FixtureRequest) -> tuple[str, str]:
    value: tuple[str, str] = request.param
    return value


@pytest.fixture
def anyio_backend(driver: tuple[str, str]) -> str:
    return driver[1]


@pytest.fixture
def make(driver: tuple[str, str]) -> Callable[..., Member]:
    def build(**kwargs: Any) -> Member:
        kwargs.setdefault("discovery_options", QUICK)
        if driver[0] == "asyncio-driver":
            return AsyncioMember(DISCOVERING, **kwargs)
        return AnyioMember(DISCOVERING, **kwargs)

    return build


async def test_members_find_each_other_through_an_http_store(
    make: Callable[..., Member],
) -> None:
    with key_value_server() as server:
        store = HttpStore(server.url + "/kv/{prefix}/{group}", group="blue")
        async with contextlib.AsyncExitStack() as stack:
            members = [
                await stack.enter_async_context(make(discovery=store, seed=i)) for i in range(4)
            ]
            await eventually(
                lambda: all(len(m.members()) == 4 for m in members),
                "the four never found each other through the store",
            )
            leader = max(members, key=lambda m: m.address.leader_key())
            # Only the leader keeps writing: the store ends up holding its address.
            await eventually(
                lambda: store.lookup() == [leader.address], "the store does not hold the leader"
            )
            assert leader.counters()["driver.discovery.published"] >= 1
            assert all(m.counters()["driver.discovery.lookups"] >= 1 for m in members)


async def test_store_errors_are_counted_and_the_member_keeps_trying(
    make: Callable[..., Member],
) -> None:
    with key_value_server() as server:
        server.fail_with = 503
        store = HttpStore(server.url + "/kv/{group}", group="g", timeout=1.0)
        async with make(discovery=store, seed=1) as lone, make(discovery=store, seed=2) as other:
            await eventually(
                lambda: lone.counters().get("driver.discovery.lookup_errors", 0) >= 2,
                "the failing store's errors were not counted",
            )
            assert len(lone.members()) == 1
            server.fail_with = None  # the store comes back: the two find each other
            await eventually(
                lambda: len(lone.members()) == 2 and len(other.members()) == 2,
                "the two never found each other once the store came back",
            )


async def test_groups_formed_apart_merge_when_the_store_points_across(
    make: Callable[..., Member], tmp_path: Path
) -> None:
    pointer = tmp_path / "join"
    store = FileStore(pointer, writable=False)
    async with (
        make(discovery=store, seed=1) as a1,
        make(seeds=[a1.address], seed=2) as a2,
        make(seed=3) as b1,
        make(seeds=[b1.address], seed=4) as b2,
    ):
        everyone = [a1, a2, b1, b2]
        await eventually(
            lambda: all(len(m.members()) == 2 for m in everyone), "the two pairs never formed"
        )
        # Two groups of two.  Now the store names a member of the other group: a1 is not
        # alone, yet its periodic look contacts the unknown address and the groups merge.
        pointer.write_text(f"{b1.address}\n")
        await eventually(
            lambda: all(len(m.members()) == 4 for m in everyone), "the two pairs never merged"
        )
