"""Issue 18 on real hosts: one member of five loses 80% of what it receives (iptables).

Five hosts in network namespaces (``tests/netns/nslib.py``, named ``stab...``) run
``tests/netns/member.py`` (the asyncio driver, a 0.5 s protocol period).  Once the group has
converged, ``iptables -A INPUT -m statistic --mode random --probability 0.8 -j DROP`` on the last
host drops 80% of every packet it receives, datagrams and TCP alike (Rapid's ingress-loss
fault).  For 60 s (120 protocol periods) the four healthy members' events are recorded:

* with the defaults (issue 18's mechanisms on), an application routing on each healthy
  member's reports stops sending to the flaky member and does not send to it again at the end,
  having readmitted it at most once on the way (reported failed or unstable, perhaps back once
  before the damping holds it out), and no healthy member is reported suspect, unstable or
  dead;
* with the mechanisms off (SWIM with Lifeguard, the previous defaults), the same rule makes the
  flaky member flap in the healthy views or the healthy members suspected: the check that the
  rule does what the first case claims to withstand.

The simulator's figures for the same case are in benchmarks/README.md ("Stability under partial
failures"); the ones measured here are printed (``pytest -s``).
"""

from __future__ import annotations

import pathlib
import sys
import time
from collections.abc import Iterator

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "netns"))

import nslib

pytestmark = [pytest.mark.netns, pytest.mark.exclusive]

N = 5
CONFIG = nslib.FAST
OFF = {
    "stability_health_gate": False,
    "stability_accusers": 1,
    "stability_damping": False,
    "stability_suspect_hold": 0.0,
}
WINDOW = 60.0
WAIT = 60.0
CHANGES = (
    "MemberSuspected",
    "MemberAlive",
    "MemberFailed",
    "MemberJoined",
    "MemberLeft",
    "MemberUnstable",
    "MemberStable",
)
BAD_NEWS = ("MemberSuspected", "MemberFailed", "MemberUnstable")


@pytest.fixture(scope="module")
def hosts() -> Iterator[nslib.Hosts]:
    nslib.require()
    with nslib.Hosts(N, prefix="stab") as made:
        yield made


def _changes(observer: nslib.MemberProcess, name: str, since: float) -> list[str]:
    """``observer``'s reports about ``name`` since ``since``, in the order they came."""
    events = [e for kind in CHANGES for e in observer.events_of(kind, name) if e["t"] >= since]
    return [e["event"] for e in sorted(events, key=lambda e: e["t"])]


def _traced(
    process: nslib.MemberProcess, start: str, since: float, about: set[str] | None = None
) -> list[str]:
    """``process``'s core log lines since ``since`` whose message starts with ``start`` (and
    names one of ``about``), each with its time after ``since``."""
    lines = []
    for e in process.events_of("Log"):
        message = e["text"].split("] ", 1)[-1]  # after the node's "[name] "
        if e["t"] < since or not message.startswith(start):
            continue
        if about is None or any(name in message for name in about):
            lines.append(f"+{e['t'] - since:.1f} s {e['text']}")
    return lines


def _routing(changes: list[str]) -> list[bool]:
    """Whether an application that routes on these reports sends to the member, after each
    report that changes it (it starts routed; a suspect is still routed, as ``members()``
    lists it)."""
    routed, flips = True, []
    for event in changes:
        now = routed
        if event in ("MemberFailed", "MemberLeft", "MemberUnstable"):
            now = False
        elif event in ("MemberJoined", "MemberAlive", "MemberStable"):
            now = True
        if now != routed:
            flips.append(now)
        routed = now
    return flips


@pytest.mark.slow  # two minutes of real time: CI's make test-slow runs them
@pytest.mark.parametrize("mechanisms", ["on", "off"])
def test_a_member_losing_most_of_its_input_is_removed_once_and_accuses_no_one(
    hosts: nslib.Hosts, mechanisms: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = {} if mechanisms == "on" else OFF
    group = nslib.start_group(hosts, {**CONFIG, **settings}, WAIT, trace=True)
    with nslib.members(group) as processes:
        flaky, healthy = processes[-1], processes[:-1]
        healthy_names = {p.name for p in healthy}
        try:
            hosts.iptables(
                hosts.n - 1,
                "-A",
                "INPUT",
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                "0.8",
                "-j",
                "DROP",
            )
            since = time.monotonic()
            time.sleep(WINDOW)
            changes = {p.label: _changes(p, flaky.name, since) for p in healthy}
            accused = [
                f"{p.label}: {e['event']} {e['member']}"
                for p in healthy
                for kind in BAD_NEWS
                for e in p.events_of(kind)
                if e["t"] >= since and e.get("member") in healthy_names
            ]
            refuted = {p.label: _traced(p, "refuting", since) for p in healthy}
            missed = {p.label: _traced(p, "probe of", since, healthy_names) for p in healthy}
            withheld = flaky.counters().get("accusations_withheld", 0)
            discounted = {p.label: p.counters().get("flaps_discounted", 0) for p in healthy}
        finally:
            hosts.heal()
    per_minute = {label: len(c) * 60.0 / WINDOW for label, c in changes.items()}
    with capsys.disabled():
        print(
            f"\nnetns stability, mechanisms {mechanisms}: 80% ingress loss on 1 of {N} for "
            f"{WINDOW:.0f} s; changes of the flaky member per healthy observer per minute "
            f"{per_minute}; first changes {dict((k, v[:4]) for k, v in changes.items())}; "
            f"healthy members accused {len(accused)} times {accused[:4]}; the healthy members' "
            f"refutations {refuted}; their failed probes of each other {missed}; accusations "
            f"the flaky member withheld {withheld}; refutations not counted as flaps (their "
            f"accuser not believed) {discounted}"
        )
    if mechanisms == "on":
        # Taken out of routing for good, readmitted at most once on the way: a first death
        # and return leave a penalty below the suppress threshold (the return is reported),
        # the next flap damps it (seen in about one run in four here; the simulator's runs
        # take it out once).
        for label, c in changes.items():
            flips = _routing(c)
            assert flips and flips[-1] is False and len(flips) <= 3, (label, c)
        assert accused == []
    else:
        assert any(len(c) > 2 for c in changes.values()) or accused, (changes, accused)
