"""The bridge: a thread-backed member used from asyncio and from trio.

The same test body runs under ``asyncio.run`` and ``trio.run``: events arrive through the async
iterator and the callbacks, both in the loop's own thread; ``close`` ends the streams and
leaves no thread behind; a loop blocked for a while gets every event, in order, afterwards.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
import trio
from support.poll import eventually
from threaded_support import FAST, new_threads

from swimcore import Event, MemberJoined, MemberLeft, State
from swimcore.transports import BridgedMember, ThreadMember

Sleep = Callable[[float], Awaitable[None]]


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    assert new_threads(before) == []


async def _scenario(sleep: Sleep) -> None:
    loop_thread = threading.get_ident()
    callback_threads: list[int] = []
    received: list[Event] = []
    with ThreadMember(FAST, name="seed") as seed:
        async with BridgedMember(FAST, name="bridged", seeds=[seed.address]) as member:
            member.on_event(lambda event: callback_threads.append(threading.get_ident()))
            stream = member.events()
            with ThreadMember(FAST, name="third", seeds=[seed.address]):
                async for event in stream:
                    received.append(event)
                    if isinstance(event, MemberJoined) and event.member.name == "third":
                        break
                assert len(member.members()) == 3
            # The loop is blocked while "third" leaves: its news waits, then arrives in order.
            busy_until = time.monotonic() + 1.0
            while time.monotonic() < busy_until:
                pass
            async for event in stream:
                received.append(event)
                if isinstance(event, MemberLeft):
                    break
            member.broadcast("k", b"v")
            assert member.counters()["live_members"] == 2
        assert stream.ended
        rest = [e async for e in stream]  # what was buffered, then the end
        assert all(not isinstance(e, MemberJoined) for e in rest)
    joined = [e.member.name for e in received if isinstance(e, MemberJoined)]
    assert joined.count("third") == 1
    assert isinstance(received[-1], MemberLeft) and received[-1].member.name == "third"
    assert callback_threads and set(callback_threads) == {loop_thread}


def test_bridge_under_asyncio() -> None:
    asyncio.run(_scenario(asyncio.sleep))


def test_bridge_under_trio() -> None:
    trio.run(_scenario, trio.sleep)


def test_bridge_needs_a_running_loop() -> None:
    member = BridgedMember(FAST)
    with pytest.raises(RuntimeError, match="not started"):
        member.events()


async def _join_then_leave() -> None:
    with ThreadMember(FAST, name="seed") as seed:
        async with BridgedMember(FAST, name="late") as member:
            await member.join([seed.address])
            await eventually(lambda: len(seed.members()) == 2, "the seed never saw late join")
            await member.leave()
            assert member.node.has_left

            def late_has_left() -> bool:
                info = seed.member("late")
                return info is not None and info.state is State.LEFT

            await eventually(late_has_left, "the seed never saw late leave")


@pytest.mark.parametrize("library", ["asyncio", "trio"])
def test_join_and_leave_from_the_loop(library: str) -> None:
    if library == "asyncio":
        asyncio.run(_join_then_leave())
    else:
        trio.run(_join_then_leave)
