"""The garbage-collector settings a started member applies (MemberOptions.gc_freeze)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator

import pytest
from support.configs import FAST

from swimcore import ConfigError, Node
from swimcore.transports import AsyncioMember, MemberOptions, gc_tuning
from swimcore.transports.thread.member import ThreadMember


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_freezes_what_lives_and_leaves_the_thresholds_unless_asked() -> None:
    threshold = gc.get_threshold()
    kept = [[i] for i in range(1000)]  # long-lived objects built at start-up
    frozen = gc_tuning.settle()
    assert frozen >= len(kept)
    assert gc.get_freeze_count() == frozen
    assert gc.get_threshold() == threshold
    gc_tuning.settle(young_threshold=5000)
    assert gc.get_threshold() == (5000, *threshold[1:])


def test_gc_freeze_is_an_option_that_must_be_a_bool() -> None:
    assert MemberOptions().gc_freeze is True
    with pytest.raises(ConfigError, match="gc_freeze"):
        MemberOptions(gc_freeze="no")  # type: ignore[arg-type]


def _asyncio_freezes(freeze: bool) -> tuple[int, int, int]:
    """(frozen before start, while running, after close) with one asyncio member."""

    async def scenario() -> tuple[int, int, int]:
        before = gc.get_freeze_count()
        async with AsyncioMember(FAST, "127.0.0.1:0", gc_freeze=freeze, leave_on_exit=False):
            running = gc.get_freeze_count()
        return before, running, gc.get_freeze_count()

    return asyncio.run(scenario())


def _thread_freezes(freeze: bool) -> tuple[int, int, int]:
    before = gc.get_freeze_count()
    with ThreadMember(FAST, "127.0.0.1:0", gc_freeze=freeze, leave_on_exit=False):
        running = gc.get_freeze_count()
    return before, running, gc.get_freeze_count()


@pytest.mark.parametrize("run", [_asyncio_freezes, _thread_freezes], ids=["asyncio", "thread"])
def test_a_started_member_freezes_until_it_stops_unless_told_not_to(
    run: Callable[[bool], tuple[int, int, int]],
) -> None:
    threshold = gc.get_threshold()
    before, running, after = run(True)
    assert before == 0 and running > 1000  # the interpreter's modules at least
    assert after == 0 and gc_tuning.held() == 0  # unfrozen: the stopped member's cycles go
    assert run(False) == (0, 0, 0)
    assert gc.get_threshold() == threshold  # the member never touches the thresholds


def test_the_freeze_lasts_while_any_member_runs() -> None:
    async def scenario() -> None:
        first = AsyncioMember(FAST, "127.0.0.1:0", leave_on_exit=False)
        second = AsyncioMember(FAST, "127.0.0.1:0", leave_on_exit=False)
        await first.start()
        await second.start()
        assert gc_tuning.held() == 2
        await first.close()
        assert gc_tuning.held() == 1 and gc.get_freeze_count() > 0
        await first.close()  # closing again releases nothing more
        assert gc_tuning.held() == 1
        await second.close()
        assert gc_tuning.held() == 0 and gc.get_freeze_count() == 0

    asyncio.run(scenario())


def test_members_stopped_while_another_runs_are_collected() -> None:
    """A process that keeps one member and restarts another: each stopped member's cycles
    were frozen at its start and stayed frozen while the first one ran, so every one of them
    was kept for good (61 nodes after 60 restarts)."""

    def _nodes() -> int:
        gc.unfreeze()  # frozen objects are invisible to gc.get_objects()
        return sum(isinstance(o, Node) for o in gc.get_objects())

    async def scenario() -> int:
        async with AsyncioMember(FAST, "127.0.0.1:0", leave_on_exit=False) as first:
            for _ in range(20):
                async with AsyncioMember(
                    FAST, "127.0.0.1:0", seeds=[first.address], leave_on_exit=False
                ):
                    await asyncio.sleep(0)
            return _nodes()

    # What earlier tests in this process left (a worker runs many) is not this test's.
    _nodes()
    gc.collect()
    before = _nodes()
    assert asyncio.run(scenario()) - before <= 3


def test_fewer_collections_raises_the_young_threshold_and_puts_it_back() -> None:
    gc.set_threshold(700, 11, 12)
    with gc_tuning.FewerCollections(5000):
        assert gc.get_threshold() == (5000, 11, 12)
        with gc_tuning.FewerCollections(3000):  # nested, lower: nothing changes
            assert gc.get_threshold() == (5000, 11, 12)
        assert gc.get_threshold() == (5000, 11, 12)
    assert gc.get_threshold() == (700, 11, 12)


def test_fewer_collections_leaves_a_higher_threshold_or_collection_off_alone() -> None:
    for own in ((20_000, 10, 10), (0, 10, 10)):
        gc.set_threshold(*own)
        with gc_tuning.FewerCollections(5000):
            assert gc.get_threshold() == own
        assert gc.get_threshold() == own


def test_fewer_collections_keeps_what_the_application_set_inside_the_block() -> None:
    gc.set_threshold(700, 10, 10)
    with gc_tuning.FewerCollections(5000):
        gc.set_threshold(900, 10, 10)
    assert gc.get_threshold() == (900, 10, 10)


def test_fewer_collections_puts_the_threshold_back_when_the_block_raises() -> None:
    gc.set_threshold(700, 10, 10)
    with pytest.raises(RuntimeError), gc_tuning.FewerCollections(5000):
        raise RuntimeError
    assert gc.get_threshold() == (700, 10, 10)
