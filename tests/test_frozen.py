"""swimcore._frozen: a frozen value made with its slots set directly is the constructor's."""

from __future__ import annotations

import attrs
import pytest

from swimcore import Address, Send
from swimcore._frozen import new, slot_setters
from swimcore.messages import Alive, Ping


def test_a_value_made_directly_is_the_one_its_constructor_makes() -> None:
    set_to, set_data = slot_setters(Send, "to", "data")
    send = new(Send)
    set_to(send, Address("10.1.2.3", 7946))
    set_data(send, b"datagram")
    expected = Send(Address("10.1.2.3", 7946), b"datagram")
    assert send == expected
    assert hash(send) == hash(expected)
    assert repr(send) == repr(expected)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        send.data = b"other"  # type: ignore[misc]


def test_the_setters_are_asked_for_every_field_in_order() -> None:
    assert len(slot_setters(Alive, "name", "address", "incarnation", "meta")) == 4
    with pytest.raises(TypeError, match="fields"):
        slot_setters(Ping, "seq", "target")  # one left unset
    with pytest.raises(TypeError, match="fields"):
        slot_setters(Ping, "target", "seq", "source")
