"""The asyncio driver's own bounds on real sockets: reliable exchanges, pressed from outside.

A hostile peer on the TCP side can announce a huge frame, open connections and send nothing,
or open more connections than the driver serves at once.  Each is refused and counted
(``driver.dropped.exchange_oversized``, ``..._timeout``, ``..._busy``), the member keeps
serving honest exchanges afterwards, and the process's traced memory does not grow with the
number of hostile connections.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import struct
import tracemalloc

from support.configs import fast
from support.poll import eventually

from swimcore import Address, Config
from swimcore.messages import MemberState, PushPull, State
from swimcore.transports import AsyncioMember
from swimcore.transports.exchange import MAX_INBOUND
from swimcore.wire import LengthPrefixed
from swimcore.wire.native import codec

#: Loopback timings with a small exchange limit, so that an oversized frame is cheap to send.
CAPPED = fast(max_exchange_bytes=64 * 1024)


async def _exchange(member: AsyncioMember, payload: bytes) -> bytes:
    """One honest exchange: send a framed snapshot, read the framed reply."""
    reader, writer = await asyncio.open_connection(str(member.address.ip), member.address.port)
    try:
        writer.write(LengthPrefixed().encode(payload))
        await writer.drain()
        (length,) = struct.unpack(">I", await reader.readexactly(4))
        return await reader.readexactly(length)
    finally:
        writer.close()
        await writer.wait_closed()


def _snapshot(rows: int = 1, meta: int = 0) -> bytes:
    members = tuple(
        MemberState(f"s{i}", Address("127.0.0.1", 20000 + i), 0, State.ALIVE, bytes(meta))
        for i in range(rows)
    )
    return codec.encode_push_pull(PushPull("", False, members))


def test_an_announced_frame_over_max_exchange_bytes_is_refused_unread() -> None:
    async def main() -> dict[str, int]:
        async with AsyncioMember(CAPPED, leave_on_exit=False) as member:
            for _ in range(5):
                reader, writer = await asyncio.open_connection(
                    str(member.address.ip), member.address.port
                )
                writer.write(struct.pack(">I", CAPPED.max_exchange_bytes + 1))
                await writer.drain()
                assert await reader.read() == b"", "the member closed without reading on"
                writer.close()
                await writer.wait_closed()
            reply = await _exchange(member, _snapshot())
            assert codec.decode_push_pull(reply).members
            return member.counters()

    counters = asyncio.run(main())
    assert counters["driver.dropped.exchange_oversized"] == 5
    assert counters["driver.exchange.served_in"] == 1


def test_a_silent_connection_is_cut_after_the_exchange_timeout() -> None:
    async def main() -> dict[str, int]:
        async with AsyncioMember(CAPPED, exchange_timeout=0.3, leave_on_exit=False) as member:
            reader, writer = await asyncio.open_connection(
                str(member.address.ip), member.address.port
            )
            writer.write(b"\x00\x00")  # half a header, then nothing
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), timeout=10.0) == b""
            writer.close()
            await writer.wait_closed()
            return member.counters()

    counters = asyncio.run(main())
    assert counters["driver.dropped.exchange_timeout"] == 1


def test_connections_past_the_inbound_limit_evict_the_oldest_and_memory_stays_flat() -> None:
    limit = MAX_INBOUND

    async def main() -> tuple[dict[str, int], list[int]]:
        async with AsyncioMember(CAPPED, exchange_timeout=30.0, leave_on_exit=False) as member:
            host, port = str(member.address.ip), member.address.port
            opened = [await asyncio.open_connection(host, port) for _ in range(limit)]
            # White-box: wait until the driver really holds ``limit`` connections open.
            await eventually(
                lambda: len(member._gate) == limit, f"the driver never held {limit} connections"
            )
            assert member.counters().get("driver.dropped.exchange_evicted", 0) == 0
            sizes = []

            def evicted_reached(count: int) -> bool:
                return member.counters().get("driver.dropped.exchange_evicted", 0) == count

            tracemalloc.start()
            try:
                for batch in range(4):
                    opened += [await asyncio.open_connection(host, port) for _ in range(50)]
                    evicted = 50 * (batch + 1)
                    await eventually(
                        functools.partial(evicted_reached, evicted),
                        f"{evicted} connections were not counted as evicted",
                    )
                    assert len(member._gate) == limit
                    # The oldest 50 were closed by the member: end of stream at once.
                    for reader, writer in opened[:50]:
                        assert await asyncio.wait_for(reader.read(), 10.0) == b""
                        writer.close()
                        await writer.wait_closed()
                    del opened[:50]
                    gc.collect()
                    sizes.append(tracemalloc.get_traced_memory()[0])
            finally:
                tracemalloc.stop()
            for _, writer in opened:
                writer.close()
                await writer.wait_closed()
            await eventually(lambda: len(member._gate) == 0, "connections still held after close")
            reply = await _exchange(member, _snapshot())  # honest service resumes
            assert codec.decode_push_pull(reply).members
            return member.counters(), sizes

    counters, sizes = asyncio.run(main())
    assert counters["driver.dropped.exchange_evicted"] == 200
    assert max(sizes) - sizes[0] < 256 * 1024, f"traced memory grew: {sizes}"


def test_a_snapshot_over_the_bound_in_a_valid_frame_is_refused_by_the_node() -> None:
    """A frame under the driver's limit still holds a snapshot the node checks itself."""
    config = Config.local(max_exchange_bytes=4096)

    async def main() -> dict[str, int]:
        async with AsyncioMember(config, leave_on_exit=False) as member:
            reply = await _exchange(member, _snapshot(rows=3))
            assert reply
            reader, writer = await asyncio.open_connection(
                str(member.address.ip), member.address.port
            )
            big = _snapshot(rows=30, meta=200)  # > 4096 bytes: frame refused
            writer.write(LengthPrefixed().encode(big))
            await writer.drain()
            assert await reader.read() == b""
            writer.close()
            await writer.wait_closed()
            return member.counters()

    counters = asyncio.run(main())
    assert counters["driver.dropped.exchange_oversized"] == 1
    assert counters["members"] == 1 + 3
