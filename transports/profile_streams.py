"""Exchanges on a TCP stream, framed as the node's wire profile says (for the socket drivers).

The native profile frames each exchange message with a 4-byte length
(:mod:`swimcore.transports.framing`,
read here exactly as before).  The memberlist profile's messages delimit themselves, a reliable
user message has no reply, and a memberlist node may open a stream only to ping (its TCP
fallback probe), which the profile answers without the node.  A driver calls
:func:`read_message` to read a request or a reply, :func:`answer_without_node` first on every
request it serves, and :func:`framed_reply` to frame the node's answer.
"""

from __future__ import annotations

import asyncio

from swimcore import Node
from swimcore.errors import DecodeError
from swimcore.transports.framing import HEADER_SIZE, FrameError, frame_length
from swimcore.wire import LengthPrefixed, StreamFraming
from swimcore.wire.memberlist.profile import MemberlistWire

__all__ = ["answer_without_node", "framed_reply", "read_message"]

_CHUNK = 65536


async def read_message(reader: asyncio.StreamReader, stream: StreamFraming, limit: int) -> bytes:
    """One whole message; :class:`FrameError` when it cannot be one within ``limit`` bytes.

    Raises :class:`asyncio.IncompleteReadError` when the peer closes before it is whole.
    """
    if isinstance(stream, LengthPrefixed):
        length = frame_length(await reader.readexactly(HEADER_SIZE), limit)
        return await reader.readexactly(length)
    message = stream.reader(limit)  # keeps its place: linear in the message's size
    seen = 0
    while True:
        chunk = await reader.read(_CHUNK)
        if not chunk:
            eof = stream.at_eof() if not seen else None
            if eof is None:
                raise asyncio.IncompleteReadError(b"", None)
            return eof
        seen += len(chunk)
        try:
            found = message.feed(chunk)
        except (ValueError, DecodeError) as exc:
            raise FrameError(str(exc)) from None
        if found is not None:
            return found


def answer_without_node(node: Node, data: bytes) -> bytes | None:
    """The reply to a request the profile answers itself (memberlist's TCP ping), or ``None``."""
    wire = node.wire
    return wire.answer_stream(data) if isinstance(wire, MemberlistWire) else None


def framed_reply(node: Node, reply: bytes | None) -> bytes | None:
    """What to write for the node's answer (empty: nothing, as for a memberlist user message)."""
    return None if reply is None else node.wire.stream.encode(reply)
