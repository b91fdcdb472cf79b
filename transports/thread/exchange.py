"""The thread driver's reliable exchanges: non-blocking TCP connections in its selector.

Each exchange is one connection carrying one request and one reply, framed by the node's wire
profile (:mod:`swimcore.transports.exchange`).  The protocol thread drives every connection from
the same selector as its UDP socket, so a slow or silent peer never blocks it: every connection
has a deadline, a message is refused as soon as it cannot fit the configured limit,
at most ``max_open`` outbound connections exist (more are refused and counted), and inbound ones
go through the shared :class:`~swimcore.transports.exchange.InboundGate`.
Every socket here is opened, driven and closed by the protocol thread alone.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import selectors
import socket
from collections.abc import Callable

from swimcore import ExchangeRequest, Outgoing
from swimcore import counter_names as cn
from swimcore.transports.counters import Counters
from swimcore.transports.exchange import (
    FrameError,
    InboundSlot,
    IncompleteMessage,
    MessageAssembler,
    errno_reason,
    failure_reason,
    inbound_gate,
)
from swimcore.transports.sockets import sockaddr
from swimcore.wire import StreamFraming

#: Bytes read per wake-up of a connection (a chunk's framing holds the protocol thread).
_CHUNK = 64 * 1024
_ACCEPT_BATCH = 64


class _Link:
    """One TCP connection that sends one message and receives one message."""

    __slots__ = ("_message", "_out", "building", "closed", "deadline", "sock")

    def __init__(self, sock: socket.socket, deadline: float, message: MessageAssembler) -> None:
        self.sock = sock
        self.deadline = deadline
        self.closed = False
        self._message = message
        self._out = memoryview(b"")
        #: What this side sends while it is being built, a step per pass of the selector
        #: (registered for writing, the socket comes back at once); ``None`` once queued.
        self.building: Outgoing | None = None

    def queue(self, data: bytes) -> None:
        """Bytes to send, already framed (:func:`~swimcore.transports.exchange.framed`)."""
        self._out = memoryview(data)

    def flush(self) -> bool:
        """Send what the socket takes now; True once everything queued is out."""
        while self._out:
            try:
                sent = self.sock.send(self._out)
            except (BlockingIOError, InterruptedError):
                return False
            self._out = self._out[sent:]
        return True

    def fill(self) -> bytes | None:
        """Read one chunk; the whole message once complete, else ``None``.

        One chunk per call, so that the protocol thread goes back to its selector (and its
        datagrams) between two: framing a chunk costs time linear in it (memberlist's rows are
        walked one by one), and reading on until the socket was empty walked a whole 4 MB
        push-pull, about 1 s, in one go.  The selector reports the socket again while bytes
        are left.  Raises :class:`FrameError` (it cannot fit the limit),
        :class:`IncompleteMessage` (the peer closed first) or :class:`OSError`.
        """
        try:
            chunk = self.sock.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return None
        if not chunk:
            return self._message.end()
        return self._message.feed(chunk)


class _Outbound(_Link):
    __slots__ = ("connected", "request")

    def __init__(
        self,
        sock: socket.socket,
        deadline: float,
        message: MessageAssembler,
        request: ExchangeRequest,
    ) -> None:
        super().__init__(sock, deadline, message)
        self.request = request
        self.connected = False


class _Inbound(_Link):
    __slots__ = ("slot",)

    def __init__(self, sock: socket.socket, deadline: float, message: MessageAssembler) -> None:
        super().__init__(sock, deadline, message)
        self.slot: InboundSlot | None = None


Link = _Outbound | _Inbound


class Exchanges:
    """Every exchange in flight, driven by the protocol thread through its selector.

    ``stream`` is the node's wire framing; ``encode(payload)`` frames what one side sends;
    ``serve(request) -> Outgoing | None`` gives what to write back for a peer's request
    (``None``, or nothing once framed: close).  What a side sends is built a step per pass
    (:class:`~swimcore.Outgoing`), so a large snapshot never holds the protocol thread;
    ``replied(exchange_id, data)`` and ``failed(exchange_id, reason)`` report the outcome of
    an exchange this node asked for.  Connections are registered in ``selector`` with the
    link itself as the key's data; the driver hands such keys to :meth:`handle`.
    """

    def __init__(
        self,
        selector: selectors.BaseSelector,
        counters: Counters,
        *,
        clock: Callable[[], float],
        timeout: float,
        limit: int,
        max_open: int,
        stream: StreamFraming,
        encode: Callable[[bytes], bytes],
        serve: Callable[[bytes], Outgoing | None],
        replied: Callable[[int, bytes], None],
        failed: Callable[[int, str], None],
    ) -> None:
        self._selector = selector
        self._counters = counters
        self._clock = clock
        self._timeout = timeout
        self._limit = limit
        self._max_open = max_open
        self._stream = stream
        self._encode = encode
        self._serve = serve
        self._replied = replied
        self._failed = failed
        self._gate = inbound_gate(limit, counters.add)
        self._outbound: dict[int, _Outbound] = {}
        self._inbound: dict[int, _Inbound] = {}

    def __len__(self) -> int:
        return len(self._outbound) + len(self._inbound)

    def next_deadline(self) -> float | None:
        links: list[Link] = [*self._outbound.values(), *self._inbound.values()]
        return min((link.deadline for link in links), default=None)

    # ------------------------------------------------------------------------- outbound

    def dial(self, request: ExchangeRequest) -> None:
        """Start carrying ``request``; its outcome comes back through ``replied``/``failed``."""
        if len(self._outbound) >= self._max_open:
            self._counters.add(cn.DROPPED_EXCHANGE_BUSY_OUT)
            self._failed(request.exchange_id, "too many exchanges in flight")
            return
        family = socket.AF_INET6 if request.to.ip.version == 6 else socket.AF_INET
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:
            self._counters.socket_error(exc, "tcp")
            self._failed(request.exchange_id, failure_reason(exc))
            return
        sock.setblocking(False)
        code = sock.connect_ex(sockaddr(request.to))
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            sock.close()
            self._failed(request.exchange_id, errno_reason(code))
            return
        message = MessageAssembler(self._stream, self._limit)
        link = _Outbound(sock, self._clock() + self._timeout, message, request)
        self._outbound[id(link)] = link
        self._selector.register(sock, selectors.EVENT_WRITE, link)

    def _on_outbound(self, link: _Outbound, mask: int) -> None:
        try:
            if not link.connected:
                code = link.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    self._fail(link, errno_reason(code))
                    return
                link.connected = True
                # Built once connected: a refused connection (a member really gone) costs none.
                link.building = link.request.outgoing
            if not self._build(link):
                return
            if mask & selectors.EVENT_WRITE:
                if link.flush():
                    self._selector.modify(link.sock, selectors.EVENT_READ, link)
                return
            reply = link.fill()
        except (FrameError, IncompleteMessage, OSError) as exc:
            self._fail(link, failure_reason(exc))
            return
        if reply is not None:
            self._drop(link)
            self._replied(link.request.exchange_id, reply)

    def _build(self, link: Link) -> bool:
        """One step of what ``link`` sends; once built, it is queued framed and the deadline
        restarts (it times the peer and the network, not this member's work).  Whether it is."""
        outgoing = link.building
        if outgoing is None:
            return True
        if not outgoing.step():
            return False
        link.building = None
        link.queue(self._encode(outgoing.data))
        link.deadline = self._clock() + self._timeout
        return True

    def _fail(self, link: _Outbound, reason: str) -> None:
        self._drop(link)
        self._failed(link.request.exchange_id, reason)

    # -------------------------------------------------------------------------- inbound

    def accept(self, listener: socket.socket) -> None:
        """Accept the connections waiting on ``listener`` (a bounded batch per call)."""
        for _ in range(_ACCEPT_BATCH):
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._counters.socket_error(exc, "accept")
                return
            sock.setblocking(False)
            now = self._clock()
            message = MessageAssembler(self._stream, self._limit)
            link = _Inbound(sock, now + self._timeout, message)
            link.slot = self._gate.admit(str(peer[0]), now, functools.partial(self._drop, link))
            message.account = functools.partial(self._gate.account, link.slot)
            self._inbound[id(link)] = link
            self._selector.register(sock, selectors.EVENT_READ, link)

    def _on_inbound(self, link: _Inbound, mask: int) -> None:
        try:
            if mask & selectors.EVENT_WRITE:
                if self._build(link) and link.flush():
                    self._drop(link)
                return
            request = link.fill()
            if request is None:
                return
            if link.slot is not None:
                self._gate.whole(link.slot)
            reply = self._serve(request)
            if reply is None or link.closed:
                self._drop(link)
                return
            link.building = reply
            if self._build(link) and link.flush():
                self._drop(link)
            else:
                self._selector.modify(link.sock, selectors.EVENT_WRITE, link)
        except FrameError:
            self._counters.add(cn.DROPPED_EXCHANGE_OVERSIZED)
            self._drop(link)
        except IncompleteMessage:
            self._counters.add(cn.DROPPED_EXCHANGE_TRUNCATED)
            self._drop(link)
        except OSError as exc:
            self._counters.socket_error(exc, "tcp")
            self._drop(link)

    # ---------------------------------------------------------------------------- both

    def handle(self, link: Link, mask: int) -> None:
        """Move ``link`` on after the selector reported it ready (``mask``)."""
        if link.closed:
            return
        if isinstance(link, _Outbound):
            self._on_outbound(link, mask)
        else:
            self._on_inbound(link, mask)

    def expire(self, now: float) -> None:
        """Give up on every exchange past its deadline."""
        links: list[Link] = [*self._outbound.values(), *self._inbound.values()]
        for link in links:
            if link.deadline > now or link.closed or link.building is not None:
                continue
            if isinstance(link, _Outbound):
                self._fail(link, "timeout")
            else:
                self._counters.add(cn.DROPPED_EXCHANGE_TIMEOUT)
                self._drop(link)

    def close(self) -> None:
        """Close every connection (on shutdown; outcomes are no longer reported)."""
        links: list[Link] = [*self._outbound.values(), *self._inbound.values()]
        for link in links:
            self._drop(link)

    def _drop(self, link: Link) -> None:
        if link.closed:
            return
        link.closed = True
        if isinstance(link, _Outbound):
            self._outbound.pop(id(link), None)
        else:
            self._inbound.pop(id(link), None)
            if link.slot is not None:
                self._gate.release(link.slot)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(link.sock)
        link.sock.close()
