"""Why the thread driver exists: a member whose application is busy keeps its place in the group.

Each test runs the member under test (the *subject*) in a process of its own
(``threaded_subject.py``) and five peers on the thread driver in the test process, all on
loopback.  The peers record every suspicion and death of the subject.

* The subject's application event loop (asyncio, then trio) is blocked by a busy loop while its
  protocol runs on the thread driver: no peer may suspect it.
* The same stall on the plain asyncio driver is reported for comparison: suspicions and deaths
  are expected there (asserted only to be more than zero).
* A pure-Python thread holding the GIL in the subject's process, default LAN preset: no peer may
  suspect it; the worst probe round trip the peers saw is reported.

The default runs stall for 5 s; the 15 s stalls of the issue run with SWIMCORE_SLOW=1.  Numbers
are printed (``pytest -s``) and recorded as junit properties, never asserted as timings.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable, Iterator

import attrs
import pytest
from support.poll import eventually_blocking
from threaded_support import (
    STALL,
    ProbeTimer,
    Recorder,
    Subject,
    new_threads,
    percentile,
    stop_all,
    suspicions_and_deaths,
)

from swimcore import Config, MemberFailed, MemberSuspected
from swimcore.transports import ThreadMember

PEERS = 5
HAS_AIO = importlib.util.find_spec("swimcore.transports.asyncio") is not None
STALL_FIELDS = {
    "probe_interval": STALL.probe_interval,
    "probe_timeout": STALL.probe_timeout,
    "gossip_interval": STALL.gossip_interval,
    "push_pull_interval": STALL.push_pull_interval,
    "join_retry_interval": STALL.join_retry_interval,
}

#: pytest's ``record_property`` fixture: a named figure for the test report.
Record = Callable[[str, object], None]


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    assert new_threads(before) == []


def _peers(config: Config, member_class: type[ThreadMember] = ThreadMember) -> list[ThreadMember]:
    peers: list[ThreadMember] = []
    try:
        for i in range(PEERS):
            seeds = [peers[0].address] if peers else []
            peer = member_class(config, name=f"peer{i}", seeds=seeds)
            peer.start()
            peers.append(peer)
    except BaseException:
        stop_all(peers)
        raise
    return peers


def _everyone_sees(peers: list[ThreadMember], subject: Subject) -> bool:
    def alive(peer: ThreadMember) -> bool:
        info = peer.member(subject.name)
        return info is not None and info.state.name == "ALIVE" and len(peer.members()) == 6

    return all(alive(p) for p in peers) and subject.ask("members")["members"] == PEERS + 1


@attrs.frozen
class StallResult:
    driver: str
    stalled: float
    suspicions: int
    deaths: int
    incarnation: int
    suspected_by: tuple[str, ...]


def _stall(driver: str, seconds: float) -> StallResult:
    peers = _peers(STALL)
    recorder = Recorder()
    for peer in peers:
        recorder.attach(peer)
    subject = Subject.launch(driver, peers[0].address, STALL_FIELDS)
    try:
        eventually_blocking(
            lambda: _everyone_sees(peers, subject),
            "the peers never saw the subject",
            timeout=20.0,
            step=0.2,
        )
        recorder.clear()
        stalled = subject.ask(f"stall {seconds}", timeout=seconds + 60)["stalled"]
        # Long enough for a suspicion raised at the end of the stall to run its course.
        time.sleep(3 * STALL.probe_interval)
        suspicions, deaths = suspicions_and_deaths(recorder, subject.name)
        suspected_by = tuple(sorted(set(recorder.about(subject.name, MemberSuspected))))
        final = subject.stop()
    finally:
        subject.kill()
        stop_all(peers)
    return StallResult(driver, stalled, suspicions, deaths, final["incarnation"], suspected_by)


def _report(record: Record, result: StallResult) -> None:
    print(
        f"\nstall of {result.stalled:.1f} s, driver {result.driver}: "
        f"{result.suspicions} suspicions, {result.deaths} deaths "
        f"(by {', '.join(result.suspected_by) or 'no one'}); "
        f"subject incarnation afterwards {result.incarnation}"
    )
    for key in ("stalled", "suspicions", "deaths", "incarnation"):
        record(f"{result.driver}.{key}", getattr(result, key))


@pytest.mark.parametrize("driver", ["thread-asyncio", "thread-trio"])
def test_a_stalled_loop_on_the_thread_driver_is_never_suspected(
    driver: str, record_property: Record
) -> None:
    result = _stall(driver, 5.0)
    _report(record_property, result)
    assert result.stalled >= 5.0
    assert result.suspected_by == ()
    assert (result.suspicions, result.deaths) == (0, 0)


@pytest.mark.slow  # a control, not a property of this driver (the 15 s stall runs it too)
@pytest.mark.skipif(not HAS_AIO, reason="the asyncio driver is not there")
def test_the_same_stall_on_the_plain_asyncio_driver_for_comparison(
    record_property: Record,
) -> None:
    result = _stall("asyncio", 5.0)
    _report(record_property, result)
    # What the thread driver avoids: a blocked loop answers no probe, so peers suspect it.
    assert result.suspicions + result.deaths > 0


@pytest.mark.slow
@pytest.mark.parametrize("driver", ["thread-asyncio", "thread-trio", "asyncio"])
def test_a_fifteen_second_stall(driver: str, record_property: Record) -> None:
    if driver == "asyncio" and not HAS_AIO:
        pytest.skip("swimcore.transports.asyncio (the asyncio driver) is not there")
    result = _stall(driver, 15.0)
    _report(record_property, result)
    if driver == "asyncio":
        assert result.suspicions + result.deaths > 0
    else:
        assert (result.suspicions, result.deaths) == (0, 0)


def _cpu_bound(seconds: float, record: Record) -> None:
    lan = Config.lan()
    peers = _peers(lan, ProbeTimer)
    recorder = Recorder()
    for peer in peers:
        recorder.attach(peer)
    subject = Subject.launch("thread", peers[0].address, {"preset": "lan"})
    try:
        for peer in peers:
            assert isinstance(peer, ProbeTimer)
            peer.watch = subject.address
        eventually_blocking(
            lambda: _everyone_sees(peers, subject),
            "the peers never saw the subject",
            timeout=30.0,
            step=0.2,
        )
        recorder.clear()
        for peer in peers:
            assert isinstance(peer, ProbeTimer)
            peer.round_trips.clear()
        spun = subject.ask(f"spin {seconds}", timeout=seconds + 60)
        final = subject.stop()
    finally:
        subject.kill()
        stop_all(peers)
    trips = [t for p in peers if isinstance(p, ProbeTimer) for t in p.round_trips]
    suspicions, deaths = suspicions_and_deaths(recorder, subject.name)
    subject_suspected_others = final["counters"].get("suspicions", 0)
    worst = max(trips, default=float("nan"))
    print(
        f"\nCPU-bound thread for {spun['spun']:.1f} s ({spun['loops']:,} loops), LAN preset: "
        f"{len(trips)} probes of the subject, round trip median "
        f"{percentile(trips, 0.5) * 1000:.1f} ms, p99 {percentile(trips, 0.99) * 1000:.1f} ms, "
        f"worst {worst * 1000:.1f} ms; suspicions of it {suspicions}, deaths {deaths}; "
        f"suspicions the subject raised {subject_suspected_others}; late ticks "
        f"{final['counters'].get('driver.late_ticks', 0)}"
    )
    record("cpu.worst_round_trip_ms", round(worst * 1000, 1))
    record("cpu.probes", len(trips))
    record("cpu.suspicions", suspicions)
    assert spun["loops"] > 0
    assert trips, "the peers timed no probe of the subject"
    assert recorder.about(subject.name, MemberSuspected) == []
    assert recorder.about(subject.name, MemberFailed) == []


def test_a_cpu_bound_thread_causes_no_false_suspicion(record_property: Record) -> None:
    _cpu_bound(8.0, record_property)


@pytest.mark.slow
def test_a_cpu_bound_thread_for_a_minute(record_property: Record) -> None:
    _cpu_bound(60.0, record_property)
