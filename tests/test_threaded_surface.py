"""The thread driver's user surface: thread safety, events, callbacks, errors, bounds, fork.

Small clusters on loopback with the fast config; each test checks that it leaves no thread
behind.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import pytest
from support.poll import eventually_blocking
from threaded_support import FAST, converged, new_threads, start_cluster, stop_all

from swimcore import (
    Address,
    BroadcastReceived,
    ConfigError,
    DeliveryError,
    Event,
    JoinFailed,
    MemberJoined,
    StateError,
)
from swimcore.messages import Ping
from swimcore.transports import DiscoveryOptions
from swimcore.transports.member import MemberCore
from swimcore.transports.thread.member import EventQueue, ThreadMember
from swimcore.wire.native import codec


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    assert new_threads(before) == []


def _next_joined(queue: EventQueue, timeout: float = 10.0) -> MemberJoined | None:
    """The next MemberJoined in ``queue`` (other events, such as LeaderChanged, are skipped)."""
    end = time.monotonic() + timeout
    while (event := queue.get(max(0.0, end - time.monotonic()))) is not None:
        if isinstance(event, MemberJoined):
            return event
    return None


def test_the_event_queue_yields_events_in_order_and_ends_on_close() -> None:
    first = ThreadMember(FAST, name="first")
    first.start()
    try:
        queue = first.events()
        with ThreadMember(FAST, name="second", seeds=[first.address]):
            event = _next_joined(queue)
            assert event is not None and event.member.name == "second"
    finally:
        first.close()
    rest = list(queue)  # iteration ends once the member stopped
    assert queue.ended
    assert queue.get(timeout=0.01) is None
    assert all(not isinstance(e, MemberJoined) for e in rest)


def test_a_full_event_queue_drops_new_events_and_counts_them() -> None:
    members = start_cluster(1)
    try:
        queue = members[0].events(maxsize=1)
        members += start_cluster_joining(members[0], 2)
        eventually_blocking(lambda: converged(members), "the members never converged", timeout=10.0)
        eventually_blocking(
            lambda: members[0].counters().get("driver.dropped.events", 0) >= 1,
            "events past the full queue were not counted as dropped",
            timeout=5.0,
        )
        assert len(queue) == 1
    finally:
        stop_all(members)


def start_cluster_joining(seed: ThreadMember, count: int) -> list[ThreadMember]:
    joined = []
    for i in range(count):
        member = ThreadMember(FAST, name=f"j{i}", seeds=[seed.address])
        member.start()
        joined.append(member)
    return joined


def test_slow_and_failing_callbacks_never_hold_the_protocol(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="swimcore.transports.thread")
    release = threading.Event()
    seen_by_callback: list[str] = []

    def fails(event: Event) -> None:
        raise ValueError("callback bug")

    def blocks(event: Event) -> None:
        release.wait(10.0)
        if isinstance(event, MemberJoined):
            seen_by_callback.append(event.member.name)

    members = start_cluster(1)
    try:
        first = members[0]
        first.on_event(fails)
        first.on_event(blocks)
        queue = first.events()
        members += start_cluster_joining(first, 3)
        # The first callback call is blocked, yet the protocol and the queue go on.
        eventually_blocking(lambda: converged(members), "the members never converged", timeout=10.0)
        joined = [_next_joined(queue, 5.0) for _ in range(3)]
        assert sorted(e.member.name for e in joined if e is not None) == ["j0", "j1", "j2"]
        assert seen_by_callback == []
        release.set()
        eventually_blocking(
            lambda: len(seen_by_callback) == 3,
            "the released callback never saw the three joins",
            timeout=5.0,
        )
        counters = first.counters()
        assert counters["driver.callback_errors"] >= 3
        assert "callback bug" in caplog.text
        assert all(r.name == "swimcore.transports.thread" for r in caplog.records)
    finally:
        release.set()
        stop_all(members)


def test_a_callback_slower_than_a_second_is_counted() -> None:
    members = start_cluster(1)
    try:
        members[0].on_event(lambda event: time.sleep(1.1))
        members += start_cluster_joining(members[0], 1)
        eventually_blocking(
            lambda: members[0].counters().get("driver.callback_slow", 0) >= 1,
            "a slow callback was not counted",
            timeout=5.0,
        )
    finally:
        stop_all(members)


def test_close_from_a_callback_does_not_deadlock() -> None:
    members = start_cluster(1)
    closed = threading.Event()

    def close_on_join(event: Event) -> None:
        if isinstance(event, MemberJoined):
            members[0].close(leave=False)
            closed.set()

    try:
        members[0].on_event(close_on_join)
        members += start_cluster_joining(members[0], 1)
        assert closed.wait(10.0)
        assert not members[0].running
    finally:
        stop_all(members)


def test_queries_from_many_threads_while_the_group_changes() -> None:
    members = start_cluster(3)
    errors: list[BaseException] = []
    stop = threading.Event()

    def hammer(member: ThreadMember) -> None:
        try:
            while not stop.is_set():
                member.members()
                member.counters()
                member.member("m00")
                _ = member.leader, member.health, member.incarnation
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(m,)) for m in members for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        members += start_cluster_joining(members[0], 3)
        members[-1].close(leave=False)
        eventually_blocking(
            lambda: members[0].member("j2") is not None,
            "m00 never saw j2 join",
            timeout=5.0,
        )
        members[1].set_metadata(b"changed")
        eventually_blocking(
            lambda: getattr(members[0].member("m01"), "meta", b"") == b"changed",
            "m00 never saw m01's new metadata",
            timeout=5.0,
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        stop_all(members)
    assert errors == []


def test_metadata_and_broadcasts_spread_and_misuse_raises_in_the_caller() -> None:
    members = start_cluster(2)
    try:
        first, second = members
        eventually_blocking(lambda: converged(members), "the members never converged", timeout=10.0)
        received = second.events()
        first.set_metadata(b"role=db")

        def meta_seen() -> bool:
            info = second.member("m00")
            return info is not None and info.meta == b"role=db"

        eventually_blocking(meta_seen, "m01 never saw m00's metadata", timeout=10.0)
        first.broadcast("config", b"v2")
        eventually_blocking(
            lambda: any(
                isinstance(e, BroadcastReceived) and e.payload == b"v2"
                for e in iter(received.get_nowait, None)
            ),
            "m01's event queue never held m00's broadcast",
            timeout=10.0,
        )
        with pytest.raises(ConfigError):
            first.set_metadata(b"x" * (FAST.max_metadata + 1))
        first.leave()
        with pytest.raises(StateError):
            first.set_metadata(b"after leaving")
    finally:
        stop_all(members)


def test_an_unreachable_seed_reports_join_failed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dead = Address("127.0.0.1", probe.getsockname()[1])  # bound, not listening: refused
        with ThreadMember(FAST, seeds=[dead]) as member:
            queue = member.events()
            failure = queue.get(timeout=5.0)
            assert isinstance(failure, JoinFailed) and failure.seed == dead
            assert member.counters()["driver.exchange.failed_out"] >= 1


def test_exchange_input_is_bounded_oversized_and_silent_peers_are_dropped() -> None:
    with ThreadMember(FAST, exchange_timeout=0.3) as member:
        target = (str(member.address.ip), member.address.port)
        with socket.create_connection(target, timeout=5.0) as oversized:
            oversized.sendall((FAST.max_exchange_bytes + 1).to_bytes(4, "big"))
            assert oversized.recv(16) == b""  # closed without reading further
        with socket.create_connection(target, timeout=5.0) as silent:
            assert silent.recv(16) == b""  # closed at the exchange timeout
        counters = member.counters()
        assert counters["driver.dropped.exchange_oversized"] == 1
        assert counters["driver.dropped.exchange_timeout"] == 1
        assert len(member.members()) == 1


def test_garbage_datagrams_are_counted_and_the_member_keeps_working() -> None:
    members = start_cluster(2)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for size in (0, 1, 100, 2000):
                sender.sendto(b"\xff" * size, (str(members[0].address.ip), members[0].address.port))
        eventually_blocking(
            lambda: members[0].counters().get("dropped.malformed", 0) >= 3,
            "the garbage was not counted as malformed",
            timeout=5.0,
        )
        eventually_blocking(lambda: converged(members), "the members lost each other", timeout=10.0)
    finally:
        stop_all(members)


class _Store:
    """A discovery store in memory (its calls run on the member's worker thread)."""

    def __init__(self, addresses: list[Address]) -> None:
        self.addresses = addresses
        self.published: list[Address] = []
        self.threads: set[str] = set()

    def lookup(self) -> Sequence[Address]:
        self.threads.add(threading.current_thread().name)
        return list(self.addresses)

    def publish(self, address: Address) -> None:
        self.threads.add(threading.current_thread().name)
        self.published.append(address)


def test_discovery_finds_the_group_and_the_leader_publishes() -> None:
    config = attrs.evolve(FAST, join_address_every=1)
    options = DiscoveryOptions(alone_initial=0.1, alone_max=0.2, refresh=0.0)
    store = _Store([])
    with ThreadMember(config, name="a", discovery=store, discovery_options=options) as first:
        store.addresses.append(first.address)
        with ThreadMember(config, name="b", discovery=store, discovery_options=options) as second:
            eventually_blocking(
                lambda: converged([first, second]),
                "the two never found each other through the store",
                timeout=10.0,
            )
            leader = max((first.address, second.address), key=Address.leader_key)
            eventually_blocking(
                lambda: leader in store.published,
                "the store does not hold the leader",
                timeout=10.0,
            )
            assert second.counters()["driver.discovery.lookups"] >= 1
            assert store.threads and all(name.endswith("-store") for name in store.threads)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_after_fork_the_child_cannot_use_the_parents_member() -> None:
    with ThreadMember(FAST) as member:
        with warnings.catch_warnings():  # 3.12+ warns about forking a threaded process
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: no protocol thread; the member must refuse to work
            code = 1
            try:
                try:
                    member.members()
                except RuntimeError as exc:
                    if "fork" in str(exc):
                        member.close()  # a no-op in the child
                        code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert member.running
        assert len(member.members()) == 1


class _FreezesAfterPing(ThreadMember):
    """Once, right after its first ping, its protocol thread wakes a second late.

    The freeze happens at the start of the next pass, after the wait: the peer's ack arrives
    during it, and when the pass goes on every timer is overdue, the probe's too.
    """

    frozen = False
    _freeze_next = False

    def _send(self, to: Address, data: bytes) -> None:
        super()._send(to, data)
        if not self.frozen and isinstance(codec.decode_packet(data).message, Ping):
            self.frozen = self._freeze_next = True

    def _pass(self, core: MemberCore, ready: list[tuple[selectors.SelectorKey, int]]) -> None:
        if self._freeze_next:
            self._freeze_next = False
            time.sleep(1.0)
        super()._pass(core, ready)


def test_a_late_wake_up_reads_waiting_acks_before_timers_fire() -> None:
    with ThreadMember(FAST, name="peer") as peer:
        late = _FreezesAfterPing(FAST, name="late", seeds=[peer.address])
        with late:
            eventually_blocking(
                lambda: late.frozen,
                "the late member's loop never froze",
                timeout=10.0,
            )
            eventually_blocking(
                lambda: late.counters().get("probes_acked", 0) >= 3,
                "the late member stopped probing",
                timeout=10.0,
            )
            counters = late.counters()
        assert counters["driver.late_ticks"] >= 1  # the timers really fired late
        assert counters.get("probes_failed", 0) == 0
        assert counters.get("suspicions", 0) == 0


class _ClosesDuringSend(ThreadMember):
    """A member whose close() lands between send()'s own check and its hand-over to the
    protocol thread: the window another thread's close() hits now and then."""

    def _call(self, function: Any) -> Any:
        with self._lock:
            self._stopping = True
        return super()._call(function)


def test_a_send_racing_close_raises_delivery_error() -> None:
    """``send`` promises ``DeliveryError`` when the sending member stops first; a close()
    from another thread landing between its check and its hand-over raised the protocol
    thread's ``StateError`` instead (10 sends in 24,000 racing close() from four threads)."""
    with ThreadMember(FAST, name="a", leave_on_exit=False) as a:
        member = _ClosesDuringSend(FAST, name="b", seeds=[a.address], leave_on_exit=False)
        member.start()
        try:
            for reliable in (False, True):
                with pytest.raises(DeliveryError, match="this member is closed"):
                    member.send("a", b"x", reliable=reliable)
        finally:
            member.close()
