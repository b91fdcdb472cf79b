"""What is particular to the anyio driver: cancellation, trio's clock, closing inside the block."""

from __future__ import annotations

import anyio
import pytest
from support.configs import FAST
from support.poll import eventually

from swimcore import State
from swimcore.transports import AnyioMember

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


async def test_a_cancelled_block_still_leaves_gracefully() -> None:
    async with AnyioMember(FAST, seed=1) as a:
        b = AnyioMember(FAST, seeds=[a.address], seed=2)
        with anyio.move_on_after(1.0) as outside:
            async with b:
                await eventually(lambda: len(a.members()) == 2, "a never saw b join")
                await anyio.sleep_forever()  # cancelled from outside
        assert outside.cancelled_caught
        assert b.node.has_left  # the shielded leave ran although the block was cancelled
        await eventually(
            lambda: (m := a.member(b.name)) is not None and m.state is State.LEFT,
            "a never saw b leave",
        )


async def test_close_inside_the_block_stops_only_that_member() -> None:
    async with AnyioMember(FAST, seed=1) as a, AnyioMember(FAST, seeds=[a.address], seed=2) as b:
        await eventually(lambda: len(a.members()) == 2, "a never saw b join")
        await b.close(leave=False)
        await b.close()  # a second close does nothing
        assert not b.node.has_left
        # a runs on: it notices b's silence and declares it dead.
        await eventually(
            lambda: (m := a.member(b.name)) is not None and m.state is State.DEAD,
            "a never declared the silent b dead",
        )
    assert a.node.has_left


async def test_the_clock_is_the_backends_wherever_it_starts() -> None:
    async with AnyioMember(FAST, seed=1) as a:
        deadline = a.node.next_deadline()
        assert deadline is not None
        # trio's clock starts at a random offset; the node's deadlines live on the same clock.
        assert abs(deadline - anyio.current_time()) < 5.0
