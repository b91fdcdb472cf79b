"""Discovery stores against real servers on loopback: HTTP key-value, DNS (A/AAAA/SRV), files."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from discovery_servers import DnsServer, key_value_server

from swimcore import Address
from swimcore.transports.discovery import (
    DiscoveryError,
    DnsStore,
    FileStore,
    HttpStore,
    StaticStore,
    store_from_spec,
)
from swimcore.transports.discovery._base import parse_addresses

A = Address.parse


# ------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1:7946", ["10.0.0.1:7946"]),
        ('"10.0.0.1:7946"', ["10.0.0.1:7946"]),  # a JSON string
        ('["10.0.0.1:1", "[::1]:2"]', ["10.0.0.1:1", "[::1]:2"]),  # a JSON list
        (
            "# comment\n10.0.0.1:1  10.0.0.2:2,10.0.0.3:3;10.0.0.1:1",
            ["10.0.0.1:1", "10.0.0.2:2", "10.0.0.3:3"],
        ),
        ("junk 0.0.0.0:7946 10.0.0.1:0 [::]:1 host:80", []),  # never unroutable or port 0
        ("", []),
    ],
)
def test_address_lists_are_parsed_leniently(text: str, expected: list[str]) -> None:
    assert [str(a) for a in parse_addresses(text)] == expected


# --------------------------------------------------------------------------- static, file


def test_a_static_store_answers_its_list_and_ignores_publish() -> None:
    store = StaticStore(["10.0.0.1:1", A("10.0.0.2:2")])
    store.publish(A("10.0.0.9:9"))
    assert store.lookup() == [A("10.0.0.1:1"), A("10.0.0.2:2")]


def test_a_file_store_reads_lines_and_replaces_the_file_on_publish(tmp_path: Path) -> None:
    path = tmp_path / "join"
    store = FileStore(path)
    assert store.lookup() == []  # no file yet: no join address yet
    store.publish(A("127.0.0.1:7001"))
    assert store.lookup() == [A("127.0.0.1:7001")]
    store.publish(A("[::1]:7002"))
    assert path.read_text() == "[::1]:7002\n"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    path.write_text("# managed by hand\n127.0.0.1:1\nnot an address\n127.0.0.1:2\n")
    read_only = FileStore(path, writable=False)
    read_only.publish(A("127.0.0.1:3"))
    assert read_only.lookup() == [A("127.0.0.1:1"), A("127.0.0.1:2")]


def test_a_file_store_reports_an_unwritable_place(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError):
        FileStore(tmp_path / "missing-dir" / "join").publish(A("127.0.0.1:1"))
    directory = tmp_path / "a-directory"
    directory.mkdir()
    with pytest.raises(DiscoveryError):
        FileStore(directory).lookup()


# ------------------------------------------------------------------------------------ HTTP


def test_http_store_gets_and_puts_under_prefix_and_group() -> None:
    with key_value_server() as server:
        store = HttpStore(server.url + "/kv/{prefix}/{group}", group="blue team", prefix="p")
        assert store.lookup() == []  # 404: nothing stored yet
        store.publish(A("127.0.0.1:7001"))
        assert server.values == {"/kv/p/blue team": "127.0.0.1:7001"}
        assert server.writes[-1][0] == "PUT"
        assert store.lookup() == [A("127.0.0.1:7001")]
        other = HttpStore(server.url + "/kv/{prefix}/{group}", group="green", prefix="p")
        assert other.lookup() == []  # another group, another key


def test_http_store_puts_the_value_in_the_url_when_the_template_asks() -> None:
    with key_value_server() as server:
        store = HttpStore(
            server.url + "/kv/{group}",
            group="g",
            put_url=server.url + "/kv/{group}/value/{value}",
            put_method="post",
        )
        store.publish(A("[::1]:7002"))
        assert server.writes == [("POST", "/kv/g", "[::1]:7002")]
        assert store.lookup() == [A("[::1]:7002")]


def test_http_store_failures_raise_discovery_errors() -> None:
    with key_value_server() as server:
        store = HttpStore(server.url + "/kv/{group}", group="g")
        server.fail_with = 500
        with pytest.raises(DiscoveryError, match="500"):
            store.lookup()
        with pytest.raises(DiscoveryError, match="500"):
            store.publish(A("127.0.0.1:1"))
    # The server is gone: connection refused.
    with pytest.raises(DiscoveryError):
        HttpStore(server.url + "/kv/{group}", group="g", timeout=1.0).lookup()


@pytest.mark.parametrize(
    "template",
    ["ftp://host/{group}", "file:///etc/{group}", "http://host/{nope}", "http://host/{0}"],
)
def test_http_store_rejects_bad_templates(template: str) -> None:
    with pytest.raises(ValueError):
        HttpStore(template, group="g")


# ------------------------------------------------------------------------------------- DNS

ZONE = """
swim.test. 60 IN A 127.0.0.2
swim.test. 60 IN A 127.0.0.1
swim.test. 60 IN AAAA ::1
v4only.test. 60 IN A 127.0.0.7
_swim._udp.swim.test. 60 IN SRV 20 5 7002 node2.swim.test.
_swim._udp.swim.test. 60 IN SRV 10 5 7001 node1.swim.test.
node1.swim.test. 60 IN A 127.0.0.5
node2.swim.test. 60 IN A 127.0.0.6
node2.swim.test. 60 IN AAAA ::1
"""


def test_dns_a_and_aaaa_records_give_addresses_with_the_port() -> None:
    with DnsServer(ZONE) as server:
        store = DnsStore("swim.test", 7946, nameserver=server.address)
        assert store.lookup() == [A("127.0.0.1:7946"), A("127.0.0.2:7946"), A("[::1]:7946")]
        v4 = DnsStore("swim.test", 7946, nameserver=server.address, family="ipv4")
        assert v4.lookup() == [A("127.0.0.1:7946"), A("127.0.0.2:7946")]
        assert DnsStore("v4only.test", 1, nameserver=server.address, family="ipv6").lookup() == []
        assert DnsStore("missing.test", 1, nameserver=server.address).lookup() == []
        assert ("swim.test.", "AAAA") in server.queries


def test_dns_srv_records_give_targets_and_ports_in_priority_order() -> None:
    with DnsServer(ZONE) as server:
        store = DnsStore("_swim._udp.swim.test", srv=True, nameserver=server.address)
        assert store.lookup() == [A("127.0.0.5:7001"), A("127.0.0.6:7002"), A("[::1]:7002")]
        store.publish(A("127.0.0.9:9"))  # read-only: nothing happens
        assert store.lookup()[0] == A("127.0.0.5:7001")


def test_dns_without_an_answering_server_raises_a_discovery_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never answers
        host, port = silent.getsockname()
        store = DnsStore("swim.test", 1, nameserver=f"{host}:{port}", timeout=0.3)
        with pytest.raises(DiscoveryError):
            store.lookup()


def test_dns_store_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="port"):
        DnsStore("swim.test")
    with pytest.raises(ValueError, match="family"):
        DnsStore("swim.test", 1, family="ipx")


# ------------------------------------------------------------------------------------ spec


def test_store_specs_build_every_kind(tmp_path: Path) -> None:
    assert isinstance(store_from_spec("static:127.0.0.1:1,127.0.0.1:2", group="g"), StaticStore)
    assert isinstance(store_from_spec(f"file:{tmp_path / 'j'}", group="g"), FileStore)
    dns = store_from_spec("dns:swim.test:7946@127.0.0.1:53", group="g")
    assert isinstance(dns, DnsStore) and dns.port == 7946 and dns.nameserver == A("127.0.0.1:53")
    srv = store_from_spec("srv:_swim._udp.swim.test", group="g")
    assert isinstance(srv, DnsStore) and srv.srv and srv.nameserver is None
    http = store_from_spec("http://127.0.0.1:9/{prefix}/{group}", group="g", prefix="x")
    assert isinstance(http, HttpStore) and http.get_url == "http://127.0.0.1:9/x/g"


@pytest.mark.parametrize("spec", ["", "nothing", "zookeeper:host", "dns:name", "static:"])
def test_unknown_store_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        store_from_spec(spec, group="g")
