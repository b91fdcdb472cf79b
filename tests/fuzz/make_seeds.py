"""Write the seed inputs of the fuzzing corpus: one valid encoding of every message and update
kind, snapshots and direct messages, each behind every target selector that can use it.

    .venv/bin/python tests/fuzz/make_seeds.py tests/fuzz/corpus

The committed corpus is these seeds merged (``-merge=1``) with what the fuzzer found from them.
"""

from __future__ import annotations

import hashlib
import pathlib
import sys

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
from swimcore.wire.native import codec

A = Address("10.0.0.2", 7946)
B = Address("fd00::7", 65535)
NAME = "10.0.0.1:7946"
PEER = "10.0.0.2:7946"


def seeds() -> list[bytes]:
    messages: list[Message] = [
        Ping(1, NAME, PEER),
        IndirectPing(2, PEER, B, NAME, True),
        Ack(1),
        Nack(2),
        Gossip(),
        UserMessage(PEER, b"hello"),
    ]
    updates: list[Update] = [
        Alive(PEER, A, 3, b"meta"),
        Alive(NAME, B, 2**64 - 1),
        Suspect(PEER, 4, NAME),
        Suspect(NAME, 0, PEER),
        Dead("10.0.0.5:7946", 0, PEER),
        Left("10.0.0.6:7946", 9),
        UserBroadcast(PEER, "k", 2, b"payload"),
    ]
    packets = [codec.encode_packet(Packet("", m, ())) for m in messages]
    packets += [codec.encode_packet(Packet("", Gossip(), (u,))) for u in updates]
    packets.append(codec.encode_packet(Packet("", Ping(7, NAME, PEER), tuple(updates))))
    packets.append(codec.encode_packet(Packet("blue", Ack(3), tuple(updates[:2]))))
    rows = tuple(
        MemberState(f"10.0.0.{i}:7946", A if i % 2 else B, i, State(i % 4), bytes(i))
        for i in range(2, 7)
    )
    exchanges = [
        codec.encode_push_pull(PushPull("", True, rows)),
        codec.encode_push_pull(PushPull("", False, (rows[0],))),
        codec.encode_direct_message(DirectMessage("", PEER, b"reliable")),
        codec.encode_exchange_ack(""),
    ]
    out = [bytes((0,)) + p for p in packets] + [bytes((3,)) + p for p in packets]
    out += [bytes((1,)) + e for e in exchanges[:2]]
    out += [bytes((2,)) + e for e in exchanges] + [bytes((4,)) + e for e in exchanges]
    return out


def main(directory: str) -> None:
    path = pathlib.Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for data in seeds():
        (path / f"seed-{hashlib.sha1(data).hexdigest()}").write_bytes(data)


if __name__ == "__main__":
    main(sys.argv[1])
