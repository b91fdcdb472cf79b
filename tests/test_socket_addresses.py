"""Peers' socket addresses, converted once per process and within a bound."""

from __future__ import annotations

import pytest

from swimcore import Address
from swimcore.transports import sockets
from swimcore.transports.sockets import sockaddr, source_address


def test_senders_become_addresses_and_strangers_none() -> None:
    assert source_address(("127.0.0.1", 7946)) == Address("127.0.0.1", 7946)
    assert source_address(("::1", 7946, 0, 0)) == Address("::1", 7946)
    assert source_address(("::ffff:10.0.0.2", 80, 0, 0)) == Address("10.0.0.2", 80)
    assert source_address(("not an ip", 1)) is None
    assert source_address(("127.0.0.1", 70000)) is None
    assert source_address(()) is None
    assert sockaddr(Address("::1", 9)) == ("::1", 9)


def test_one_conversion_serves_every_member_of_the_process() -> None:
    first = source_address(("127.0.0.1", 40001))
    assert first is not None
    assert source_address(("127.0.0.1", 40001)) is first
    assert sockaddr(first) is sockaddr(Address("127.0.0.1", 40001))


def test_the_memos_stay_bounded_and_correct_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sockets, "_ADDRESS_MEMO_SIZE", 4)
    monkeypatch.setattr(sockets, "_SOURCES", {})
    monkeypatch.setattr(sockets, "_TARGETS", {})
    for port in range(1000, 1040):
        address = source_address(("127.0.0.1", port))
        assert address == Address("127.0.0.1", port)
        assert sockaddr(address) == ("127.0.0.1", port)
        assert len(sockets._SOURCES) <= 4
        assert len(sockets._TARGETS) <= 4
