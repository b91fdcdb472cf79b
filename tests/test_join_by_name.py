"""Join addresses given as host names: resolved at every attempt, every address tried.

memberlist's ``Join`` resolves names and tries each address; a Kubernetes headless service is
the common case.  Here ``localhost`` stands for it (it resolves to 127.0.0.1 and often ::1 as
well, where no member listens: that address fails and the other one is joined).
"""

from __future__ import annotations

import socket

import pytest
from support.poll import eventually_blocking
from test_run_cli_processes import Process

from swimcore import Address
from swimcore.cli import main
from swimcore.transports.discovery import DiscoveryError, HostStore, store_from_spec


def test_a_host_store_resolves_every_address_of_every_name() -> None:
    store = HostStore(["localhost:7946", "127.0.0.2:7000"])
    found = store.lookup()
    expected = set()
    for *_, sockaddr in socket.getaddrinfo("localhost", 7946, type=socket.SOCK_DGRAM):
        host = sockaddr[0]
        assert isinstance(host, str)  # an IPv4 or IPv6 socket address
        expected.add(Address.parse(f"[{host}]:7946" if ":" in host else f"{host}:7946"))
    assert set(found) == expected | {Address.parse("127.0.0.2:7000")}
    assert len(found) == len(set(found))


def test_a_host_store_resolves_again_at_each_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["127.0.0.5", "127.0.0.6"])

    def resolve(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        return [(socket.AF_INET, socket.SOCK_DGRAM, 0, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    store = HostStore(["swim.example:7946"])
    assert store.lookup() == [Address.parse("127.0.0.5:7946")]
    assert store.lookup() == [Address.parse("127.0.0.6:7946")]  # the member moved


def test_a_name_that_does_not_resolve_is_a_discovery_error() -> None:
    with pytest.raises(DiscoveryError, match="cannot resolve"):
        HostStore(["no-such-host.invalid:7946"]).lookup()


def test_the_hosts_spec_builds_a_host_store() -> None:
    store = store_from_spec("hosts:localhost:1,localhost:2", group="g")
    assert isinstance(store, HostStore)
    assert store.entries == (("localhost", 1), ("localhost", 2))


def test_a_join_address_without_a_port_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "g", "127.0.0.1:0", "localhost"]) == 2
    assert "JOIN_ADDR" in capsys.readouterr().err


def test_swimcore_run_joins_through_localhost() -> None:
    fast = ["--preset", "local", "--print-every", "0.3", "--duration", "30"]
    first = Process("g", "127.0.0.1:0", "127.0.0.1:0", *fast)
    second = None
    try:
        eventually_blocking(lambda: first.address is not None, lambda: first.err, timeout=20)
        assert first.address is not None
        second = Process("g", "127.0.0.1:0", f"localhost:{first.address.port}", *fast,
                         "--set", "join_retry_interval=0.3")  # fmt: skip
        pair = (first, second)
        eventually_blocking(
            lambda: all(p.member_count() == 2 for p in pair), lambda: pair[1].err, timeout=30
        )
    finally:
        codes = [p.stop() for p in (first, second) if p is not None]
    assert codes == [0, 0]
