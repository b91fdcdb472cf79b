"""What is particular to the asyncio driver: plain ``asyncio.run`` use and its socket errors."""

from __future__ import annotations

import asyncio
import socket

import pytest
from support.configs import FAST
from support.leaks import resource_warnings
from support.poll import eventually

from swimcore import Address, JoinFailed
from swimcore.messages import PushPull
from swimcore.transports import AsyncioMember
from swimcore.transports.counters import Counters
from swimcore.transports.sockets import send_datagram
from swimcore.wire import LengthPrefixed
from swimcore.wire.native import codec

#: Application state that makes a push-pull (a join's request, or the reply to one) far larger
#: than what the sockets' buffers take from a peer that does not read.
LARGE_STATE = bytes(4_000_000)


def test_start_and_close_without_a_with_block() -> None:
    async def scenario() -> None:
        a = AsyncioMember(FAST, seed=1)
        await a.start()
        with pytest.raises(RuntimeError, match="already started"):
            await a.start()
        b = AsyncioMember(FAST, seeds=[str(a.address)], seed=2)
        await b.start()
        await eventually(lambda: len(a.members()) == 2, "a never saw b join")
        await b.close()
        await b.close()  # idempotent
        await a.close(leave=False)
        assert b.node.has_left and not a.node.has_left
        assert a.members()  # queries still answer after close

    asyncio.run(scenario())


def test_queries_before_start_say_what_to_do() -> None:
    member = AsyncioMember(FAST)
    with pytest.raises(RuntimeError, match="async with"):
        member.members()


def test_socket_errors_and_a_full_buffer_are_counted_never_fatal() -> None:
    async def scenario() -> None:
        async with (
            AsyncioMember(FAST, seed=1) as a,
            AsyncioMember(FAST, seeds=[a.address], seed=2) as b,
        ):
            await eventually(lambda: len(a.members()) == 2, "a never saw b join")
            # Every datagram goes through the driver's send hook: exercise its failure paths.
            a._send(Address.parse("[::1]:9"), b"ipv6 target on an IPv4 socket")
            a._send(b.address, b"x" * 70_000)  # larger than any UDP datagram
            await eventually(
                lambda: a.counters().get("driver.socket_errors", 0) >= 2,
                "the two failed sends were not counted as socket errors",
            )
            assert a._protocol is not None
            a._protocol.pause_writing()  # what asyncio calls when the socket buffer is full
            a._send(b.address, b"dropped")
            a._protocol.resume_writing()
            assert a.counters()["driver.dropped.send_buffer_full"] == 1
            # The member carries on.
            await eventually(
                lambda: a.counters().get("probes_acked", 0) >= 3, "a stopped probing b"
            )
            assert len(a.members()) == 2

    asyncio.run(scenario())


def test_a_join_through_a_dead_address_fails_reports_and_retries() -> None:
    async def scenario() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
            closed.bind(("127.0.0.1", 0))
            dead = Address(*closed.getsockname())
        async with AsyncioMember(FAST, seeds=[dead], seed=1) as lone:
            failures: list[JoinFailed] = []
            lone.on_event(lambda e: failures.append(e) if isinstance(e, JoinFailed) else None)
            await eventually(lambda: len(failures) >= 2, "the node did not retry its join")
            assert all(f.seed == dead for f in failures)
            assert lone.counters()["driver.exchange.failed_out"] >= 2
            assert [m.name for m in lone.members()] == [lone.name]

    asyncio.run(scenario())


def test_the_raw_socket_sender_counts_errors() -> None:
    counters = Counters()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.bind(("127.0.0.1", 0))
    target = sock.getsockname()
    send_datagram(sock, b"x" * 70_000, target, counters)  # EMSGSIZE
    send_datagram(sock, b"ok", target, counters)
    sock.close()
    send_datagram(sock, b"closed", target, counters)  # EBADF
    assert counters.get("socket_errors") == 2
    assert counters.get("socket_errors.send.EMSGSIZE") == 1
    assert counters.get("socket_errors.send.EBADF") == 1


def _deaf_socket() -> socket.socket:
    """A TCP socket with a small receive buffer, for a peer that does not read."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


def test_a_request_the_seed_never_reads_is_dropped_when_the_member_closes() -> None:
    """A join's push-pull (4 MB of application state) to a seed that accepts and never reads:
    the member closes at once and drops the connection.  Closed gracefully, the unsent request
    kept the socket open for as long as the seed did not read, past the member's close (and
    the close waited for the exchange timeout)."""
    with _deaf_socket() as seed:
        seed.bind(("127.0.0.1", 0))
        seed.listen()
        seed.settimeout(10.0)
        kept: list[socket.socket] = []
        elapsed: list[float] = []

        async def scenario() -> None:
            async with AsyncioMember(
                FAST,
                seeds=[Address(*seed.getsockname())],
                leave_on_exit=False,
                exchange_timeout=30.0,
                local_state=lambda join: LARGE_STATE,
            ) as member:
                conn, _ = await asyncio.to_thread(seed.accept)
                kept.append(conn)  # open and deaf until the run and the collector are done
                await asyncio.sleep(0.2)  # the request fills the buffers and waits
                loop = asyncio.get_running_loop()
                began = loop.time()
                await member.close()
                elapsed.append(loop.time() - began)

        try:
            assert resource_warnings(lambda: asyncio.run(scenario())) == []
        finally:
            for conn in kept:
                conn.close()
    assert elapsed[0] < 5.0


def test_a_reply_the_peer_never_reads_is_dropped_at_the_exchange_timeout() -> None:
    """A peer asks for a push-pull and never reads the reply (4 MB of application state): at
    the exchange timeout the member drops the connection and what was unsent of the reply.
    Closed gracefully, it kept both for as long as the peer did not read, past its close."""
    request = LengthPrefixed().encode(codec.encode_push_pull(PushPull("", False, ())))

    def read_all(sock: socket.socket) -> int:
        sock.settimeout(10.0)
        received = 0
        while chunk := sock.recv(65536):
            received += len(chunk)
        return received

    with _deaf_socket() as peer:

        async def scenario() -> tuple[int, dict[str, int]]:
            async with AsyncioMember(
                FAST,
                leave_on_exit=False,
                exchange_timeout=0.3,
                local_state=lambda join: LARGE_STATE,
            ) as member:
                peer.connect((str(member.address.ip), member.address.port))
                peer.sendall(request)
                await eventually(
                    lambda: member.counters().get("driver.dropped.exchange_timeout", 0) == 1,
                    "the unread reply did not time out",
                )
                # What the sockets' buffers held, then the end: not the whole reply.
                received = await asyncio.to_thread(read_all, peer)
                return received, member.counters()

        outcome: list[tuple[int, dict[str, int]]] = []
        assert resource_warnings(lambda: outcome.append(asyncio.run(scenario()))) == []
    received, counters = outcome[0]
    whole = len(LARGE_STATE)
    assert received < whole
    assert counters["driver.dropped.exchange_timeout"] == 1


@pytest.mark.parametrize("turns", range(8))
def test_a_dial_cancelled_at_any_turn_leaves_nothing_open(turns: int) -> None:
    """The member closes ``turns`` turns of the loop after it started an exchange: in the task
    before its first step, in the connect, as asyncio makes the transport, in the write or the
    wait for the reply.  Nothing is left open (asyncio closes what ``open_connection`` made when
    it is cancelled; the driver closes the rest)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections wait in its backlog, never answered

        async def scenario() -> None:
            member = AsyncioMember(FAST, seed=1, leave_on_exit=False)
            await member.start()
            await member.join([Address(*silent.getsockname())])
            for _ in range(turns):
                await asyncio.sleep(0)
            await member.close()

        assert resource_warnings(lambda: asyncio.run(scenario())) == []
