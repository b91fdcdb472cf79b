"""The piggyback queue against a plain model of its rules.

The model keeps every queued update with its priority, transmission count and a position
(a counter taken each time the update enters a transmission count), and chooses by sorting:
membership news before user broadcasts, fewest transmissions first, latest entered first, as
many as fit.  The queue must hand out the same bytes in the same order, keep the same updates
and evict the same ones, under any sequence of puts, discards and takes.
"""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from swimcore.dissemination import BroadcastQueue

_SMALLEST = 11
_GIVE_UP = 32


@attrs.define
class _Queued:
    data: bytes
    priority: int
    transmits: int
    position: int


class _Model:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.queued: dict[str, _Queued] = {}
        self.counter = 0
        self.evicted = 0

    def _position(self) -> int:
        self.counter += 1
        return self.counter

    def put(self, key: str, data: bytes, user: bool) -> None:
        self.queued.pop(key, None)
        if len(self.queued) >= self.capacity:
            # Most transmitted, then entered earliest; user broadcasts go before membership news.
            victim = max(
                self.queued,
                key=lambda k: (
                    self.queued[k].priority,
                    self.queued[k].transmits,
                    -self.queued[k].position,
                ),
            )
            del self.queued[victim]
            self.evicted += 1
        self.queued[key] = _Queued(data, 1 if user else 0, 0, self._position())

    def discard(self, key: str) -> None:
        self.queued.pop(key, None)

    def take(self, space: int, limits: tuple[int, int], max_count: int) -> list[bytes]:
        order = sorted(
            self.queued.items(),
            key=lambda kv: (kv[1].priority, kv[1].transmits, -kv[1].position),
        )
        chosen: list[str] = []
        misses = 0
        for priority in (0, 1):
            for key, queued in order:
                if queued.priority != priority:
                    continue
                if space < _SMALLEST or len(chosen) >= max_count:
                    break
                if len(queued.data) <= space:
                    chosen.append(key)
                    space -= len(queued.data)
                    misses = 0
                else:
                    # Too many misses in a row end the search within this priority.
                    misses += 1
                    if misses >= _GIVE_UP:
                        break
        out = []
        for key in chosen:
            queued = self.queued[key]
            out.append(queued.data)
            queued.transmits += 1
            if queued.transmits >= limits[queued.priority]:
                del self.queued[key]
            else:
                queued.position = self._position()
        return out


_KEYS = st.sampled_from([f"m{i}" for i in range(50)])
#: Small updates and large ones, so that a nearly full packet skips many in a row.
_DATA = st.one_of(st.binary(min_size=_SMALLEST, max_size=14), st.binary(min_size=40, max_size=60))
_FILL = st.lists(st.tuples(st.just("put"), _KEYS, _DATA, st.booleans()), max_size=50)
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), _KEYS, _DATA, st.booleans()),
        st.tuples(st.just("discard"), _KEYS),
        st.tuples(
            st.just("take"),
            st.one_of(st.integers(0, 400), st.integers(_SMALLEST, 39)),
            st.tuples(st.integers(1, 6), st.integers(1, 6)),
            st.integers(1, 12),
        ),
    ),
    max_size=80,
)
#: Long runs of puts first, so that searches meet dozens of updates too large for the space.
_RUNS = st.builds(lambda fill, ops: fill + ops, _FILL, _OPS)


@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(1, 60), ops=_RUNS)
def test_the_queue_follows_the_model(capacity: int, ops: list[tuple[Any, ...]]) -> None:
    queue = BroadcastQueue(capacity)
    model = _Model(capacity)
    for op in ops:
        if op[0] == "put":
            _, key, data, user = op
            queue.put(key, data, user=user)
            model.put(key, data, user)
        elif op[0] == "discard":
            queue.discard(op[1])
            model.discard(op[1])
        else:
            _, space, limits, max_count = op
            got = queue.take(space, limits, max_count)
            assert got == model.take(space, limits, max_count)
        assert sorted(queue.keys()) == sorted(model.queued)
        assert len(queue) == len(model.queued)
        assert queue.evicted == model.evicted
        _assert_no_empty_buckets(queue)


def _assert_no_empty_buckets(queue: BroadcastQueue) -> None:
    """An empty slot is None and a level ends at its last bucket: a take walks past empty
    slots without reading an object, and not past the highest count an update holds."""
    for level in queue._levels:
        assert all(bucket is None or bucket.entries for bucket in level)
        assert len(level) == 1 or level[-1] is not None


def test_a_full_packet_takes_the_fewest_sent_first_and_drops_at_the_limit() -> None:
    queue = BroadcastQueue(100)
    for i in range(5):
        queue.put(f"m{i}", bytes([i]) * 20)
    # Room for two: the two queued last, each then sent once.
    assert queue.take(45, (2, 2), 10) == [bytes([4]) * 20, bytes([3]) * 20]
    # Those two now come after the three never sent, newest first.
    assert queue.take(65, (2, 2), 10) == [bytes([2]) * 20, bytes([1]) * 20, bytes([0]) * 20]
    assert queue.take(1000, (2, 2), 10) == [
        bytes([0]) * 20,
        bytes([1]) * 20,
        bytes([2]) * 20,
        bytes([3]) * 20,
        bytes([4]) * 20,
    ]
    assert len(queue) == 0


def test_membership_news_goes_first_and_a_full_queue_evicts_the_most_sent() -> None:
    queue = BroadcastQueue(3)
    queue.put("user", b"u" * 20, user=True)
    queue.put("a", b"a" * 20)
    assert queue.take(100, (5, 5), 10) == [b"a" * 20, b"u" * 20]
    queue.put("b", b"b" * 20)
    queue.put("c", b"c" * 20)  # full: the user broadcast, sent once, is pushed out
    assert queue.evicted == 1
    assert sorted(queue.keys()) == ["a", "b", "c"]


def test_a_nearly_full_packet_gives_up_after_a_run_of_updates_too_large() -> None:
    for large, expected in ((_GIVE_UP - 1, [b"s" * 12]), (_GIVE_UP, [])):
        queue = BroadcastQueue(100)
        queue.put("small", b"s" * 12)
        for i in range(large):
            queue.put(f"large{i}", b"L" * 50)
        assert queue.take(30, (5, 5), 10) == expected
