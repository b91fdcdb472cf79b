"""Datagrams and streams captured from a real memberlist (Go) node decode exactly.

tests/data/memberlist/captures.json was written by capture.py beside it: the Go test peer
joined a scripted member and was made to send every kind of message, plain, compressed,
encrypted and both.  Each capture is checked against what the Go side is known to have sent
(its name, port, metadata, versions, the payloads it was told to send), and everything not
encrypted is re-encoded by our encoder to the very same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from swimcore.wire.memberlist import packet, security, stream
from swimcore.wire.memberlist.messages import (
    MlAck,
    MlAlive,
    MlDead,
    MlErr,
    MlIndirectPing,
    MlMessage,
    MlNack,
    MlPing,
    MlPushPull,
    MlStreamMessage,
    MlSuspect,
    MlUser,
    MlUserStream,
    MsgType,
    NodeState,
)

CAPTURES = json.loads((Path(__file__).parent / "data/memberlist/captures.json").read_text())
LOOPBACK = bytes([127, 0, 0, 1])
GO_VSN = bytes([1, 5, 2, 0, 0, 0])  # memberlist 0.2.2's defaults: understands 1..5, speaks 2
OUR_VSN = bytes([2, 5, 2, 0, 0, 0])


def _cases(transport: str) -> list[Any]:
    out = []
    for name, scenario in CAPTURES["scenarios"].items():
        if scenario["context"]["key"]:
            pytest.importorskip("cryptography")
        for i, record in enumerate(scenario["records"]):
            if record["transport"] == transport:
                out.append(
                    pytest.param(scenario["context"], record, id=f"{name}-{i}-{record['kind']}")
                )
    return out


def _keys(context: dict[str, Any]) -> tuple[bytes, ...]:
    return (bytes.fromhex(context["key"]),) if context["key"] else ()


def _check_message(message: MlMessage, ctx: dict[str, Any]) -> None:
    """What the Go node can have said, given what it was and what it was told to do."""
    go, py = ctx["go_name"], ctx["py_name"]
    if isinstance(message, MlPing):
        assert (message.node, message.source_node) == (py, go)
        assert (message.source_addr, message.source_port) == (LOOPBACK, ctx["go_port"])
    elif isinstance(message, MlIndirectPing):
        assert (message.node, message.target, message.port) == (
            "ghost",
            LOOPBACK,
            ctx["ghost_port"],
        )
        assert message.nack  # we announced protocol 5, so Go expects nacks from us
        assert (message.source_node, message.source_port) == (go, ctx["go_port"])
    elif isinstance(message, MlAck):
        assert message.seq in (1, 3) and message.payload == b""  # answers to our pings 1 and 3
    elif isinstance(message, MlNack):
        assert message.seq == 2  # our indirect probe of the ghost
    elif isinstance(message, MlSuspect):
        assert (message.node, message.sender) in (("ghost", go), (py, go))
    elif isinstance(message, MlDead):
        assert (message.node, message.sender) in (("ghost", go), (go, go))  # go, go: it left
    elif isinstance(message, MlAlive):
        if message.node == go:
            assert (message.addr, message.port, message.vsn) == (LOOPBACK, ctx["go_port"], GO_VSN)
            assert message.meta.decode() == ctx["go_meta"][message.incarnation - 1]
        else:
            port = ctx["py_port"] if message.node == py else ctx["ghost_port"]
            assert (message.node, message.port, message.vsn) == (message.node, port, OUR_VSN)
            assert message.node in (py, "ghost")
    elif isinstance(message, MlUser):
        assert message.payload in (b"hello-by-gossip", b"hello-by-udp")
    else:
        raise AssertionError(f"unexpected {message!r}")


@pytest.mark.parametrize(("ctx", "record"), _cases("udp"))
def test_captured_datagram_decodes_exactly(ctx: dict[str, Any], record: dict[str, str]) -> None:
    raw = bytes.fromhex(record["hex"])
    keys = _keys(ctx)
    messages = packet.decode_datagram(raw, keys=keys)
    assert "+".join(type(m).__name__ for m in messages) == record["kind"]
    for message in messages:
        _check_message(message, ctx)
    plain = security.open_sealed(keys, raw, b"") if keys else raw
    crc = plain[0] == MsgType.HAS_CRC
    again = packet.encode_datagram(messages, compress=ctx["compress"], crc=crc)
    assert again == plain  # our encoder writes what Go wrote, byte for byte


def _check_stream(message: MlStreamMessage, ctx: dict[str, Any], kind: str) -> None:
    go, py = ctx["go_name"], ctx["py_name"]
    if isinstance(message, MlPushPull):
        assert message.user_state == b""
        rows = {row.name: row for row in message.nodes}
        mine = rows[go]
        assert (mine.addr, mine.port, mine.vsn) == (LOOPBACK, ctx["go_port"], GO_VSN)
        assert mine.state is NodeState.ALIVE
        if kind == "tcp":  # the join Go started: only itself, as it knew no one yet
            assert message.join and list(rows) == [go] and mine.meta == b"role=go"
        else:  # its answer to our push-pull, later: everyone, the ghost failed by now
            assert not message.join and sorted(rows) == sorted([go, py, "ghost"])
            assert mine.meta == b"role=go2" and mine.incarnation == 2
            assert rows["ghost"].state is NodeState.DEAD
            assert rows[py].port == ctx["py_port"] and rows[py].vsn == OUR_VSN
    elif isinstance(message, MlPing):  # the TCP fallback probe, while we ignored UDP pings
        assert (message.node, message.source_node, message.source_port) == (py, go, ctx["go_port"])
    elif isinstance(message, MlUserStream):
        assert message.payload == b"hello-by-tcp"
    elif isinstance(message, MlErr):
        assert message.error == "Remote state is encrypted and encryption is not configured"
    else:
        raise AssertionError(f"unexpected {message!r}")


@pytest.mark.parametrize(("ctx", "record"), _cases("tcp") + _cases("tcp-reply"))
def test_captured_stream_decodes_exactly(ctx: dict[str, Any], record: dict[str, str]) -> None:
    raw = bytes.fromhex(record["hex"])
    keys = _keys(ctx)
    message = stream.decode_stream(raw, keys=keys)
    assert type(message).__name__ == record["kind"]
    _check_stream(message, ctx, record["transport"])
    # memberlist compresses every stream when compression is on, then encrypts.
    if keys:
        assert raw[0] == MsgType.ENCRYPT
        plain = security.open_sealed(keys, raw[5:], raw[:5])
    else:
        plain = raw
    assert plain[0] == (MsgType.COMPRESS if ctx["compress"] else type_byte(message))
    assert (
        stream.wrap_stream(stream.encode_stream_message(message), compress=ctx["compress"]) == plain
    )


def type_byte(message: MlStreamMessage) -> int:
    return {
        MlPushPull: MsgType.PUSH_PULL,
        MlPing: MsgType.PING,
        MlUserStream: MsgType.USER,
        MlErr: MsgType.ERR,
        MlAck: MsgType.ACK,
    }[type(message)]


def test_captures_cover_every_message_type() -> None:
    seen: set[str] = set()
    for scenario in CAPTURES["scenarios"].values():
        for record in scenario["records"]:
            seen.update(record["kind"].split("+"))
    expected = {"MlPing", "MlIndirectPing", "MlAck", "MlNack", "MlSuspect", "MlAlive", "MlDead"}
    assert expected | {"MlUser", "MlPushPull", "MlUserStream", "MlErr"} <= seen
