"""The real-socket suite on the thread driver: convergence, crash, leave, restart, clean stop.

Every member runs on its own protocol thread in this process, on loopback, with the fast
config of ``threaded_support``.  Each test checks that it leaves no thread behind.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
from support.net import ipv6_loopback
from support.poll import eventually_blocking
from threaded_support import (
    FAST,
    Recorder,
    converged,
    new_threads,
    start_cluster,
    stop_all,
)

from swimcore import MemberFailed, MemberJoined, MemberLeft, State
from swimcore.transports import ThreadMember


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    assert new_threads(before) == []


def _state(member: ThreadMember, name: str) -> State | None:
    info = member.member(name)
    return None if info is None else info.state


def test_twenty_members_converge() -> None:
    members = start_cluster(20)
    try:
        eventually_blocking(
            lambda: converged(members),
            "the twenty never converged",
            timeout=30.0,
            step=0.2,
        )
        for member in members:
            assert member.counters()["live_members"] == 20
    finally:
        stop_all(members)


def test_a_crash_is_detected_by_every_survivor() -> None:
    members = start_cluster(6)
    recorder = Recorder()
    try:
        eventually_blocking(lambda: converged(members), "the members never converged")
        survivors, crashed = members[:-1], members[-1]
        for member in survivors:
            recorder.attach(member)
        crashed.close(leave=False)  # no leave: to the group this is a crash
        eventually_blocking(
            lambda: all(_state(m, crashed.name) is State.DEAD for m in survivors),
            "not every survivor declared the crashed member dead",
            timeout=20.0,
        )
        # Callbacks run on each member's delivery thread, after its state changed: wait for
        # them too (asserting at once failed under load, a survivor's event still on its way).
        eventually_blocking(
            lambda: (
                sorted(set(recorder.about(crashed.name, MemberFailed)))
                == sorted(m.name for m in survivors)
            ),
            lambda: f"MemberFailed reported by {recorder.about(crashed.name, MemberFailed)}",
        )
        assert recorder.about(crashed.name, MemberLeft) == []
        for member in survivors:
            assert crashed.name not in [i.name for i in member.members()]
    finally:
        stop_all(members)


def test_a_leave_is_seen_as_left_not_failed() -> None:
    members = start_cluster(5)
    recorder = Recorder()
    try:
        eventually_blocking(lambda: converged(members), "the members never converged")
        stayers, leaver = members[:-1], members[-1]
        for member in stayers:
            recorder.attach(member)
        leaver.close()  # graceful by default
        eventually_blocking(
            lambda: all(_state(m, leaver.name) is State.LEFT for m in stayers),
            "not every stayer saw the leave",
            timeout=10.0,
        )
        eventually_blocking(  # (the callbacks follow the state: see the crash test)
            lambda: (
                sorted(set(recorder.about(leaver.name, MemberLeft)))
                == sorted(m.name for m in stayers)
            ),
            lambda: f"MemberLeft reported by {recorder.about(leaver.name, MemberLeft)}",
        )
        assert recorder.about(leaver.name, MemberFailed) == []
    finally:
        stop_all(members)


def test_a_restart_on_the_same_address_with_a_higher_incarnation() -> None:
    members = start_cluster(4)
    recorder = Recorder()
    restarted: ThreadMember | None = None
    try:
        eventually_blocking(lambda: converged(members), "the members never converged")
        others, old = members[:-1], members[-1]
        for member in others:
            recorder.attach(member)
        address, name, incarnation = old.address, old.name, old.incarnation
        old.close(leave=False)
        eventually_blocking(
            lambda: all(_state(m, name) is State.DEAD for m in others),
            "not every member declared the stopped one dead",
            timeout=20.0,
        )
        restarted = ThreadMember(
            FAST, address, name=name, seeds=[others[0].address], incarnation=incarnation + 1
        )
        restarted.start()
        assert restarted.address == address

        def back(member: ThreadMember) -> bool:
            info = member.member(name)
            return info is not None and info.state is State.ALIVE and info.incarnation > incarnation

        eventually_blocking(
            lambda: all(back(m) for m in others),
            "not every member took the restarted one back",
            timeout=15.0,
        )
        # Each reports the return, unless flap damping holds it out: a member that refuted a
        # suspicion (a loaded machine stalls these 0.3 s periods) and then came back from
        # the dead within a minute is readmitted by MemberStable once quiet, and counts that.
        joined = set(recorder.about(name, MemberJoined))
        held = {m.name for m in others if m.counters().get("events_damped", 0)}
        assert joined | held == {m.name for m in others}, (joined, held)
    finally:
        stop_all(members + ([restarted] if restarted is not None else []))


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_close_joins_every_thread_and_closes_every_socket() -> None:
    before = _open_descriptors()
    members = start_cluster(3)
    names = [m.name for m in members]
    try:
        eventually_blocking(lambda: converged(members), "the members never converged")
        members[0].on_event(lambda event: None)  # starts the delivery thread as well
        members[0].events()
        threads = [t.name for t in threading.enumerate()]
        assert f"swimcore-{names[0]}" in threads
        assert f"swimcore-{names[0]}-events" in threads
    finally:
        for member in members:
            member.close()  # graceful leave, then stop
    assert not any(t.name.startswith("swimcore-") for t in threading.enumerate())
    assert all(not m.running for m in members)
    assert _open_descriptors() == before
    members[0].close()  # closing twice is harmless


def test_a_port_in_use_fails_at_start_in_the_callers_thread() -> None:
    with ThreadMember(FAST) as first:
        taken = ThreadMember(FAST, first.address)
        with pytest.raises(OSError):
            taken.start()
        assert not taken.running
        assert len(first.members()) == 1


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
def test_members_on_ipv6_loopback_join_over_tcp_and_probe_over_udp() -> None:
    members = start_cluster(3, bind="[::1]:0")
    try:
        eventually_blocking(
            lambda: converged(members),
            "the ::1 members never converged",
            timeout=15.0,
        )
        assert all(m.address.ip.version == 6 for m in members)
        assert members[1].counters()["driver.exchange.completed_out"] >= 1
    finally:
        stop_all(members)
