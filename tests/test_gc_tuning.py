"""The start-up garbage-collector settings drivers call (swimcore.transports.gc_tuning)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from swimcore.transports import gc_tuning


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_freezes_what_lives_and_raises_the_young_threshold() -> None:
    gc.unfreeze()
    kept = [[i] for i in range(1000)]  # long-lived objects built at start-up
    frozen = gc_tuning.settle(young_threshold=5000)
    assert frozen >= len(kept)
    assert gc.get_threshold()[0] == 5000
    assert gc.get_freeze_count() == frozen
