"""Hypothesis strategies for every value on the wire, and for damaging valid encodings.

Shared by the codec round-trip tests and the ``Node.receive`` fuzz tests.
"""

from __future__ import annotations

from hypothesis import strategies as st

from swimcore import Address
from swimcore.messages import (
    Ack,
    Alive,
    Dead,
    DirectMessage,
    Gossip,
    IndirectPing,
    Left,
    MemberState,
    Message,
    Nack,
    Packet,
    Ping,
    PushPull,
    State,
    Suspect,
    Update,
    UserBroadcast,
    UserMessage,
)

MAX_U64 = 2**64 - 1

#: Names and labels: any text of at most 255 UTF-8 bytes (63 code points never exceed it),
#: plus ASCII names of exactly the limit.
names = st.one_of(
    st.text(max_size=63),
    st.text(alphabet="abcxyz:.[]", min_size=255, max_size=255),
)
labels = names
seqs = st.integers(0, 2**32 - 1)
incarnations = st.one_of(st.integers(0, MAX_U64), st.sampled_from([0, 1, MAX_U64 - 1, MAX_U64]))
metas = st.binary(max_size=700)
ips = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6))
addresses = st.builds(Address, ips, st.integers(0, 65535))

MESSAGES: dict[str, st.SearchStrategy[Message]] = {
    "ping": st.builds(Ping, seqs, names, names),
    "indirect_ping": st.builds(IndirectPing, seqs, names, addresses, names, st.booleans()),
    "ack": st.builds(Ack, seqs),
    "nack": st.builds(Nack, seqs),
    "gossip": st.just(Gossip()),
    "user_message": st.builds(UserMessage, names, st.binary(max_size=2000)),
}

UPDATES: dict[str, st.SearchStrategy[Update]] = {
    "alive": st.builds(Alive, names, addresses, incarnations, metas),
    "suspect": st.builds(Suspect, names, incarnations, names),
    "dead": st.builds(Dead, names, incarnations, names),
    "left": st.builds(Left, names, incarnations),
    "user_broadcast": st.builds(UserBroadcast, names, names, incarnations, metas),
}

messages = st.one_of(*MESSAGES.values())
updates = st.one_of(*UPDATES.values())
packets = st.builds(Packet, labels, messages, st.lists(updates, max_size=12).map(tuple))

member_states = st.builds(
    MemberState, names, addresses, incarnations, st.sampled_from(State), metas
)
push_pulls = st.builds(
    PushPull, labels, st.booleans(), st.lists(member_states, max_size=12).map(tuple)
)
direct_messages = st.builds(DirectMessage, labels, names, st.binary(max_size=5000))


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[bytes]) -> bytes:
    """A valid encoding damaged by a few random edits: overwrite, cut, delete, insert, repeat."""
    data = bytearray(draw(valid))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "flip", "truncate", "delete", "insert", "repeat"]))
        at = draw(st.integers(0, len(data)))
        if op in ("set", "flip") and data:
            at = min(at, len(data) - 1)
            if op == "set":
                data[at] = draw(st.integers(0, 255))
            else:
                data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[at:]
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 32))]
    return bytes(data)
