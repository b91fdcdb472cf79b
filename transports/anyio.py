"""The anyio driver: one implementation for the asyncio and trio backends.

One task owns the UDP socket and runs the node's loop: wait until the socket is readable or the
node's next deadline passes (a cancel scope whose deadline other tasks pull earlier when their
input brings the deadline forward), read every queued datagram, feed them, tick, repeat.  It
reads the raw non-blocking socket itself, so no datagram waits in a library buffer (anyio's own
UDP socket keeps at most 100 on asyncio), and it is the task that closes the socket.  TCP
exchanges run in tasks of the member's task group, each closing its own stream; the task that
runs them closes the listening socket.  Time is ``anyio.current_time()`` (trio's clock starts
at a random offset: nothing here assumes it starts near 0).

Usage (on either backend)::

    async with AnyioMember(Config.lan(), bind="127.0.0.1:0", seeds=[...]) as member:
        await member.send("other", b"hello", reliable=True)   # DeliveryError if it cannot
        async for event in member.events():
            ...

Records go to ``swimcore.transports.anyio`` (this driver) and ``swimcore.core`` (the node).
"""

from __future__ import annotations

import functools
import math
import socket
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel

from swimcore import Address, DeliveryError, ExchangeRequest
from swimcore import counter_names as cn
from swimcore._inputs import as_bytes
from swimcore.transports.events import EVENT_BUFFER, EventStream
from swimcore.transports.exchange import (
    FrameError,
    InboundSlot,
    IncompleteMessage,
    MessageAssembler,
    built,
    failure_reason,
    framed,
    inbound_gate,
)
from swimcore.transports.member import MemberBase, MemberCore, wait_for_leave
from swimcore.transports.sockets import as_addresses, drain, send_datagram, sockaddr
from swimcore.wire import StreamFraming

__all__ = ["AnyioMember"]

_STREAM_ERRORS = (
    OSError,
    TimeoutError,
    FrameError,
    IncompleteMessage,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
)


class AnyioMember(MemberBase):
    """A group member on anyio (asyncio or trio backend); same surface as ``AsyncioMember``.

    Takes a :class:`~swimcore.Config`, the address to bind and the rest of
    :class:`~swimcore.transports.MemberOptions` (``options=`` or keyword arguments).  Leaving
    the ``async with`` block leaves gracefully (``leave_on_exit``, at most ``leave_timeout``,
    shielded from cancellation), then cancels the member's tasks, each of which closes what it
    owns.
    """

    _START_HINT = "use it as `async with member:` (it runs in the task group that opens)"

    driver = "anyio"

    _flag = anyio.Event

    def _setup(self) -> None:
        self._udp: socket.socket | None = None
        self._outer: anyio.abc.TaskGroup | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._run_scope: anyio.CancelScope | None = None
        self._wait_scope: anyio.CancelScope | None = None
        self._stopped: anyio.Event | None = None
        self._gate = inbound_gate(self.config.max_exchange_bytes, self._counters.add)

    # ------------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> AnyioMember:
        self._check_unstarted()
        udp, tcp, node = self._bind()
        self._stopped = anyio.Event()
        self._attach(
            node,
            anyio.current_time,
            send=self._send,
            exchange=self._start_exchange,
            rearm=self._rearm,
            publish=self._publish,
        )
        outer = anyio.create_task_group()
        await outer.__aenter__()
        self._outer = outer
        try:
            await outer.start(self._run, udp, tcp)
        except BaseException as exc:
            self._outer = None
            await outer.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        with anyio.CancelScope(shield=True):
            await self._stop(leave=None)
        outer, self._outer = self._outer, None
        if outer is None:
            return None
        return await outer.__aexit__(exc_type, exc, tb)

    async def _run(
        self,
        udp: socket.socket,
        tcp: socket.socket,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Owns both sockets: runs the member's tasks, then closes what they used."""
        core = self._require_core()
        try:
            with anyio.CancelScope() as scope:
                self._run_scope = scope
                async with anyio.create_task_group() as tasks:
                    self._task_group = tasks
                    self._udp = udp
                    tasks.start_soon(self._udp_loop, udp)
                    tasks.start_soon(self._serve, tcp)
                    core.start(self.options.addresses)
                    tasks.start_soon(self._discover, anyio.sleep, _to_thread)
                    task_status.started()
        finally:
            self._task_group = None
            self._udp = None
            core.stop()
            udp.close()
            tcp.close()
            if self._stopped is not None:
                self._stopped.set()

    async def leave(self) -> None:
        """Leave gracefully; returns once the news went out (at most ``leave_timeout``)."""
        await wait_for_leave(self._require_open(), self.leave_timeout, anyio.sleep)

    async def join(self, seeds: Sequence[Address | str]) -> None:
        """Join (again) through ``seeds``; the node retries them while it is alone."""
        self._require_open().join(as_addresses(seeds))

    async def close(self, *, leave: bool | None = None) -> None:
        """Stop inside the ``async with`` block: leave first unless ``leave`` is False.

        ``close(leave=False)`` stops silently, as a crash would look to the group.  Returns
        once every socket is closed; the block's end then has nothing left to do.  Cancelled
        while it leaves, it still stops the member (without waiting for the news to spread).
        """
        try:
            await self._stop(leave=leave)
        finally:
            # Cancelled or not, the member is stopped by now: wait (a moment) for its tasks to
            # close their sockets, as on every driver.
            if self._closed and self._stopped is not None:
                with anyio.CancelScope(shield=True):
                    await self._stopped.wait()

    async def _stop(self, *, leave: bool | None) -> None:
        core = self._core
        if core is None or self._closed:
            return
        try:
            if self.leave_on_exit if leave is None else leave:
                with anyio.move_on_after(self.leave_timeout + 1.0):
                    await self.leave()
        finally:
            # A cancelled leave cuts only the wait for the news to spread: the member stops.
            if not self._closed:
                self._closed = True
                core.stop()
                if self._run_scope is not None:
                    self._run_scope.cancel()

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
        outcome: list[DeliveryError | None] = []
        settled = anyio.Event()

        def done(error: DeliveryError | None) -> None:
            if not outcome:
                outcome.append(error)
                settled.set()

        exchange_id = core.send_message(
            name, as_bytes(payload, "message payload"), reliable=reliable, done=done
        )
        try:
            with anyio.move_on_after(self.exchange_timeout + 1.0):
                await settled.wait()
        finally:
            core.forget_message(exchange_id)
        if not outcome:
            raise DeliveryError(name, "timeout")
        if outcome[0] is not None:
            raise outcome[0]

    def events(self, maxsize: int = EVENT_BUFFER) -> EventStream:
        """Every event from now on (membership changes, leader, broadcasts), in order."""
        return self._event_stream(maxsize)

    # ------------------------------------------------------------------------ the loop

    async def _udp_loop(self, sock: socket.socket) -> None:
        """Waits for datagrams or the node's next deadline, whichever comes first."""
        core = self._require_core()
        try:
            while True:
                deadline = core.node.next_deadline()
                due = math.inf if deadline is None else deadline
                if due <= anyio.current_time():
                    core.tick(due)
                    # Timers can fall due back to back (a large exchange is merged a slice per
                    # timer): the datagrams and tasks waiting meanwhile go first.
                    drain(sock, core.receive, self._counters)
                    await anyio.lowlevel.checkpoint()
                    continue
                with anyio.CancelScope(deadline=due) as scope:
                    self._wait_scope = scope
                    await anyio.wait_readable(sock)
                self._wait_scope = None
                if scope.cancelled_caught:
                    core.tick(scope.deadline)
                else:
                    drain(sock, core.receive, self._counters)
        finally:
            self._wait_scope = None

    def _rearm(self, deadline: float) -> None:
        scope = self._wait_scope
        if scope is not None and deadline < scope.deadline:
            scope.deadline = deadline

    def _send(self, to: Address, data: bytes) -> None:
        sock = self._udp
        if sock is None:
            self._counters.add(cn.DROPPED_SEND_CLOSED)
            return
        send_datagram(sock, data, sockaddr(to), self._counters)

    # ----------------------------------------------------------------------- exchanges

    def _start_exchange(self, request: ExchangeRequest) -> None:
        if self._task_group is None:
            self._require_core().exchange_failed(request.exchange_id, "not running")
            return
        self._task_group.start_soon(self._dial, request)

    async def _dial(self, request: ExchangeRequest) -> None:
        core = self._require_core()
        limit = self.config.max_exchange_bytes
        host, port = sockaddr(request.to)
        try:
            with anyio.fail_after(self.exchange_timeout) as deadline:
                async with await anyio.connect_tcp(host, port) as stream:
                    payload = await _untimed(deadline, built(request.outgoing, _pause))
                    deadline.deadline = anyio.current_time() + self.exchange_timeout
                    await stream.send(framed(core.node, payload))
                    reply = await _read_message(stream, core.node.wire.stream, limit)
        except _STREAM_ERRORS as exc:
            if not self._closed:
                core.exchange_failed(request.exchange_id, failure_reason(exc))
            return
        if not self._closed:
            core.exchange_reply(request.exchange_id, reply)

    async def _serve(self, tcp: socket.socket) -> None:
        """Accepts exchanges on ``tcp`` until cancelled (``_run`` closes it afterwards)."""
        # Streams accepted but not yet owned by their handler: a handler cancelled before its
        # first step never runs, so the stream is closed here instead.
        unowned: set[anyio.abc.SocketStream] = set()
        try:
            async with anyio.create_task_group() as handlers:
                while True:
                    try:
                        stream = await _next_stream(tcp)
                    except (OSError, anyio.BrokenResourceError) as exc:
                        if isinstance(exc, OSError):
                            self._counters.socket_error(exc, "accept")
                        await anyio.sleep(0.05)
                        continue
                    scope = anyio.CancelScope()
                    peer = stream.extra(anyio.abc.SocketAttribute.remote_address, ("?",))
                    source = str(peer[0]) if isinstance(peer, tuple) else str(peer)
                    slot = self._gate.admit(source, anyio.current_time(), scope.cancel)
                    unowned.add(stream)
                    handlers.start_soon(self._serve_one, stream, scope, slot, unowned)
        finally:
            with anyio.CancelScope(shield=True):
                for stream in unowned:
                    await stream.aclose()

    async def _serve_one(
        self,
        stream: anyio.abc.SocketStream,
        scope: anyio.CancelScope,
        slot: InboundSlot,
        unowned: set[anyio.abc.SocketStream],
    ) -> None:
        unowned.discard(stream)
        core = self._require_core()
        try:
            with scope:
                async with stream:
                    await self._answer(core, stream, slot)
        except FrameError:
            self._counters.add(cn.DROPPED_EXCHANGE_OVERSIZED)
        except IncompleteMessage:
            self._counters.add(cn.DROPPED_EXCHANGE_TRUNCATED)
        except TimeoutError:
            self._counters.add(cn.DROPPED_EXCHANGE_TIMEOUT)
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            if isinstance(exc, OSError):
                self._counters.socket_error(exc, "tcp")
            else:
                self._counters.add(cn.SOCKET_ERRORS)
        finally:
            self._gate.release(slot)

    async def _answer(
        self, core: MemberCore, stream: anyio.abc.SocketStream, slot: InboundSlot
    ) -> None:
        with anyio.fail_after(self.exchange_timeout) as deadline:
            limit = self.config.max_exchange_bytes
            account = functools.partial(self._gate.account, slot)
            data = await _read_message(stream, core.node.wire.stream, limit, account)
            self._gate.whole(slot)
            reply = core.serve_exchange(data)
            if reply is not None:
                payload = framed(core.node, await _untimed(deadline, built(reply, _pause)))
                deadline.deadline = anyio.current_time() + self.exchange_timeout
                if payload:
                    await stream.send(payload)

    # ----------------------------------------------------------------------- discovery

    def _publish(self, address: Address) -> None:
        publisher = self._publisher
        if publisher is None or self._task_group is None or self._closed:
            return
        if publisher.want(address):
            self._task_group.start_soon(publisher.run, _to_thread, self._require_core().log)


async def _next_stream(listener: socket.socket) -> anyio.abc.SocketStream:
    """The next connection waiting on ``listener`` (non-blocking), accepted in the caller's own
    step and owned by it from then on: a cancellation lands only while it waits, before anything
    is accepted, or while the stream is made, which closes the connection.

    Not anyio's ``SocketListener.accept``: on asyncio it waits in ``loop.sock_accept``, whose
    callback accepts the connection in a turn of the loop of its own; a wait cancelled in that
    turn before the callback ran left it to fail on the cancelled future (InvalidStateError, in
    the loop's handler) with the accepted connection open and owned by nothing.
    """
    while True:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            await anyio.wait_readable(listener)
            continue
        try:
            return await anyio.abc.SocketStream.from_socket(conn)
        except BaseException:
            conn.close()
            raise


async def _to_thread(function: Callable[[], Any]) -> Any:
    return await anyio.to_thread.run_sync(function, abandon_on_cancel=True)


async def _pause() -> None:
    """One turn of the event loop (its ready I/O and timers run first)."""
    await anyio.lowlevel.checkpoint()


async def _untimed(deadline: anyio.CancelScope, building: Awaitable[bytes]) -> bytes:
    """``building``, out of ``deadline``'s reach: an exchange's timeout times the peer and the
    network, not this member's own work (a large table's snapshot), and restarts after it."""
    deadline.deadline = math.inf
    return await building


async def _read_message(
    stream: anyio.abc.SocketStream,
    framing: StreamFraming,
    limit: int,
    account: Callable[[int], None] | None = None,
) -> bytes:
    """One whole message as ``framing`` delimits it.

    Raises :class:`FrameError` or :class:`IncompleteMessage`.
    """
    message = MessageAssembler(framing, limit, account)
    while True:
        try:
            chunk = await stream.receive()
        except anyio.EndOfStream:
            return message.end()
        found = message.feed(chunk)
        if found is not None:
            return found
