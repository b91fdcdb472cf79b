"""An asyncio member that frames its exchanges the way its wire profile says: memberlist's too.

The general asyncio driver carries the reliable exchange in length-prefixed frames.  memberlist
streams have no frames (a message ends where its msgpack values end), a reliable user message
has no reply, and a memberlist node may open a stream just to ping (its TCP fallback probe).
:class:`ProfileMember` handles all of that through the node's wire profile
(:attr:`swimcore.Node.wire`): ``wire.stream`` delimits messages and the memberlist profile's
``answer_stream`` answers pings without the node.  With the native profile it speaks the usual
length-prefixed frames, so the same class runs either kind of cluster.

One loop, aioquic-style: each datagram is fed to the node as it arrives, the actions are carried
out at once, and one ``loop.call_at`` stays armed for the node's next deadline.  UDP and TCP
share one port.  Usage::

    config = Config.lan(wire="memberlist")
    async with ProfileMember(config, "127.0.0.1:7946", seeds=["127.0.0.1:7947"]) as member:
        async for event in member.events():
            print(event)
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any

from swimcore import Action, Address, Config, ExchangeRequest, MemberInfo, Node, Send
from swimcore.errors import DecodeError
from swimcore.keyring import Keyring
from swimcore.wire.memberlist.profile import MemberlistWire

__all__ = ["ProfileMember"]

#: Inbound streams served at once; more are closed at once (counted).
MAX_INBOUND = 64
_READ = 65536


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, member: ProfileMember) -> None:
        self.member = member

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.member._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.member._count("driver.udp_errors")


def _address(text: Address | str) -> Address:
    return text if isinstance(text, Address) else Address.parse(text)


def _bind(bind: Address) -> tuple[socket.socket, socket.socket]:
    """A TCP listener and a UDP socket on one port (port 0: a free one for both)."""
    family = socket.AF_INET6 if bind.ip.version == 6 else socket.AF_INET
    for _ in range(20):
        tcp = socket.socket(family, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        udp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            tcp.bind((str(bind.ip), bind.port))
            udp.bind((str(bind.ip), int(tcp.getsockname()[1])))
        except OSError:
            tcp.close()
            udp.close()
            if bind.port:
                raise
            continue
        tcp.listen(128)
        tcp.setblocking(False)
        udp.setblocking(False)
        return tcp, udp
    raise OSError(f"no port free for both UDP and TCP on {bind.ip}")


class ProfileMember:
    """A group member on asyncio whose exchanges follow its wire profile (see the module).

    ``bind`` is ``"ip:port"`` (port 0 picks one), and the address it binds is the address
    advertised.  ``keyring`` turns encryption on.  ``close(leave=False)`` stops at once, as a
    crash looks to the group.
    """

    def __init__(
        self,
        config: Config,
        bind: Address | str = "127.0.0.1:0",
        *,
        name: str | None = None,
        meta: bytes = b"",
        seeds: Sequence[Address | str] = (),
        seed: int | random.Random | None = None,
        keyring: Keyring | None = None,
        exchange_timeout: float | None = None,
        max_events: int = 10_000,
    ) -> None:
        self.config = config
        self._bind = _address(bind)
        self._name = name
        self._meta = bytes(meta)
        self._seeds = [_address(s) for s in seeds]
        self._seed = seed
        self._keyring = keyring
        self.exchange_timeout = (
            max(2.0, 5 * config.probe_interval) if exchange_timeout is None else exchange_timeout
        )
        self._max_events = max_events
        self._node: Node | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed = float("inf")
        self._tasks: set[asyncio.Task[None]] = set()
        self._inbound = 0
        self._events: list[Action] = []
        self._waiters: list[asyncio.Event] = []
        self._counters: dict[str, int] = {}
        self._closed = False

    # ------------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> ProfileMember:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close(leave=exc is None)

    async def start(self) -> None:
        """Bind, start the node, and join ``seeds`` when there are any."""
        if self._node is not None:
            raise RuntimeError("this member was already started")
        loop = asyncio.get_running_loop()
        self._loop = loop
        tcp, udp = _bind(self._bind)
        address = Address(self._bind.ip, int(udp.getsockname()[1]))
        rng = random.Random() if self._seed is None else self._seed
        try:
            self._node = Node(
                self.config,
                address,
                name=self._name,
                meta=self._meta,
                seed=rng,
                keyring=self._keyring,
            )
            self._server = await asyncio.start_server(self._serve, sock=tcp)
            self._udp, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), sock=udp)
        except BaseException:
            tcp.close()
            udp.close()
            if self._server is not None:
                self._server.close()
            raise
        now = loop.time()
        node = self._node
        self._carry(node.join(self._seeds, now) if self._seeds else node.start(now))

    async def leave(self, linger: float | None = None) -> None:
        """Leave gracefully, then keep running ``linger`` seconds so the news spreads."""
        node = self._require()
        self._carry(node.leave(self._now()))
        await asyncio.sleep(max(1.0, 3 * self.config.probe_interval) if linger is None else linger)

    async def close(self, *, leave: bool = True) -> None:
        """Stop (leaving first unless ``leave`` is False), closing every socket and task."""
        if self._node is None or self._closed:
            return
        if leave and not self._node.has_left:
            await self.leave()
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._udp is not None:
            self._udp.close()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        for waiter in self._waiters:
            waiter.set()

    # -------------------------------------------------------------------------- queries

    @property
    def node(self) -> Node:
        return self._require()

    @property
    def address(self) -> Address:
        return self._require().address

    @property
    def name(self) -> str:
        return self._require().name

    def members(self) -> list[MemberInfo]:
        """Alive and suspect members, this one included."""
        return self._require().members()

    def member(self, name: str) -> MemberInfo | None:
        return self._require().member(name)

    def counters(self) -> dict[str, int]:
        """The node's counters and the driver's own (``driver.*``)."""
        return {**self._require().counters(), **self._counters}

    def set_metadata(self, meta: bytes) -> None:
        self._carry(self._require().set_metadata(meta, self._now()))

    def broadcast(self, key: str, payload: bytes) -> None:
        self._carry(self._require().broadcast(key, payload, self._now()))

    def send_message(self, name: str, payload: bytes, *, reliable: bool = False) -> None:
        node = self._require()
        self._carry(node.send_message(name, payload, self._now(), reliable=reliable))

    async def events(self) -> AsyncIterator[Action]:
        """Every event (membership changes, broadcasts, messages) from the start, in order."""
        seen = 0
        waiter = asyncio.Event()
        self._waiters.append(waiter)
        try:
            while True:
                while seen < len(self._events):
                    seen += 1
                    yield self._events[seen - 1]
                if self._closed:
                    return
                waiter.clear()
                await waiter.wait()
        finally:
            self._waiters.remove(waiter)

    def history(self) -> list[Action]:
        """Every event so far (at most ``max_events``, the oldest kept)."""
        return list(self._events)

    # ------------------------------------------------------------------------- the loop

    def _require(self) -> Node:
        if self._node is None:
            raise RuntimeError("start the member first")
        return self._node

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _count(self, key: str, amount: int = 1) -> None:
        self._counters[key] = self._counters.get(key, 0) + amount

    def _carry(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                if self._udp is not None and not self._closed:
                    self._udp.sendto(action.data, (str(action.to.ip), action.to.port))
            elif isinstance(action, ExchangeRequest):
                self._spawn(self._dial(action))
            elif len(self._events) < self._max_events:
                self._events.append(action)
            else:
                self._count("driver.dropped.events")
        if actions:
            for waiter in self._waiters:
                waiter.set()
        deadline = self._require().next_deadline()
        if deadline is not None and deadline < self._armed and not self._closed:
            assert self._loop is not None
            if self._timer is not None:
                self._timer.cancel()
            self._armed = deadline
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._armed = float("inf")
        if not self._closed:
            self._carry(self._require().tick(self._now()))

    def _on_datagram(self, data: bytes, source: tuple[Any, ...]) -> None:
        if self._closed:
            return
        try:
            address = Address(source[0], source[1])
        except ValueError:
            self._count("driver.dropped.bad_source")
            return
        self._carry(self._require().receive(data, address, self._now()))

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------------ exchanges

    async def _read_message(self, reader: asyncio.StreamReader) -> bytes | None:
        """One whole message as the profile frames it (``None``: closed before it was whole)."""
        framing = self._require().wire.stream
        limit = self.config.max_exchange_bytes
        message = framing.reader(limit)  # keeps its place: linear in the message's size
        seen = False
        while True:
            chunk = await reader.read(_READ)
            if not chunk:
                return framing.at_eof() if not seen else None
            seen = True
            found = message.feed(chunk)
            if found is not None:
                return found

    async def _dial(self, request: ExchangeRequest) -> None:
        node = self._require()
        try:
            async with asyncio.timeout(self.exchange_timeout):
                reader, writer = await asyncio.open_connection(str(request.to.ip), request.to.port)
                try:
                    writer.write(node.wire.stream.encode(request.data))
                    await writer.drain()
                    reply = await self._read_message(reader)
                finally:
                    writer.close()
                    with contextlib.suppress(OSError, asyncio.CancelledError):
                        await writer.wait_closed()
        except (TimeoutError, OSError, ValueError, DecodeError) as exc:
            if not self._closed:
                self._carry(
                    node.exchange_failed(request.exchange_id, type(exc).__name__, self._now())
                )
            return
        if self._closed:
            return
        if reply is None:
            self._carry(node.exchange_failed(request.exchange_id, "closed early", self._now()))
        else:
            self._carry(node.exchange_reply(request.exchange_id, reply, self._now()))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closed or self._inbound >= MAX_INBOUND:
            self._count("driver.dropped.exchange_busy")
            writer.close()
            return
        self._inbound += 1
        node = self._require()
        try:
            async with asyncio.timeout(self.exchange_timeout):
                data = await self._read_message(reader)
                if data is None or self._closed:
                    self._count("driver.dropped.exchange_truncated")
                    return
                wire = node.wire
                reply = wire.answer_stream(data) if isinstance(wire, MemberlistWire) else None
                if reply is None:
                    answer, actions = node.handle_exchange(data, self._now())
                    self._carry(actions)
                    reply = wire.stream.encode(answer) if answer else None
                else:
                    self._count("driver.stream_pings_answered")
                if reply:
                    writer.write(reply)
                    await writer.drain()
        except (ValueError, DecodeError):
            self._count("driver.dropped.exchange_malformed")
        except TimeoutError:
            self._count("driver.dropped.exchange_timeout")
        except OSError:
            self._count("driver.tcp_errors")
        finally:
            self._inbound -= 1
            writer.close()
