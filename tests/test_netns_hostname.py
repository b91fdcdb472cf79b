"""Joining by host name where the name exists in one network namespace only.

Two hosts (``tests/netns/nslib.py``, namespaces named ``kvgo...``): a seed on 10.77.0.1 and a
joiner on 10.77.0.2 given ``seed.swim.test:PORT``, a name that only the joiner's ``/etc/hosts``
holds (``ip netns exec`` bind-mounts ``/etc/netns/<namespace>/hosts`` over it), as a Kubernetes
headless service exists only in the cluster's DNS.

* The asyncio driver (``tests/netns/member.py``): the name first points where nothing listens
  (127.0.0.9) and the joiner stays alone, retrying; the hosts file is then rewritten in place
  to give the name two addresses, one with no host behind it (10.77.0.3) and the seed's.  The
  next attempt resolves the name again, tries both addresses and joins through the seed's.
* The command line: ``swimcore run g 10.77.0.2:PORT seed.swim.test:PORT`` inside the namespace.
"""

from __future__ import annotations

import json
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from support.poll import eventually_blocking
from test_run_cli_processes import Process

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "netns"))

import nslib

pytestmark = [pytest.mark.netns, pytest.mark.exclusive]

NAME = "seed.swim.test"  # .test: reserved (RFC 6761), never in a real DNS
CONFIG = {"probe_interval": 0.5, "probe_timeout": 0.25, "join_retry_interval": 0.3}
WAIT = 30.0


@pytest.fixture(scope="module")
def hosts() -> Iterator[nslib.Hosts]:
    nslib.require()
    with nslib.Hosts(2, prefix="kvgo") as made:
        yield made
    assert not (nslib.ETC_NETNS / made.names[1]).exists(), "the hosts file outlived its host"


def _resolves_inside(hosts: nslib.Hosts, i: int) -> list[str]:
    """What ``NAME`` resolves to for a process in host ``i``."""
    done = subprocess.run([*hosts.exec_prefix(i), "getent", "ahostsv4", NAME],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return list(dict.fromkeys(line.split()[0] for line in done.stdout.splitlines()))


def test_the_name_resolves_in_the_joiners_namespace_only(hosts: nslib.Hosts) -> None:
    hosts.etc_hosts(1, [(hosts.addresses[0], NAME)])
    assert _resolves_inside(hosts, 1) == [hosts.addresses[0]]
    assert _resolves_inside(hosts, 0) == []
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo(NAME, nslib.PORT)


def test_the_asyncio_driver_resolves_the_name_at_every_attempt(hosts: nslib.Hosts) -> None:
    port = nslib.PORT
    hosts.etc_hosts(1, [("127.0.0.9", NAME)])  # nothing listens there: refused at once
    config = ["--preset", "local", "--config", json.dumps(CONFIG)]
    seed = nslib.MemberProcess([*config, "--bind", f"{hosts.addresses[0]}:{port}"],
                               hosts.exec_prefix(0), label="seed")  # fmt: skip
    with nslib.members([seed]):
        joiner = nslib.MemberProcess(
            [*config, "--bind", f"{hosts.addresses[1]}:{port}", "--seeds", f"{NAME}:{port}"],
            hosts.exec_prefix(1), label="joiner",
        )  # fmt: skip
        with nslib.members([joiner]):
            nowhere = f"127.0.0.9:{port}"
            nslib.wait_until(lambda: joiner.events_of("JoinResult"), WAIT)
            assert joiner.members() == [joiner.name]
            assert {e["seed"] for e in joiner.events_of("JoinFailed")} == {nowhere}
            # Two addresses for the name now; the first has no host behind it.
            dead = f"{nslib.SUBNET}.3:{port}"
            hosts.etc_hosts(1, [(f"{nslib.SUBNET}.3", NAME), (hosts.addresses[0], NAME)])
            since = time.monotonic()
            both = sorted([seed.name, joiner.name])
            took = nslib.wait_until(
                lambda: joiner.members() == both and seed.members() == both, WAIT
            )
            # Joined after the change (the seed does not know the joiner: only the name's new
            # entry can have led there), and the address without a host was tried too.
            assert [e["t"] >= since for e in joiner.events_of("MemberJoined", seed.name)] == [True]
            nslib.wait_until(
                lambda: any(e["seed"] == dead for e in joiner.events_of("JoinFailed")), WAIT
            )
            print(f"\njoined through {NAME} {took:.1f} s after the hosts file changed")


def test_swimcore_run_joins_a_name_from_the_namespaces_hosts_file(hosts: nslib.Hosts) -> None:
    port = nslib.PORT + 1
    hosts.etc_hosts(1, [(hosts.addresses[0], NAME)])
    fast = ["--preset", "local", "--print-every", "0.3", "--duration", "60",
            "--set", "join_retry_interval=0.3"]  # fmt: skip
    at = f"{hosts.addresses[0]}:{port}"
    seed = Process("g", at, at, *fast, prefix=hosts.exec_prefix(0))  # its own: a new group
    joiner = None
    try:
        eventually_blocking(lambda: seed.address is not None, lambda: seed.err, timeout=WAIT)
        joiner = Process("g", f"{hosts.addresses[1]}:{port}", f"{NAME}:{port}", *fast,
                         prefix=hosts.exec_prefix(1))  # fmt: skip
        pair = (seed, joiner)
        eventually_blocking(
            lambda: all(p.member_count() == 2 for p in pair), lambda: pair[1].err, timeout=WAIT
        )
        assert any(f"joining through {at}" in line for line in joiner.err), joiner.err
    finally:
        codes = [p.stop() for p in (seed, joiner) if p is not None]
    assert codes == [0, 0]
