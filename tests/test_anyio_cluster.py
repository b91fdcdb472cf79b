"""Real loopback clusters on every async driver: the asyncio driver, and anyio on asyncio and trio.

Each test runs three times: ``AsyncioMember`` (under anyio's asyncio backend, which is plain
asyncio), and ``AnyioMember`` on the asyncio and on the trio backend.  Sockets are real UDP and
TCP on 127.0.0.1 (and ::1 where it exists); nothing here asserts on timing, only on outcomes
reached within generous bounds.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from support.configs import fast
from support.net import ipv6_loopback
from support.poll import eventually

from swimcore import (
    Address,
    AddressError,
    Config,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    State,
    refusals,
)
from swimcore.transports import AnyioMember, AsyncioMember
from swimcore.wire import LengthPrefixed

pytestmark = pytest.mark.anyio

#: support's FAST with frequent anti-entropy (so a member that missed a piece of news catches
#: up well before its own suspicion would expire), more retransmissions and shorter suspicions.
CATCH_UP = fast(retransmit_mult=4, suspicion_max_mult=3, push_pull_interval=1.0)
#: A deadline for the twenty-member cluster on a loaded machine.
BIG = 20.0

DRIVERS = [
    pytest.param(("asyncio-driver", "asyncio"), id="asyncio-driver"),
    pytest.param(("anyio", "asyncio"), id="anyio-asyncio"),
    pytest.param(("anyio", "trio"), id="anyio-trio"),
]

Member = AsyncioMember | AnyioMember


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> tuple[str, str]:
    value: tuple[str, str] = request.param
    return value


@pytest.fixture
def anyio_backend(driver: tuple[str, str]) -> str:
    return driver[1]


@pytest.fixture
def make(driver: tuple[str, str]) -> Callable[..., Member]:
    def build(config: Config = CATCH_UP, **kwargs: Any) -> Member:
        kwargs.setdefault("seed", 1)
        if driver[0] == "asyncio-driver":
            return AsyncioMember(config, **kwargs)
        return AnyioMember(config, **kwargs)

    return build


def state_of(member: Member, name: str) -> State | None:
    info = member.member(name)
    return None if info is None else info.state


def names(member: Member) -> list[str]:
    return sorted(m.name for m in member.members())


async def test_twenty_members_converge_detect_a_crash_a_leave_and_a_restart(
    make: Callable[..., Member],
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        first: Member = await stack.enter_async_context(make(seed=0))
        members = [first]
        for i in range(1, 20):
            members.append(await stack.enter_async_context(make(seeds=[first.address], seed=i)))
        everyone = sorted(m.name for m in members)
        await eventually(
            lambda: all(names(m) == everyone for m in members), "the 20 never converged", BIG
        )

        events: dict[str, list[object]] = {m.name: [] for m in members}
        for m in members:
            m.on_event(events[m.name].append)

        # A crash: stopped without leaving.  Every survivor declares it dead (failed, not left).
        crashed = members[7]
        crashed_address, crashed_incarnation = crashed.address, crashed.incarnation
        await crashed.close(leave=False)
        survivors = [m for m in members if m is not crashed]
        await eventually(
            lambda: all(state_of(m, crashed.name) is State.DEAD for m in survivors),
            "not every survivor declared the crashed member dead",
            BIG,
        )
        assert all(
            any(isinstance(e, MemberFailed) and e.member.name == crashed.name for e in events[n])
            for n in (m.name for m in survivors)
        )

        # A graceful leave: every survivor sees it as left, none as failed.
        leaver = members[12]
        await leaver.close()
        survivors = [m for m in survivors if m is not leaver]
        await eventually(
            lambda: all(state_of(m, leaver.name) is State.LEFT for m in survivors),
            "not every survivor saw the leave",
            BIG,
        )
        for m in survivors:
            mine = [e for e in events[m.name] if getattr(e, "member", None) is not None]
            assert any(isinstance(e, MemberLeft) and e.member.name == leaver.name for e in mine)
            assert not any(
                isinstance(e, MemberFailed) and e.member.name == leaver.name for e in mine
            )

        # The crashed member restarts on the same address and rejoins above its old incarnation.
        restarted: Member = await stack.enter_async_context(
            make(bind=crashed_address, seeds=[first.address], seed=99)
        )
        assert restarted.address == crashed_address
        assert restarted.name == crashed.name
        await eventually(
            lambda: all(
                (info := m.member(crashed.name)) is not None
                and info.state is State.ALIVE
                and info.incarnation > crashed_incarnation
                for m in survivors
            ),
            "not every survivor took the restarted member back at a higher incarnation",
            BIG,
        )
        assert restarted.incarnation > crashed_incarnation
        assert all(
            any(isinstance(e, MemberJoined) and e.member.name == crashed.name for e in events[n])
            for n in (m.name for m in survivors)
        )
        expected = sorted(m.name for m in [*survivors, restarted])
        await eventually(
            lambda: names(restarted) == expected, "the restarted member never saw everyone", BIG
        )


async def test_a_member_of_another_group_never_appears(make: Callable[..., Member]) -> None:
    blue_config = fast(push_pull_interval=1.0, label="blue")
    green_config = fast(push_pull_interval=1.0, label="green")
    async with (
        make(blue_config, seed=1) as blue_a,
        make(blue_config, seeds=[blue_a.address], seed=2) as blue_b,
        make(green_config, seeds=[blue_a.address], seed=3) as green,
    ):
        await eventually(
            lambda: len(blue_a.members()) == 2 and len(blue_b.members()) == 2,
            "the two blue members never found each other",
        )
        # Give the green member time to try (join exchanges, retries); it stays alone.
        await eventually(
            lambda: blue_a.counters().get("dropped.foreign_label", 0) >= 1,
            "no datagram of the green member was dropped as foreign",
            timeout=10.0,
        )
        await anyio.sleep(1.0)
        for m in (blue_a, blue_b):
            assert green.name not in names(m)
            assert m.member(green.name) is None
        assert names(green) == [green.name]


async def test_junk_datagrams_and_streams_are_dropped_counted_and_survived(
    make: Callable[..., Member],
) -> None:
    async with make(seed=1) as a, make(seeds=[a.address], seed=2) as b:
        await eventually(
            lambda: len(a.members()) == 2 and len(b.members()) == 2, "a and b never converged"
        )
        host, port = str(a.address.ip), a.address.port
        before = a.counters()

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for junk in (b"", b"\x00", b"garbage" * 10, bytes(range(256)) * 8, b"\xff" * 3000):
                udp.sendto(junk, (host, port))

        async def stream(payload: bytes, *, wait_reply: bool = False) -> bytes:
            async with await anyio.connect_tcp(host, port) as conn:
                if payload:
                    await conn.send(payload)
                if not wait_reply:
                    return b""
                chunks = b""
                with anyio.move_on_after(5):
                    with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                        while True:
                            chunks += await conn.receive()
                return chunks

        await stream((2**31).to_bytes(4, "big"))  # announces 2 GiB: refused before any read
        await stream((100).to_bytes(4, "big") + b"short")  # closed before the frame ends
        reply = await stream(LengthPrefixed().encode(b"\x01not an exchange"), wait_reply=True)
        # A malformed exchange gets no state back: at most a refusal that says why.
        assert reply == b"" or refusals.decode(reply[4:]) is not None, reply
        await stream(b"")  # connects and hangs up at once

        def counted() -> bool:
            after = a.counters()
            return (
                after.get("dropped.malformed", 0) > before.get("dropped.malformed", 0)
                and after.get("driver.dropped.exchange_oversized", 0) >= 1
                and after.get("driver.dropped.exchange_truncated", 0) >= 2
                and after.get("dropped.malformed_exchange", 0) >= 1
            )

        await eventually(counted, "the garbage was not counted by kind", timeout=10.0)
        # Still a member, still answering: the peer is kept and a newcomer can join through it.
        assert names(a) == sorted([a.name, b.name])
        async with make(seeds=[a.address], seed=3) as c:
            await eventually(
                lambda: len(c.members()) == 3 and len(a.members()) == 3,
                "the newcomer never joined through a",
            )
        await eventually(lambda: state_of(a, b.name) is State.ALIVE, "a lost b")


async def test_binding_rules_ports_and_ipv6(make: Callable[..., Member]) -> None:
    with pytest.raises(AddressError, match="advertise"):
        make(bind="0.0.0.0:0")
    with pytest.raises(AddressError):
        make(bind="127.0.0.1:0", advertise="0.0.0.0:7946")
    async with make(bind="0.0.0.0:0", advertise="127.0.0.1:0") as wildcard:
        assert wildcard.address.ip == Address("127.0.0.1", 1).ip
        assert wildcard.address.port != 0
        async with make(seeds=[wildcard.address]) as peer:
            await eventually(
                lambda: len(wildcard.members()) == 2, "a member bound to 0.0.0.0 never joined"
            )
            assert peer.address.port != wildcard.address.port
            # Two members can never share a port: the second bind fails at once.
            with pytest.raises(OSError):
                async with make(bind=peer.address):
                    pass
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    async with make(bind="[::1]:0") as six_a, make(bind="[::1]:0", seeds=[six_a.address]) as six_b:
        assert six_a.address.ip.version == 6
        await eventually(
            lambda: len(six_a.members()) == 2 and len(six_b.members()) == 2,
            "the two ::1 members never converged",
        )


async def test_events_iterate_in_order_and_end_when_the_member_closes(
    make: Callable[..., Member],
) -> None:
    async with make(seed=1) as a:
        stream = a.events()
        seen: list[object] = []
        stop_seeing = a.on_event(seen.append)
        async with make(seeds=[a.address], seed=2) as b:
            first = None
            with anyio.fail_after(10):
                async for event in stream:
                    if isinstance(event, MemberJoined):
                        first = event
                        break
            assert first is not None and first.member.name == b.name
            stop_seeing()
        count = len(seen)
        await a.close()
        rest = [event async for event in stream]  # ends: the member closed
        assert all(not isinstance(e, MemberJoined) for e in rest)
        assert len(seen) == count  # the removed callback heard nothing more
        assert any(isinstance(e, MemberJoined) for e in seen)


async def test_leave_spreads_and_counters_include_the_driver(make: Callable[..., Member]) -> None:
    async with make(seed=1) as a, make(seeds=[a.address], seed=2) as b:
        await eventually(
            lambda: len(a.members()) == 2 and len(b.members()) == 2, "a and b never converged"
        )
        await b.leave()
        assert b.node.has_left
        await eventually(lambda: state_of(a, b.name) is State.LEFT, "a never saw b leave")
        counters = a.counters()
        assert counters["driver.exchange.served_in"] >= 1
        assert all(isinstance(v, int) for v in counters.values())
