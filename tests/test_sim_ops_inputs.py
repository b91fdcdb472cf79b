"""Simulator operations refuse bad fields when they are built, not from inside a run."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import pytest

from swimcore import ConfigError
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.ops import (
    Chaos,
    Corruption,
    Crash,
    Leave,
    LossBurst,
    OneWayLoss,
    Op,
    Partition,
    Pause,
    Restart,
)

BAD_OPS: dict[str, tuple[Callable[[], Op], str]] = {
    "crash of a negative index": (lambda: Crash(-1), "index must be a node index"),
    "restart of a negative index": (lambda: Restart(-2), "index must be a node index"),
    "leave of a negative index": (lambda: Leave(-1), "index must be a node index"),
    "pause of a negative index": (lambda: Pause(-1, 1.0), "index must be a node index"),
    "one-way loss of a negative index": (
        lambda: OneWayLoss(-1, 0.5, 1.0),
        "index must be a node index",
    ),
    "crash of a bool": (lambda: Crash(True), "index must be a node index"),
    "loss burst above one": (lambda: LossBurst(2.0, 5.0), "loss must be a probability"),
    "loss burst not a number": (lambda: LossBurst(math.nan, 5.0), "loss must be a probability"),
    "one-way loss below zero": (lambda: OneWayLoss(1, -0.1, 5.0), "loss must be a probability"),
    "corruption above one": (lambda: Corruption(1.5, 1.0), "rate must be a probability"),
    "chaos below zero": (lambda: Chaos(-0.5, 1.0), "rate must be a probability"),
    "loss burst of negative duration": (
        lambda: LossBurst(0.5, -5.0),
        "duration must be a finite number >= 0",
    ),
    "pause of negative duration": (lambda: Pause(3, -4.0), "duration must be a finite number"),
    "pause of NaN duration": (lambda: Pause(3, math.nan), "duration must be a finite number"),
    "pause of infinite duration": (lambda: Pause(3, math.inf), "duration must be a finite number"),
    "one-way loss of infinite duration": (
        lambda: OneWayLoss(1, 0.5, math.inf),
        "duration must be a finite number",
    ),
    "corruption of negative duration": (
        lambda: Corruption(0.1, -1.0),
        "duration must be a finite number",
    ),
    "chaos of NaN duration": (lambda: Chaos(0.1, math.nan), "duration must be a finite number"),
    "partition of negative duration": (
        lambda: Partition((1,), duration=-1.0),
        "duration must be a finite number",
    ),
    "partition of infinite duration": (
        lambda: Partition((1,), duration=math.inf),
        "duration must be a finite number",
    ),
    "partition with a negative index": (
        lambda: Partition((0, -1)),
        "side must hold node indexes",
    ),
    "partition of no one": (lambda: Partition(()), "at least one node index"),
}


@pytest.mark.parametrize("case", sorted(BAD_OPS))
def test_a_bad_operation_is_refused_when_built(case: str) -> None:
    build, message = BAD_OPS[case]
    with pytest.raises(ConfigError, match=message):
        build()


def test_a_negative_index_never_reaches_a_cluster_where_it_would_name_the_last_node() -> None:
    cluster = SimCluster(10, seed=1)
    with pytest.raises(ConfigError, match="integer >= 0"):
        cluster.apply(Crash(-1))
    assert cluster.running() == list(range(10))
    assert cluster.applied == []


def test_a_scheduled_bad_operation_is_refused_before_the_run() -> None:
    cluster = SimCluster(3, seed=1)
    with pytest.raises(
        ConfigError, match=re.escape("loss must be a probability within 0..1, got 2.0")
    ):
        cluster.schedule([(1.0, LossBurst(2.0, 5.0))])
    cluster.run_for(2.0)  # nothing was scheduled, nothing fails later


def test_good_operations_still_build_and_apply() -> None:
    cluster = SimCluster(4, seed=1)
    for op in (
        Pause(1, 0.0),
        LossBurst(0.0, 0.0),
        LossBurst(1.0, 1.0),
        Partition((2, 7), both_ways=False, duration=1.0),  # 7: a node that may join later
        OneWayLoss(3, 0.5, 1.0),
        Crash(9),  # no such node yet: skipped, as on a crashed node
    ):
        cluster.apply(op)
    cluster.run_for(2.0)
    assert cluster.running() == [0, 1, 2, 3]
