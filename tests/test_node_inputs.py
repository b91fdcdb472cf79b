"""A node's inputs from the application are checked at once, with typed errors."""

from __future__ import annotations

import pytest

from swimcore import Address, AddressError, Config, ConfigError, ExchangeRequest, Node

HERE = Address("127.0.0.1", 7001)
PEER = Address("127.0.0.1", 7002)


def test_join_takes_a_list_of_addresses() -> None:
    node = Node(Config.lan(), HERE)
    (request,) = [a for a in node.join((PEER,), 0.0) if isinstance(a, ExchangeRequest)]
    assert request.to == PEER


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        # A single string would otherwise be read as one seed per character.
        ("127.0.0.1:7002", "single value"),
        (PEER, "single value"),
        (["127.0.0.1:7002"], "Address.parse"),
        ([PEER, ("127.0.0.1", 7003)], "Address.parse"),
    ],
)
def test_join_refuses_what_is_not_a_list_of_addresses(seeds: object, message: str) -> None:
    node = Node(Config.lan(), HERE)
    with pytest.raises(AddressError, match=message):
        node.join(seeds, 0.0)  # type: ignore[arg-type]
    assert node.counters().get("exchanges_requested", 0) == 0


@pytest.mark.parametrize("member", [("b", "127.0.0.1:7002"), (7, PEER), ("b", None)])
def test_start_refuses_members_that_are_not_name_and_address_pairs(member: object) -> None:
    node = Node(Config.lan(), HERE)
    with pytest.raises(AddressError, match="pairs"):
        node.start(0.0, [(str(PEER), PEER), member])  # type: ignore[list-item]
    # Nothing was taken: not the good pair before the bad one, nor the start itself.
    assert [m.name for m in node.all_members()] == [node.name]
    assert node.next_deadline() is None


@pytest.mark.parametrize("incarnation", [1.5, "1", True, -1, 2**33])
def test_the_incarnation_is_an_integer_in_range(incarnation: object) -> None:
    with pytest.raises(ConfigError, match="incarnation must be an integer"):
        Node(Config.lan(), HERE, incarnation=incarnation)  # type: ignore[arg-type]
