"""Addresses: parsing, formatting, errors, and the leader ordering."""

from __future__ import annotations

import ipaddress
import pickle

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from swimcore import Address, AddressError


@pytest.mark.parametrize(
    ("text", "ip", "port"),
    [
        ("10.0.0.1:7946", "10.0.0.1", 7946),
        ("127.0.0.1:0", "127.0.0.1", 0),
        ("255.255.255.255:65535", "255.255.255.255", 65535),
        ("[::1]:7946", "::1", 7946),
        ("[fe80::1:2]:1", "fe80::1:2", 1),
        ("[2001:db8::]:80", "2001:db8::", 80),
    ],
)
def test_parse(text: str, ip: str, port: int) -> None:
    address = Address.parse(text)
    assert address.ip == ipaddress.ip_address(ip)
    assert address.port == port
    assert str(address) == text
    assert Address.parse(str(address)) == address


def test_ipv6_is_printed_in_brackets_and_compressed() -> None:
    assert str(Address("2001:0db8:0000::0001", 53)) == "[2001:db8::1]:53"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("10.0.0.1", "IP:PORT"),
        (":7946", "IP:PORT"),
        ("", "IP:PORT"),
        ("::1:7946", "brackets"),
        ("10.0.0.1:http", "not a number"),
        ("10.0.0.1:", "not a number"),
        ("10.0.0.1:65536", "port"),
        ("10.0.0.1:-1", "port"),
        ("localhost:7946", "not an IP address"),
        ("10.0.0.256:1", "not an IP address"),
        ("[10.0.0.1:1", "not an IP address"),
        ("[::g]:1", "not an IP address"),
    ],
)
def test_parse_errors_say_why(text: str, reason: str) -> None:
    with pytest.raises(AddressError, match=reason):
        Address.parse(text)


def test_address_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Address.parse("nope")


@pytest.mark.parametrize("port", [-1, 65536, 10**6, "80", 80.5, True, None])
def test_constructor_checks_the_port(port: object) -> None:
    with pytest.raises(AddressError, match="port"):
        Address("10.0.0.1", port)  # type: ignore[arg-type]


def test_constructor_rejects_a_non_ip_with_a_typed_error() -> None:
    with pytest.raises(AddressError, match="not an IP address"):
        Address("example.org", 1)


@pytest.mark.parametrize(
    ("text", "unspecified"),
    [("0.0.0.0:1", True), ("[::]:1", True), ("10.0.0.1:1", False), ("[::1]:1", False)],
)
def test_unspecified(text: str, unspecified: bool) -> None:
    assert Address.parse(text).is_unspecified is unspecified


def test_addresses_are_values() -> None:
    assert Address.parse("10.0.0.1:1") == Address("10.0.0.1", 1)
    assert len({Address.parse("10.0.0.1:1"), Address("10.0.0.1", 1)}) == 1


@pytest.mark.parametrize(
    ("higher", "lower"),
    [
        # Big-endian: the third octet outweighs the fourth (zgroup compared little-endian).
        ("10.0.1.1:7946", "10.0.0.2:7946"),
        ("10.1.0.0:7946", "10.0.255.255:7946"),
        ("11.0.0.0:1", "10.255.255.255:65535"),
        ("192.168.0.1:1", "10.0.0.1:1"),
        # Equal IPs: the port breaks the tie.
        ("10.0.0.1:7947", "10.0.0.1:7946"),
        # Within IPv6, likewise big-endian, then port.
        ("[::1:0]:1", "[::ffff]:1"),
        ("[::1]:2", "[::1]:1"),
        # IPv6 ranks above IPv4 (documented).
        ("[::1]:1", "255.255.255.255:65535"),
    ],
)
def test_leader_ordering(higher: str, lower: str) -> None:
    assert Address.parse(higher).leader_key() > Address.parse(lower).leader_key()


def test_leader_ordering_is_total_and_matches_a_sort() -> None:
    texts = ["10.0.0.2:1", "10.0.1.1:1", "10.0.0.10:1", "10.0.0.2:2", "9.255.0.0:9"]
    ranked = sorted((Address.parse(t) for t in texts), key=Address.leader_key)
    assert [str(a) for a in ranked] == [
        "9.255.0.0:9",
        "10.0.0.2:1",
        "10.0.0.2:2",
        "10.0.0.10:1",
        "10.0.1.1:1",
    ]


_ips = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6))


@given(_ips, st.integers(0, 65535), _ips, st.integers(0, 65535))
def test_equality_and_hash_follow_the_ip_and_port(
    ip_a: ipaddress.IPv4Address | ipaddress.IPv6Address,
    port_a: int,
    ip_b: ipaddress.IPv4Address | ipaddress.IPv6Address,
    port_b: int,
) -> None:
    # Addresses compare by a packed key made once; it must agree with the fields it packs.
    a, b = Address(ip_a, port_a), Address(str(ip_b), port_b)
    same = ip_a == ip_b and port_a == port_b
    assert (a == b) is same
    assert (a != b) is not same
    if same:
        assert hash(a) == hash(b)
    assert a == Address(str(ip_a), port_a)
    assert a.is_unspecified is ip_a.is_unspecified
    assert a.leader_key() == (ip_a.version, int(ip_a), port_a)


def test_an_ipv4_mapped_ipv6_address_is_not_the_ipv4_address() -> None:
    assert Address("::ffff:10.0.0.1", 1) != Address("10.0.0.1", 1)
    assert len({Address("::ffff:10.0.0.1", 1), Address("10.0.0.1", 1)}) == 2


def test_addresses_survive_pickling_and_evolve() -> None:
    a = Address("10.0.0.1", 7946)
    assert pickle.loads(pickle.dumps(a)) == a
    moved = attrs.evolve(a, port=1)
    assert moved == Address("10.0.0.1", 1)
    assert moved.leader_key() == (4, int(ipaddress.ip_address("10.0.0.1")), 1)
    assert a != "10.0.0.1:7946"
