"""The reliable exchange on a byte stream (TCP), framed by the node's wire profile: one path for
every socket driver.

A request and its reply are each one message as ``node.wire.stream`` frames it: the native
profile puts a 4-byte length before each (:class:`swimcore.wire.LengthPrefixed`, the one
definition of that prefix), memberlist's messages delimit themselves and a reliable user message
has no reply. A memberlist node may also open a stream only to ping (its TCP fallback probe),
which the profile answers without the node.  Drivers differ only in how they move bytes:

* :class:`MessageAssembler` turns the chunks a connection delivers into one message, in time
  linear in its size, refusing it (:class:`FrameError`) as soon as it cannot fit the limit;
* :func:`request_bytes` and :func:`reply_bytes` say what to write on each side;
* :func:`read_message` is the asyncio reading loop (the anyio and thread drivers feed the
  assembler from their own loops).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from swimcore import Node
from swimcore.errors import DecodeError, SwimError
from swimcore.wire import StreamFraming
from swimcore.wire.memberlist.profile import MemberlistWire

__all__ = [
    "FrameError",
    "IncompleteMessage",
    "MessageAssembler",
    "read_message",
    "reply_bytes",
    "request_bytes",
]

_CHUNK = 65536


class FrameError(SwimError):
    """A peer's stream cannot be one message within the limit (announced too long, or garbled).

    The driver drops the connection and counts it (``dropped.exchange_oversized``).
    """


class IncompleteMessage(SwimError):
    """The peer closed the stream before a whole message arrived."""


class MessageAssembler:
    """One message from the chunks of a stream, as ``stream`` frames it.

    Feed every chunk to :meth:`feed` until it returns the message; call :meth:`end` when the peer
    closes first.  Each byte is looked at once, so a message cut in many small pieces costs no
    more than one that arrives whole.
    """

    __slots__ = ("_reader", "_seen", "_stream")

    def __init__(self, stream: StreamFraming, limit: int) -> None:
        self._stream = stream
        self._reader = stream.reader(limit)
        self._seen = 0

    @property
    def seen(self) -> int:
        """Bytes fed so far."""
        return self._seen

    def feed(self, chunk: bytes) -> bytes | None:
        """The whole message once ``chunk`` completes it, else ``None`` (:class:`FrameError`)."""
        self._seen += len(chunk)
        try:
            return self._reader.feed(chunk)
        except (ValueError, DecodeError) as exc:
            raise FrameError(str(exc)) from None

    def end(self) -> bytes:
        """The message a stream closed without any byte stands for (memberlist: an empty reply),
        else :class:`IncompleteMessage`."""
        message = self._stream.at_eof() if self._seen == 0 else None
        if message is None:
            raise IncompleteMessage(f"the peer closed after {self._seen} bytes, before a message")
        return message


def request_bytes(node: Node, payload: bytes) -> bytes:
    """What to write for the exchange request ``payload`` the node asked to carry."""
    return node.wire.stream.encode(payload)


def reply_bytes(node: Node, request: bytes, serve: Callable[[bytes], bytes | None]) -> bytes | None:
    """What to write back for a peer's ``request`` (``None``: nothing, close the connection).

    The profile answers what it answers alone (memberlist's TCP ping); everything else goes to
    ``serve`` (the node's :meth:`~swimcore.Node.handle_exchange`, through the driver's core).
    """
    wire = node.wire
    if isinstance(wire, MemberlistWire):
        answer = wire.answer_stream(request)
        if answer is not None:
            return answer
    reply = serve(request)
    return None if reply is None else wire.stream.encode(reply)


async def read_message(reader: asyncio.StreamReader, stream: StreamFraming, limit: int) -> bytes:
    """One whole message from an asyncio stream.

    Raises :class:`FrameError` or :class:`IncompleteMessage`.
    """
    message = MessageAssembler(stream, limit)
    while True:
        chunk = await reader.read(_CHUNK)
        if not chunk:
            return message.end()
        found = message.feed(chunk)
        if found is not None:
            return found
