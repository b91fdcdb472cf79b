"""The tuner's detection prediction against real sockets in network namespaces, same loss.

A small LAN: five hosts on one bridge (``tests/netns/nslib.py``), each running one real member
process (``tests/netns/member.py``, the asyncio driver), with 5% of every host's incoming UDP
dropped by iptables.  ``swimcore tune`` is asked for that deployment (5 members, 0.1 ms round
trips, 5% loss, no stalls; every member should know of a crash within 4 s) and its recommended
config runs on the hosts.  Then, repeatedly, one member process is SIGKILLed and the time until
every other member has declared it dead is measured (the members report ``time.monotonic()``,
shared by every namespace of the host); a new process with a new name takes the dead one's
address and the group converges again before the next kill.

The default run kills three times and checks every kill is detected by every survivor with no
live member declared dead; the comparison with the prediction is printed (timings are reported,
never asserted).  The slow variant kills 20 times; its output is what benchmarks/README.md
records.  Skips, saying why, where namespaces cannot be made; fails instead under ``CI`` or
``SWIMCORE_REQUIRE_NETNS=1``.
"""

from __future__ import annotations

import json
import pathlib
import random
import statistics
import sys
import time
from collections.abc import Iterator

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "netns"))

import nslib

from swimcore.transports.sim.tuning.model import Goals, NetworkModel
from swimcore.transports.sim.tuning.search import TuneRequest, TuneResult, tune

pytestmark = [pytest.mark.netns, pytest.mark.exclusive]

HOSTS = 5
LOSS = 0.05
WAIT = 60.0


def prediction() -> TuneResult:
    network = NetworkModel(rtt=0.0001, rtt_spread=0.0001, loss=LOSS)
    request = TuneRequest(
        nodes=HOSTS, network=network, goals=Goals(detect_within=4.0), seeds=8, seed=1
    )
    return tune(request)


class Cluster:
    """One member process per host; ``replace`` puts a fresh process at a host's address."""

    def __init__(self, hosts: nslib.Hosts, config: dict[str, object]) -> None:
        self.hosts = hosts
        self.config = json.dumps(config)
        self.round = 0
        self.processes: list[nslib.MemberProcess] = []
        for i in range(hosts.n):
            self.processes.append(self._start(i, wait=False))
        for process in self.processes:
            process.wait_ready()

    def _start(self, i: int, *, wait: bool) -> nslib.MemberProcess:
        args = ["--bind", f"{self.hosts.addresses[i]}:{nslib.PORT}", "--preset", "lan",
                "--config", self.config, "--name", f"h{i}-r{self.round}"]  # fmt: skip
        seeds = [f"{a}:{nslib.PORT}" for j, a in enumerate(self.hosts.addresses) if j != i]
        args += ["--seeds", ",".join(seeds)]
        return nslib.MemberProcess(args, self.hosts.exec_prefix(i), label=f"h{i}", wait=wait)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.processes)

    def converge(self) -> None:
        expected = self.names()
        nslib.wait_until(lambda: all(p.members() == expected for p in self.processes), WAIT, 0.1)

    def replace(self, i: int) -> None:
        self.round += 1
        self.processes[i].stop()
        self.processes[i] = self._start(i, wait=True)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


def measure(hosts: nslib.Hosts, config: dict[str, object], kills: int) -> list[float]:
    """Seconds from each SIGKILL until every other member declared the victim dead."""
    cluster = Cluster(hosts, config)
    rng = random.Random(7)
    times: list[float] = []
    try:
        cluster.converge()
        hosts.lose(LOSS)
        time.sleep(2.0)  # let probing settle under loss before the first kill
        for _ in range(kills):
            i = rng.randrange(hosts.n)
            victim = cluster.processes[i]
            others = [p for p in cluster.processes if p is not victim]
            killed = time.monotonic()
            victim.kill()
            nslib.wait_until(
                lambda v=victim, o=others: all(p.events_of("MemberFailed", v.name) for p in o),
                WAIT,
                0.05,
            )
            times.append(
                max(p.events_of("MemberFailed", victim.name)[0]["t"] for p in others) - killed
            )
            false = [
                (p.name, e["member"])
                for p in others
                for e in p.events_of("MemberFailed")
                if e["member"] in {q.name for q in others}
            ]
            assert false == [], f"a live member was declared dead: {false}"
            cluster.replace(i)
            cluster.converge()
    finally:
        cluster.stop()
        hosts.heal()
    return times


@pytest.fixture(scope="module")
def hosts() -> Iterator[nslib.Hosts]:
    nslib.require()
    with nslib.Hosts(HOSTS) as made:
        yield made


@pytest.mark.parametrize(
    "kills", [pytest.param(3, id="3kills"), pytest.param(20, id="20kills", marks=pytest.mark.slow)]
)
def test_predicted_detection_time_against_real_sockets(
    hosts: nslib.Hosts, capsys: pytest.CaptureFixture[str], kills: int
) -> None:
    result = prediction()
    best = result.recommended
    assert best.meets
    times = measure(hosts, best.candidate.changes(), kills)
    assert len(times) == kills
    p = best.prediction
    ordered = sorted(times)
    with capsys.disabled():
        print(
            f"\nnetns tune: {HOSTS} hosts, {LOSS:.0%} UDP loss by iptables, config "
            f"{best.candidate.python()}\n"
            f"| | detection p50 (s) | detection p99 (s) | crashes |\n|---|---|---|---|\n"
            f"| tuner (simulated, {result.request.seeds} seeds) | {p.detect_median.value:.2f} "
            f"({p.detect_median.low:.2f}-{p.detect_median.high:.2f}) | {p.detect_p99.value:.2f} "
            f"({p.detect_p99.low:.2f}-{p.detect_p99.high:.2f}) | {p.crashes} |\n"
            f"| real sockets, namespaces | {statistics.median(times):.2f} "
            f"(min {ordered[0]:.2f}) | {ordered[-1]:.2f} (max) | {kills} |"
        )
