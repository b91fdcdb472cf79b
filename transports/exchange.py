"""The reliable exchange on a byte stream (TCP), framed by the node's wire profile: one path for
every socket driver.

A request and its reply are each one message as ``node.wire.stream`` frames it: the native
profile puts a 4-byte length before each (:class:`swimcore.wire.LengthPrefixed`, the one
definition of that prefix), memberlist's messages delimit themselves and a reliable user message
has no reply. A stream may also carry only a ping (the TCP fallback probe, sent by swimcore and
by memberlist), which the node answers with an ack like any other exchange.  Drivers differ
only in how they move bytes:

* :class:`MessageAssembler` turns the chunks a connection delivers into one message, in time
  linear in its size, refusing it (:class:`FrameError`) as soon as it cannot fit the limit;
* :func:`built` builds what the node gives to write (a request or a reply: a full-state
  snapshot is O(members)) a step per turn of an async driver's loop, and :func:`framed` frames
  it (the thread driver steps it from its selector loop);
* :func:`read_message` is the asyncio reading loop (the anyio and thread drivers feed the
  assembler from their own loops);
* :func:`failure_reason` says why an exchange this member asked for failed, in the same
  words on every driver (the ``reason`` of ``JoinFailed``, ``MessageFailed``, ...);
* :class:`InboundGate` decides who holds the bounded inbound slots and caps the bytes that all
  unfinished inbound messages buffer together (before anything is authenticated).

Why a gate and not only a per-connection limit: 64 connections that each announce an 8 MiB
message and withhold its last byte used to hold 512 MiB until their deadline, and a peer
reopening connections as fast as they were refused kept a joiner out.  The gate evicts instead
of refusing: when the slots are full or the byte budget is spent, the unfinished exchange of
the source holding the most slots, oldest first, is closed (counted as
``dropped.exchange_evicted``), so a newcomer that sends its request at once is always served.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import attrs

from swimcore import Node, Outgoing
from swimcore import counter_names as cn
from swimcore.errors import DecodeError, SwimError
from swimcore.wire import StreamFraming

if TYPE_CHECKING:
    import asyncio  # annotations only: the thread driver uses this module without asyncio

__all__ = [
    "FrameError",
    "InboundGate",
    "InboundSlot",
    "IncompleteMessage",
    "errno_reason",
    "failure_reason",
    "inbound_gate",
    "MessageAssembler",
    "built",
    "framed",
    "read_message",
]

_CHUNK = 65536
#: Inbound exchanges served at once (memberlist caps concurrent push-pulls at 128).
MAX_INBOUND = 64
#: Unfinished inbound messages together may buffer this many times ``max_exchange_bytes``.
INBOUND_BUDGET_FACTOR = 2


class FrameError(SwimError):
    """A peer's stream cannot be one message within the limit (announced too long, or garbled).

    The driver drops the connection and counts it (``dropped.exchange_oversized``).
    """


class IncompleteMessage(SwimError):
    """The peer closed the stream before a whole message arrived."""


def errno_reason(code: int) -> str:
    """The reason for a socket error number, as the simulator words it ("connection refused")."""
    text = os.strerror(code)
    return text[:1].lower() + text[1:]


def failure_reason(exc: BaseException) -> str:
    """Why an outbound exchange failed, in the same words on every driver and the simulator.

    ``"timeout"``, ``"connection closed before the reply"``, the socket error in the
    simulator's words (``"connection refused"``, found also behind a wrapper such as anyio's
    "All connection attempts failed"), or the frame error's own message.
    """
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, IncompleteMessage | EOFError):
        return "connection closed before the reply"
    if isinstance(exc, FrameError):
        return str(exc)
    code = _socket_errno(exc)
    if code is not None:
        return errno_reason(code)
    return f"{type(exc).__name__}: {exc}"


def _socket_errno(exc: BaseException) -> int | None:
    """The first error number in ``exc``, its causes and the members of exception groups."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno:
            return current.errno
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)
    return None


class MessageAssembler:
    """One message from the chunks of a stream, as ``stream`` frames it.

    Feed every chunk to :meth:`feed` until it returns the message; call :meth:`end` when the peer
    closes first.  Each byte is looked at once, so a message cut in many small pieces costs no
    more than one that arrives whole.
    """

    __slots__ = ("_reader", "_seen", "_stream", "account")

    def __init__(
        self, stream: StreamFraming, limit: int, account: Callable[[int], None] | None = None
    ) -> None:
        self._stream = stream
        self._reader = stream.reader(limit)
        self._seen = 0
        #: Told the size of every chunk fed (the inbound gate's byte budget).
        self.account = account

    @property
    def seen(self) -> int:
        """Bytes fed so far."""
        return self._seen

    def feed(self, chunk: bytes) -> bytes | None:
        """The whole message once ``chunk`` completes it, else ``None`` (:class:`FrameError`)."""
        self._seen += len(chunk)
        if self.account is not None:
            self.account(len(chunk))
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


def framed(node: Node, payload: bytes) -> bytes:
    """What to write for ``payload``, a request or a reply: the node's wire framing around it."""
    return node.wire.stream.encode(payload)


async def built(outgoing: Outgoing, pause: Callable[[], Awaitable[object]]) -> bytes:
    """The bytes of ``outgoing``, a step per turn of the event loop (``pause`` yields to it):
    between two steps the member's datagrams and timers are served, so that building a large
    snapshot never holds the loop (see :class:`~swimcore.Outgoing`)."""
    while not outgoing.step():
        await pause()
    return outgoing.data


async def read_message(
    reader: asyncio.StreamReader,
    stream: StreamFraming,
    limit: int,
    account: Callable[[int], None] | None = None,
) -> bytes:
    """One whole message from an asyncio stream (``account`` is told each chunk's size).

    Raises :class:`FrameError` or :class:`IncompleteMessage`.
    """
    message = MessageAssembler(stream, limit, account)
    while True:
        chunk = await reader.read(_CHUNK)
        if not chunk:
            return message.end()
        found = message.feed(chunk)
        if found is not None:
            return found


@attrs.define(eq=False)
class InboundSlot:
    """One inbound connection as the gate sees it."""

    source: str
    opened: float
    close: Callable[[], object]
    buffered: int = 0
    #: The whole request arrived: it is being served and is never evicted.
    whole: bool = False
    released: bool = False


def inbound_gate(max_exchange_bytes: int, count: Callable[[str], None]) -> InboundGate:
    """The gate every socket driver uses: :data:`MAX_INBOUND` slots and a byte budget of
    :data:`INBOUND_BUDGET_FACTOR` times the largest exchange."""
    return InboundGate(MAX_INBOUND, INBOUND_BUDGET_FACTOR * max_exchange_bytes, count)


class InboundGate:
    """The inbound exchange slots of one member and the bytes their unfinished messages hold.

    ``max_open`` slots; unfinished messages together hold at most ``max_buffered`` bytes.  A
    driver calls :meth:`admit` for every accepted connection (with a ``close`` callable that
    ends it), :meth:`account` for each chunk read, :meth:`whole` once the request is complete
    and :meth:`release` when the connection ends, however it ends.  Everything here runs on the
    driver's protocol loop; nothing blocks.
    """

    def __init__(self, max_open: int, max_buffered: int, count: Callable[[str], None]) -> None:
        self.max_open = max_open
        self.max_buffered = max_buffered
        self._count = count
        self._slots: list[InboundSlot] = []
        self.buffered = 0

    def __len__(self) -> int:
        return len(self._slots)

    def admit(self, source: str, now: float, close: Callable[[], object]) -> InboundSlot:
        """A slot for a new connection from ``source``, evicting one if all are taken."""
        while len(self._slots) >= self.max_open:
            victim = self._victim(None)
            if victim is None:  # every slot is serving a whole request: a short wait
                break
            self._evict(victim)
        slot = InboundSlot(source, now, close)
        self._slots.append(slot)
        return slot

    def account(self, slot: InboundSlot, size: int) -> None:
        """``size`` more bytes buffered for ``slot``; evicts others while over the budget."""
        if slot.released:
            return
        slot.buffered += size
        self.buffered += size
        while self.buffered > self.max_buffered:
            victim = self._victim(slot) or slot
            self._evict(victim)
            if victim is slot:
                return

    def whole(self, slot: InboundSlot) -> None:
        """The request is complete: its bytes leave the budget and it is no longer evictable."""
        self.buffered -= slot.buffered
        slot.buffered = 0
        slot.whole = True

    def release(self, slot: InboundSlot) -> None:
        """The connection ended (idempotent)."""
        if slot.released:
            return
        slot.released = True
        self.buffered -= slot.buffered
        slot.buffered = 0
        self._slots.remove(slot)

    def _victim(self, keep: InboundSlot | None) -> InboundSlot | None:
        """The oldest unfinished exchange of the source that holds the most slots."""
        candidates = [s for s in self._slots if not s.whole and s is not keep]
        if not candidates:
            return None
        held: dict[str, int] = {}
        for s in candidates:
            held[s.source] = held.get(s.source, 0) + 1
        busiest = max(held.values())
        return min((s for s in candidates if held[s.source] == busiest), key=lambda s: s.opened)

    def _evict(self, slot: InboundSlot) -> None:
        self._count(cn.DROPPED_EXCHANGE_EVICTED)
        self.release(slot)
        slot.close()
