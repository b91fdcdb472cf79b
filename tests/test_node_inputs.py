"""A node's inputs from the application are checked at once, with typed errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from swimcore import Address, AddressError, Config, ConfigError, ExchangeRequest, Node, Send

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


@pytest.mark.parametrize(("value", "kind"), [(5, "int"), ("role=db", "str"), ([1, 2], "list")])
def test_metadata_and_payloads_are_bytes(value: object, kind: str) -> None:
    """``bytes(5)`` would be five zero bytes and ``bytes([1, 2])`` two: refused, not read."""
    with pytest.raises(ConfigError, match=f"meta must be bytes, got {kind}"):
        Node(Config.lan(), HERE, meta=value)  # type: ignore[arg-type]
    node = Node(Config.lan(), HERE, meta=b"role")
    node.start(0.0, [(str(PEER), PEER)])
    wrong: Any = value
    calls: list[tuple[Callable[[], object], str]] = [
        (lambda: node.set_metadata(wrong, 1.0), "metadata"),
        (lambda: node.broadcast("k", wrong, 1.0), "broadcast payload"),
        (lambda: node.send_message(str(PEER), wrong, 1.0), "message payload"),
    ]
    for call, what in calls:
        with pytest.raises(ConfigError, match=f"{what} must be bytes, got {kind}"):
            call()
    local = node.member(node.name)
    assert local is not None and (local.incarnation, local.meta) == (0, b"role")
    assert node.counters().get("messages_sent", 0) == 0


@pytest.mark.parametrize("key", [b"k", 3, "", "\ud800"])
def test_a_broadcast_key_is_a_non_empty_str(key: object) -> None:
    node = Node(Config.lan(), HERE)
    with pytest.raises(ConfigError, match="broadcast key must be a str"):
        node.broadcast(key, b"v", 0.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("hook", ["admit", "admit_merge", "local_state", "merge_state"])
def test_hooks_are_functions(hook: str) -> None:
    with pytest.raises(ConfigError, match=f"{hook} must be a function or None, got 5"):
        Node(Config.lan(), HERE, **{hook: 5})  # type: ignore[arg-type]
    Node(Config.lan(), HERE, **{hook: None})  # type: ignore[arg-type]


#: A lone surrogate, as ``os.fsdecode`` makes of bytes that are not UTF-8: no UTF-8 form.
SURROGATE = "host-\udcff"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Config.lan(label=SURROGATE), "label must be a string"),
        (lambda: Node(Config.lan(), HERE, name=SURROGATE), "name must be"),
    ],
)
def test_text_without_a_utf8_form_is_a_config_error(
    make: Callable[[], object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make()


def test_each_input_returns_a_list_the_node_does_not_keep() -> None:
    """The node hands out a copy of its actions (it keeps one list for its whole life, so
    that a large simulation does not leave a list per input to the garbage collector)."""
    node = Node(Config.lan(), HERE)
    node.start(0.0, [("b", PEER)])
    first = node.tick(2.0)
    assert any(isinstance(a, Send) for a in first)
    first.append(Send(PEER, b"not the node's"))
    later = node.tick(4.0)
    assert later is not first
    assert all(a.data != b"not the node's" for a in later if isinstance(a, Send))
    assert node.tick(4.0) == []
