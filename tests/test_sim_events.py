"""The simulator's event queue pops exactly as one heap of ``(when, seq, ...)`` tuples would."""

from __future__ import annotations

import gc
import heapq
import math
from typing import Any

import hypothesis.strategies as st
from hypothesis import given

from swimcore import Config
from swimcore.transports.sim.cluster import SimCluster
from swimcore.transports.sim.events import BUCKET, EventQueue

# Times on and around bucket edges, equal times (ties broken by push order), the far future.
_EDGES = [k * BUCKET + d for k in range(-2, 6) for d in (0.0, 1e-12, -1e-12)]
_TIMES = st.one_of(
    st.sampled_from(_EDGES),
    st.floats(min_value=-1.0, max_value=3.0, allow_nan=False),
    st.sampled_from([0.0, 0.5, 1.0, 2.0**40, math.inf]),
)
# ("push", when) or ("pop", until): a run of the simulator's two operations.
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("push"), _TIMES),
        st.tuples(st.just("pop"), st.one_of(_TIMES, st.just(2.0**40))),
    ),
    max_size=200,
)


def _model_pop(heap: list[tuple[float, int, int, Any]], until: float) -> Any:
    if heap and heap[0][0] <= until:
        return heapq.heappop(heap)
    return None


@given(_OPS)
def test_pops_in_the_order_of_a_heap_for_any_pushes(ops: list[tuple[str, float]]) -> None:
    queue = EventQueue()
    model: list[tuple[float, int, int, Any]] = []
    seq = 0
    for op, when in ops:
        if op == "push":
            seq += 1
            queue.push(when, seq % 6, ("payload", seq))
            heapq.heappush(model, (when, seq, seq % 6, ("payload", seq)))
        else:
            assert queue.pop_due(when) == _model_pop(model, when)
        assert len(queue) == len(model)
        assert queue.first() == (model[0][0] if model else None)
    drained = []
    while (event := queue.pop_due(math.inf)) is not None:
        drained.append(event)
    assert drained == sorted(model)


@given(st.lists(st.floats(min_value=0.0, max_value=0.05), min_size=1, max_size=100))
def test_events_pushed_while_a_bucket_drains_pop_as_from_a_heap(delays: list[float]) -> None:
    """As the simulator does: each event popped schedules more, some due at once."""
    queue = EventQueue()
    model: list[tuple[float, int, int, Any]] = []
    seq = 0

    def push(when: float) -> None:
        nonlocal seq
        seq += 1
        queue.push(when, 0, seq)
        heapq.heappush(model, (when, seq, 0, seq))

    push(0.0)
    now = 0.0
    for delay in delays:
        event = queue.pop_due(math.inf)
        assert event == heapq.heappop(model)
        assert event[0] >= now
        now = event[0]
        push(now + delay)
        push(now)  # due at once: pops before anything later


def test_equal_times_pop_in_push_order_across_buckets() -> None:
    queue = EventQueue()
    for i in range(10):
        queue.push(3 * BUCKET if i % 2 else BUCKET, 0, i)
    assert queue.pop_due(BUCKET / 2) is None  # nothing due yet
    order = [event[3] for event in iter(lambda: queue.pop_due(1.0), None)]
    assert order == [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]
    assert len(queue) == 0
    assert queue.first() is None


def test_an_unbounded_pause_stays_last_and_never_comes_due() -> None:
    queue = EventQueue()
    queue.push(math.inf, 5, "resume")
    queue.push(2.0**40, 0, "last tick")
    assert queue.pop_due(2.0**40) == (2.0**40, 2, 0, "last tick")
    assert queue.pop_due(2.0**40) is None
    assert len(queue) == 1
    assert queue.first() == math.inf


def test_pending_ticks_leave_the_collector_alone() -> None:
    """A host's next tick holds ints only, so the collector stops tracking it: in a large
    cluster a tick waits through many young collections and would otherwise be promoted and
    walked by every full one."""
    cluster = SimCluster(20, seed=3, config=Config.lan())
    cluster.run_for(5.0)
    gc.collect()
    gc.collect()  # an event tuple is untracked once the tuple inside it is
    host_type = type(cluster.hosts[0])
    tracked = [
        o for o in gc.get_objects() if type(o) is tuple and any(type(x) is host_type for x in o)
    ]
    assert tracked == []
    assert cluster.net.pending_events() >= 20  # every host has its tick queued
