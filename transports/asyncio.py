"""The asyncio driver: a :class:`~swimcore.Node` on a UDP datagram endpoint and a TCP server.

One loop, aioquic-style: every datagram is fed to the node as it arrives (with the others
waiting on the socket: asyncio's endpoint reads one per pass of the loop, too few for a busy
loop) and the actions are carried out at once; exactly one ``loop.call_at`` is armed for the
node's next deadline and moved whenever an input moves that deadline, earlier or later (an ack
cancels its probe's timeout: the loop then sleeps until the next protocol period instead of
waking for nothing).  The reliable exchange runs over TCP, one connection per request, framed
by the node's wire profile (:mod:`swimcore.transports.exchange`).

Usage::

    async with AsyncioMember(Config.lan(label="blue"), bind="127.0.0.1:0",
                             seeds=["127.0.0.1:7946"]) as member:
        await member.send("other", b"hello", reliable=True)   # DeliveryError if it cannot
        async for event in member.events():
            print(event)

Records go to ``swimcore.transports.asyncio`` (this driver) and ``swimcore.core`` (the node).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from swimcore import Address, DeliveryError, ExchangeRequest
from swimcore import counter_names as cn
from swimcore._inputs import as_bytes
from swimcore.transports.events import EVENT_BUFFER, EventStream
from swimcore.transports.exchange import (
    FrameError,
    IncompleteMessage,
    built,
    failure_reason,
    framed,
    inbound_gate,
    read_message,
)
from swimcore.transports.member import AsyncLifecycle, MemberBase, wait_for_leave
from swimcore.transports.sockets import as_addresses, drain, sockaddr

__all__ = ["AsyncioMember", "EventStream"]


class _Datagrams(asyncio.DatagramProtocol):
    """Hands datagrams to the member; counts socket errors; notes flow control."""

    def __init__(self, member: AsyncioMember) -> None:
        self._member = member
        self.paused = False
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._member._on_datagram(data, addr)
        # asyncio reads one datagram per wake-up of the loop: read the rest now, or a member
        # in a busy loop (hundreds in one process) falls behind its socket until the kernel
        # drops what no longer fits.
        self._member._drain()

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError):
            self._member._counters.socket_error(exc, "udp")
        else:  # pragma: no cover - asyncio only reports OSError here
            self._member._counters.add(cn.SOCKET_ERRORS)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class AsyncioMember(MemberBase, AsyncLifecycle):
    """A group member on asyncio: UDP for the protocol, TCP for the reliable exchange.

    Takes a :class:`~swimcore.Config` (default: :meth:`~swimcore.Config.lan`), the address to
    bind (``"ip:port"``; port 0 picks a free port) and the rest of
    :class:`~swimcore.transports.MemberOptions`, whole as ``options=`` or field by field as
    keyword arguments (``seeds=``, ``name=``, ``keyring=``, ...).  Leaving the ``async with``
    block leaves gracefully (``leave_on_exit``), waiting at most ``leave_timeout`` for the news
    to spread, then closes every socket and task.
    """

    driver = "asyncio"

    _flag = asyncio.Event

    def _setup(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _Datagrams | None = None
        #: The endpoint's socket, read directly for the datagrams after the first of a wake-up.
        self._udp: socket.socket | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed = float("inf")
        self._tasks: set[asyncio.Task[None]] = set()
        self._gate = inbound_gate(self.config.max_exchange_bytes, self._counters.add)

    # ------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind, start the node and join ``seeds`` (or look in the discovery store)."""
        self._check_unstarted()
        loop = asyncio.get_running_loop()
        self._loop = loop
        udp, tcp, node = self._bind()
        self._attach(
            node,
            loop.time,
            send=self._send,
            exchange=self._start_exchange,
            rearm=self._rearm,
            publish=self._publish,
        )
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), sock=udp
            )
        except BaseException:
            udp.close()
            tcp.close()
            raise
        self._transport = transport
        self._protocol = protocol
        self._udp = udp
        # The listening socket is closed when its task ends, however: a task cancelled before
        # its first step (a member closed at once) never runs a line of its own.
        self._spawn(self._listen(tcp)).add_done_callback(lambda _: tcp.close())
        self._require_core().start(self.options.addresses)
        self._spawn(self._discover(asyncio.sleep, _to_thread))

    async def leave(self) -> None:
        """Leave gracefully; returns once the news went out (at most ``leave_timeout``)."""
        await wait_for_leave(self._require_open(), self.leave_timeout, asyncio.sleep)

    async def join(self, seeds: Sequence[Address | str]) -> None:
        """Join (again) through ``seeds``; the node retries them while it is alone."""
        self._require_open().join(as_addresses(seeds))

    async def close(self, *, leave: bool | None = None) -> None:
        """Stop: leave first unless ``leave`` is False (default: ``leave_on_exit``), then close.

        ``close(leave=False)`` stops silently, as a crash would look to the group.
        """
        core = self._core
        if core is None or self._closed:
            return
        if self.leave_on_exit if leave is None else leave:
            try:
                await self.leave()
            except asyncio.CancelledError:
                self._shutdown_now()
                raise
        self._shutdown_now()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._protocol is not None:
            await self._protocol.lost

    def _shutdown_now(self) -> None:
        core = self._require_core()
        if self._closed:
            return
        self._closed = True
        core.stop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.close()
        for task in list(self._tasks):
            task.cancel()

    async def send(self, name: str, payload: bytes, *, reliable: bool = False) -> None:
        """Send ``payload`` to the member ``name``: it gets a ``MessageReceived`` event.

        Best effort (one datagram) returns once sent; ``reliable=True`` (the reliable exchange,
        over TCP) returns once the member acknowledged it.  Raises
        :class:`~swimcore.DeliveryError` when ``name`` is unknown, dead or left, or when the
        exchange fails or takes longer than ``exchange_timeout``: never hangs.
        """
        core = self._require_core()
        if self._closed:
            raise DeliveryError(name, "this member is closed")
        outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done(error: DeliveryError | None) -> None:
            if outcome.done():
                return
            if error is None:
                outcome.set_result(None)
            else:
                outcome.set_exception(error)

        exchange_id = core.send_message(
            name, as_bytes(payload, "message payload"), reliable=reliable, done=done
        )
        try:
            async with asyncio.timeout(self.exchange_timeout + 1.0):
                await outcome
        except TimeoutError:
            raise DeliveryError(name, "timeout") from None
        finally:
            core.forget_message(exchange_id)
            if outcome.done() and not outcome.cancelled():
                outcome.exception()  # retrieved, even when this wait was cancelled

    def events(self, maxsize: int = EVENT_BUFFER) -> EventStream:
        """Every event from now on (membership changes, leader, broadcasts), in order."""
        return self._event_stream(maxsize)

    # ------------------------------------------------------------------------ the loop

    def _rearm(self, deadline: float) -> None:
        if deadline == self._armed or self._loop is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._armed = deadline
        self._timer = self._loop.call_at(deadline, self._on_timer, deadline)

    def _on_timer(self, deadline: float) -> None:
        self._timer = None
        self._armed = float("inf")
        if self._core is not None and not self._closed:
            self._core.tick(deadline)

    def _on_datagram(self, data: bytes, source: tuple[Any, ...]) -> None:
        if self._core is not None and not self._closed:
            self._core.receive(data, source)

    def _drain(self) -> None:
        if self._udp is not None and not self._closed:
            drain(self._udp, self._on_datagram, self._counters)

    def _send(self, to: Address, data: bytes) -> None:
        transport, protocol = self._transport, self._protocol
        if transport is None or protocol is None or transport.is_closing():
            self._counters.add(cn.DROPPED_SEND_CLOSED)
            return
        if protocol.paused:
            self._counters.add(cn.DROPPED_SEND_BUFFER_FULL)
            return
        transport.sendto(data, sockaddr(to))

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ----------------------------------------------------------------------- exchanges

    def _start_exchange(self, request: ExchangeRequest) -> None:
        self._spawn(self._dial(request))

    async def _dial(self, request: ExchangeRequest) -> None:
        core = self._require_core()
        limit = self.config.max_exchange_bytes
        host, port = sockaddr(request.to)
        try:
            async with asyncio.timeout(self.exchange_timeout) as deadline:
                reader, writer = await asyncio.open_connection(host, port)
                try:
                    payload = await _untimed(deadline, built(request.outgoing, _pause))
                    deadline.reschedule(_later(self.exchange_timeout))
                    writer.write(framed(core.node, payload))
                    await writer.drain()
                    reply = await read_message(reader, core.node.wire.stream, limit)
                finally:
                    # Answered or not, there is nothing more to send: the connection is dropped
                    # at once.  Closed gracefully, a request the peer never read (the exchange
                    # timed out or the member closed) kept the socket open for as long as the
                    # peer did not read, past the member's close.
                    writer.transport.abort()
                    with contextlib.suppress(OSError, asyncio.CancelledError):
                        await writer.wait_closed()
        except (TimeoutError, IncompleteMessage, FrameError, OSError) as exc:
            if not self._closed:
                core.exchange_failed(request.exchange_id, failure_reason(exc))
            return
        if not self._closed:
            core.exchange_reply(request.exchange_id, reply)

    async def _listen(self, tcp: socket.socket) -> None:
        """Accepts exchanges on ``tcp`` until the member closes (cancels this task).

        Not ``asyncio.start_server``: its server accepts a connection in one turn of the loop
        and makes the connection's transport in a task of its own the turn after, and a server
        closed in between makes that task fail and leave the connection in a half-made
        transport that nothing closes (CPython gh-109564).  Here a connection is accepted only
        by this task, when it runs (a cancellation cannot land between the accept and the code
        that owns the socket, as it can around ``loop.sock_accept``), and handed to
        ``open_connection``, which closes what it made if this task is cancelled meanwhile.
        """
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn = await _next_connection(loop, tcp)
            except OSError as exc:  # out of descriptors, ...: the backlog waits
                self._counters.socket_error(exc, "accept")
                await asyncio.sleep(_ACCEPT_RETRY)
                continue
            try:
                reader, writer = await asyncio.open_connection(sock=conn)
            except OSError as exc:  # the transport could not be made around it
                conn.close()
                self._counters.socket_error(exc, "accept")
                continue
            self._accept(reader, writer)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A connection accepted: served by one of the member's tasks, which ``close`` cancels
        and awaits.  The connection is closed when that task ends, however: a handler task the
        loop cancelled before its first step (at the end of ``asyncio.run``) never ran a line
        and left its connection open."""
        if self._closed:
            writer.close()
            return
        self._spawn(self._serve_exchange(reader, writer)).add_done_callback(
            lambda _: writer.close()
        )

    async def _serve_exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        core = self._require_core()
        task = asyncio.current_task()
        if self._closed or task is None:
            return
        peer = writer.get_extra_info("peername")
        now = asyncio.get_running_loop().time()
        slot = self._gate.admit(str(peer[0]) if peer else "?", now, task.cancel)
        try:
            async with asyncio.timeout(self.exchange_timeout) as deadline:
                stream = core.node.wire.stream
                limit = self.config.max_exchange_bytes
                account = functools.partial(self._gate.account, slot)
                data = await read_message(reader, stream, limit, account)
                self._gate.whole(slot)
                reply = core.serve_exchange(data)
                if reply is not None:
                    payload = framed(core.node, await _untimed(deadline, built(reply, _pause)))
                    deadline.reschedule(_later(self.exchange_timeout))
                    if payload:
                        writer.write(payload)
                        await writer.drain()
                # What the drain left of the reply goes out as the connection closes: in time.
                writer.close()
                await writer.wait_closed()
        except FrameError:
            self._counters.add(cn.DROPPED_EXCHANGE_OVERSIZED)
        except IncompleteMessage:
            self._counters.add(cn.DROPPED_EXCHANGE_TRUNCATED)
        except TimeoutError:
            self._counters.add(cn.DROPPED_EXCHANGE_TIMEOUT)
        except OSError as exc:
            self._counters.socket_error(exc, "tcp")
        except asyncio.CancelledError:
            pass  # the member is closing, or the gate evicted this exchange: end normally
        finally:
            self._gate.release(slot)
            # Closed already, or the exchange failed, timed out or was cancelled: whatever of
            # the reply is unsent is dropped now.  Left to a graceful close, a peer that never
            # read its reply kept the connection and the reply open with no end.
            writer.transport.abort()

    # ----------------------------------------------------------------------- discovery

    def _publish(self, address: Address) -> None:
        publisher = self._publisher
        if publisher is not None and publisher.want(address) and not self._closed:
            self._spawn(publisher.run(_to_thread, self._require_core().log))


#: How long the listener waits after a failed accept (out of descriptors) before trying again.
_ACCEPT_RETRY = 0.05


async def _next_connection(
    loop: asyncio.AbstractEventLoop, listener: socket.socket
) -> socket.socket:
    """The next connection waiting on ``listener`` (non-blocking), accepted in the caller's own
    step: a cancellation lands only while it waits, before anything is accepted."""
    while True:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            pass
        else:
            return conn
        readable: asyncio.Future[None] = loop.create_future()
        loop.add_reader(listener, _wake, readable)
        try:
            await readable
        finally:
            loop.remove_reader(listener)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _to_thread(function: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(function)


async def _pause() -> None:
    """One turn of the event loop (its ready I/O and timers run first)."""
    await asyncio.sleep(0)


def _later(seconds: float) -> float:
    """The loop's time ``seconds`` from now."""
    return asyncio.get_running_loop().time() + seconds


async def _untimed(deadline: asyncio.Timeout, building: Awaitable[bytes]) -> bytes:
    """``building``, out of ``deadline``'s reach: an exchange's timeout times the peer and the
    network, not this member's own work (a large table's snapshot), and restarts after it."""
    deadline.reschedule(None)
    return await building
