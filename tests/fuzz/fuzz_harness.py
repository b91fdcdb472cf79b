"""The coverage-guided fuzzing target: one input, every decoder and the node's receive paths.

The first byte of an input picks the target, the rest is what the target is fed (with a
correct checksum trailer appended):

* 0 ``codec.decode_packet``, 1 ``codec.decode_push_pull``, 2 ``codec.decode_exchange``: only
  :class:`DecodeError` may come out, and whatever decodes re-encodes to the very same bytes
  (the encoding is canonical, so a decoder that accepts a second spelling is caught too);
* 3 ``Node.receive`` then ``Node.tick``, 4 ``Node.handle_exchange`` and ``exchange_reply``: nothing
  may raise, ``dropped.internal_error`` (a bug caught at the boundary) must never be counted, and
  the node never believes it failed.

:func:`check` raises ``AssertionError`` (or whatever escaped) on a finding; it imports no
fuzzing engine, so the committed corpus and every kept crash replay as plain pytest tests.
"""

from __future__ import annotations

import zlib

from swimcore import Address, Config, ExchangeRequest, Node, State
from swimcore.errors import DecodeError
from swimcore.messages import Alive, Dead, Gossip, Left, Packet, PushPull, StreamPing, Suspect
from swimcore.wire.native import codec

TARGETS = ("packet", "push_pull", "exchange", "receive", "exchange_handlers")
_SOURCE = Address("10.0.0.77", 7946)


def _peer(i: int) -> Address:
    return Address(f"10.0.0.{i}", 7946)


def _node() -> Node:
    """A node with alive, suspect, dead and left peers and news queued."""
    node = Node(Config.lan(max_members=64), _peer(1), seed=1)
    node.start(0.0, [(str(_peer(i)), _peer(i)) for i in range(2, 8)])
    news = (
        Alive(str(_peer(2)), _peer(2), 3, b"meta"),
        Suspect(str(_peer(3)), 0, str(_peer(4))),
        Dead(str(_peer(5)), 0, str(_peer(4))),
        Left(str(_peer(6)), 0),
    )
    node.receive(codec.encode_packet(Packet("", Gossip(), news)), _peer(2), 1.0)
    node.broadcast("k", b"payload", 1.0)
    return node


def _sane(node: Node) -> None:
    assert "dropped.internal_error" not in node.counters(), "a bug was caught in the node"
    me = node.member(node.name)
    assert me is not None and me.state is State.ALIVE, "the node believes it failed"


def check(data: bytes) -> None:
    """Run one fuzz input; raises on a finding."""
    if not data:
        return
    target, body = TARGETS[data[0] % len(TARGETS)], data[1:]
    # The input is a payload without its checksum: the harness appends a correct one, so the
    # search explores the parsers rather than the CRC (the codec tests cover the CRC itself).
    body += zlib.crc32(body).to_bytes(4, "big")
    if target == "packet":
        try:
            packet = codec.decode_packet(body)
        except DecodeError:
            return
        assert codec.encode_packet(packet) == body, "decoded packet does not re-encode the same"
    elif target == "push_pull":
        try:
            snapshot = codec.decode_push_pull(body)
        except DecodeError:
            return
        assert codec.encode_push_pull(snapshot) == body, "snapshot does not re-encode the same"
    elif target == "exchange":
        try:
            exchange = codec.decode_exchange(body)
        except DecodeError:
            return
        if isinstance(exchange, PushPull):
            again = codec.encode_push_pull(exchange)
        elif isinstance(exchange, StreamPing):
            again = codec.encode_stream_ping(exchange)
        else:
            again = codec.encode_direct_message(exchange)
        assert again == body, "exchange does not re-encode the same"
    elif target == "receive":
        node = _node()
        node.receive(body, _SOURCE, 2.0)
        node.tick(40.0)
        _sane(node)
    else:
        node = _node()
        node.handle_exchange(body, 2.0)
        _sane(node)
        joiner = Node(Config.lan(), _peer(9), seed=2)
        request = joiner.join([node.address], 2.0)[0]
        assert isinstance(request, ExchangeRequest)
        joiner.exchange_reply(request.exchange_id, body, 2.0)
        _sane(joiner)
