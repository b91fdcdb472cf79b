"""Every driver on every wire profile: the same story, so each behaviour is a parity check.

Three members of one driver on loopback join, carry a reliable message, detect a crash and see
a graceful leave, on the native wire and on both memberlist wires (the Go interop test runs the
same drivers against a real memberlist node).  Also: what every driver's constructor accepts
and refuses, and the misuse errors, on every driver.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import socket
import threading
import tracemalloc
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from support.configs import FAST, fast
from support.leaks import record_loop_errors, resource_warnings
from support.matrix import Driver
from support.poll import eventually

from swimcore import (
    Address,
    AddressError,
    ConfigError,
    JoinFailed,
    MemberFailed,
    MemberLeft,
    MemberUpdated,
    MessageReceived,
    StateError,
)
from swimcore.transports import MemberOptions
from swimcore.transports.discovery import HostStore, StaticStore


def names_of(events: list[Any], kind: type[Any]) -> set[str]:
    return {event.member.name for event in events if isinstance(event, kind)}


def test_each_driver_joins_messages_detects_a_crash_and_a_leave_on_each_wire(
    driver: Driver, wire: str
) -> None:
    config = fast(wire)

    async def story(driver: Driver) -> None:
        seen: list[Any] = []
        async with driver.member(config, name="a", leave_on_exit=False) as a:
            a.on_event(seen.append)
            async with (
                driver.member(config, name="b", seeds=[a.address]) as b,
                driver.member(config, name="c", seeds=[a.address]) as c,
            ):
                await eventually(
                    lambda: all(len(m.members()) == 3 for m in (a, b, c)),
                    f"{driver.id}/{wire}: three members did not converge",
                )
                await b.send("a", b"over the exchange", reliable=True)
                await eventually(
                    lambda: any(
                        isinstance(e, MessageReceived) and e.payload == b"over the exchange"
                        for e in seen
                    ),
                    f"{driver.id}/{wire}: the reliable message did not arrive",
                )
                await c.close(leave=False)  # a crash, as the group sees it
                await eventually(
                    lambda: "c" in names_of(seen, MemberFailed),
                    f"{driver.id}/{wire}: the crash of c was not detected",
                )
            # b left on leaving its block
            await eventually(
                lambda: "b" in names_of(seen, MemberLeft),
                f"{driver.id}/{wire}: b's leave was not seen",
            )
            assert "b" not in names_of(seen, MemberFailed)
            assert [m.name for m in a.members()] == ["a"]

    driver.run(story)


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"bind": "not an address"}, AddressError, "not an address"),
        ({"bind": "0.0.0.0:0"}, AddressError, "advertise="),
        ({"seeds": "127.0.0.1:7946"}, AddressError, "single value"),
        ({"seeds": ["127.0.0.1:0"]}, AddressError, "1..65535"),
        ({"seeds": ["0.0.0.0:7946"]}, AddressError, "0.0.0.0"),
        ({"seeds": ["db:notaport"]}, AddressError, "HOST:PORT"),
        ({"leave_timeout": -1.0}, ConfigError, "leave_timeout"),
        ({"leave_timeout": float("nan")}, ConfigError, "leave_timeout"),
        ({"exchange_timeout": 0}, ConfigError, "exchange_timeout"),
        ({"leave_on_exit": "yes"}, ConfigError, "leave_on_exit"),
        ({"name": ""}, ConfigError, "name"),
        ({"incarnation": 1.5}, ConfigError, "incarnation"),
    ],
)
def test_member_options_refuse_bad_values_naming_the_field(
    options: dict[str, Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        MemberOptions(**options)


def test_host_name_seeds_and_a_discovery_store_are_one_too_many() -> None:
    with pytest.raises(ConfigError, match="host names"):
        MemberOptions(seeds=["localhost:7946"], discovery=StaticStore([]))


def test_host_name_seeds_become_a_store_resolved_at_each_attempt() -> None:
    options = MemberOptions(seeds=["127.0.0.1:7000", "localhost:7946"])
    assert [str(a) for a in options.addresses] == ["127.0.0.1:7000"]
    assert options.host_names == ("localhost:7946",)
    store = options.store()
    assert isinstance(store, HostStore)
    assert any(str(a).endswith(":7946") for a in store.lookup())


def test_every_driver_takes_options_whole_and_keywords_win(driver: Driver) -> None:
    base = MemberOptions(name="from-options", leave_timeout=2.5)
    member = driver.factory(FAST, options=base, name="from-keyword")
    assert member.options.name == "from-keyword"
    assert member.options.leave_timeout == 2.5
    assert member.leave_timeout == 2.5


def test_every_driver_refuses_bad_options_before_opening_anything(driver: Driver) -> None:
    with pytest.raises(AddressError):
        driver.factory(FAST, "0.0.0.0:0")
    with pytest.raises(ConfigError, match="config must be"):
        driver.factory({"probe_interval": 1.0})


def test_every_driver_raises_state_error_before_start(driver: Driver) -> None:
    member = driver.factory(FAST)
    with pytest.raises(StateError, match="not started") as raised:
        member.members()
    # The hint names only ways this driver has (the anyio member has no start()).
    if "start()" in str(raised.value):
        assert callable(getattr(member, "start", None)), str(raised.value)


def test_every_driver_refuses_changes_once_closed(driver: Driver) -> None:
    """A closed member says so (``StateError``) rather than taking a change it cannot carry:
    the same on every driver."""

    async def story(driver: Driver) -> None:
        async with driver.member(FAST, name="a", leave_on_exit=False) as a:
            member = driver.factory(FAST, name="b", seeds=[a.address], leave_on_exit=False)
            async with member as b:
                await eventually(lambda: len(b.members()) == 2, f"{driver.id}: no join")
                await b.close(leave=False)
                # How many the join took (a retry under load makes two): none more once closed.
                requested = b.counters().get("exchanges_requested", 0)
                for change in (
                    lambda: b.broadcast("k", b"v"),
                    lambda: b.set_metadata(b"x"),
                    lambda: b.on_event(print),
                    lambda: b.join([a.address]),
                    b.leave,
                ):
                    with pytest.raises(StateError, match=r"not running|closed"):
                        outcome = change()
                        if inspect.isawaitable(outcome):
                            await outcome
                assert b.counters().get("exchanges_requested", 0) == requested >= 1

    driver.run(story)


def test_every_driver_refuses_changes_once_left(driver: Driver) -> None:
    """A member that left, still open while its news spreads, refuses to join, broadcast or
    change its metadata (``StateError``): the same on every driver."""

    async def story(driver: Driver) -> None:
        async with driver.member(FAST, name="a", leave_on_exit=False) as a:
            member = driver.factory(FAST, name="b", seeds=[a.address], leave_on_exit=False)
            async with member as b:
                await eventually(lambda: len(b.members()) == 2, f"{driver.id}: no join")
                outcome = b.leave()
                if inspect.isawaitable(outcome):
                    await outcome
                changes: list[Callable[[], object]] = [
                    lambda: b.broadcast("k", b"v"),
                    lambda: b.set_metadata(b"x"),
                    lambda: b.join([a.address]),
                ]
                for change in changes:
                    with pytest.raises(StateError, match="has left"):
                        outcome = change()
                        if inspect.isawaitable(outcome):
                            await outcome
                await eventually(
                    lambda: [m.name for m in a.members()] == ["a"], f"{driver.id}: not left"
                )

    driver.run(story)


def test_every_driver_refuses_values_of_the_wrong_type(driver: Driver) -> None:
    """Text where bytes are wanted, a number (``bytes(5)`` is five zero bytes), a hook that
    cannot be called, one address where a list is wanted: a typed error at once, and nothing
    spreads."""
    with pytest.raises(ConfigError, match="meta must be bytes, got int"):
        MemberOptions(meta=5)
    with pytest.raises(ConfigError, match="admit must be a function or None"):
        MemberOptions(admit=5)  # type: ignore[arg-type]

    async def story(driver: Driver) -> None:
        async with driver.member(FAST, name="a", leave_on_exit=False) as a:
            member = driver.factory(FAST, name="b", seeds=[a.address], leave_on_exit=False)
            async with member as b:
                await eventually(lambda: len(b.members()) == 2, f"{driver.id}: no join")
                incarnation = b.member("b").incarnation
                with pytest.raises(ConfigError, match="metadata must be bytes, got int"):
                    b.set_metadata(5)
                with pytest.raises(ConfigError, match=r"got str: encode text first"):
                    b.set_metadata("role=db")
                with pytest.raises(ConfigError, match="broadcast payload must be bytes"):
                    b.broadcast("k", "v")
                with pytest.raises(ConfigError, match="broadcast key must be a str"):
                    b.broadcast(b"k", b"v")
                with pytest.raises(ConfigError, match="message payload must be bytes"):
                    await b.send("a", "hi")
                with pytest.raises(ConfigError, match="the event callback must be a function"):
                    b.on_event(None)
                with pytest.raises(AddressError, match="got the single value"):
                    await b.join(str(a.address))
                assert b.member("b").incarnation == incarnation

    driver.run(story)


def test_every_driver_forgets_event_streams_nobody_reads(driver: Driver) -> None:
    """A stream left unread and unreferenced (a loop left with ``break``) stops buffering: the
    member no longer fills it and counts each event it cannot hold as dropped."""

    async def story(driver: Driver) -> None:
        async with driver.member(FAST, name="a", leave_on_exit=False) as a:
            member = driver.factory(FAST, name="b", seeds=[a.address], leave_on_exit=False)
            async with member as b:
                await eventually(lambda: len(b.members()) == 2, f"{driver.id}: no join")
                seen: list[Any] = []
                b.on_event(seen.append)

                def updated() -> int:
                    return sum(isinstance(event, MemberUpdated) for event in seen)

                def more_than(count: int) -> Callable[[], bool]:
                    return lambda: updated() > count

                async def updates(count: int) -> None:
                    for _ in range(count):
                        before = updated()
                        a.set_metadata(f"v{before}".encode())
                        await eventually(more_than(before), f"{driver.id}: no update")

                unread = b.events(maxsize=1)
                await updates(3)
                dropped = b.counters().get("driver.dropped.events", 0)
                assert dropped >= 1  # the unread stream is full: what it cannot hold counts
                del unread
                gc.collect()
                await updates(3)
                assert b.counters().get("driver.dropped.events", 0) == dropped

    driver.run(story)


def test_every_driver_forgets_unread_streams_in_a_quiet_group(driver: Driver) -> None:
    """Streams dropped unread are forgotten even while no event comes (a quiet group can emit
    none for hours): opening and dropping one per request must not grow the member.  Each
    used to stay listed until the next event, holding its buffer (about 1.3 KB each)."""

    async def story(driver: Driver) -> None:
        async with driver.member(FAST, name="a", leave_on_exit=False) as a:

            def open_and_drop(count: int) -> None:
                for _ in range(count):
                    a.events()  # dropped at once, never read nor closed
                gc.collect()

            open_and_drop(100)  # warm-up: whatever the first streams allocate once
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                open_and_drop(2000)
                grown = tracemalloc.get_traced_memory()[0] - before
            finally:
                tracemalloc.stop()
            assert grown < 40_000, f"{driver.id}: 2,000 dropped streams kept {grown} bytes"

    driver.run(story)


def test_a_driver_joins_through_a_host_name(driver: Driver) -> None:
    async def story(driver: Driver) -> None:
        async with driver.member(FAST, name="a", leave_on_exit=False) as a:
            seed = f"localhost:{a.address.port}"
            async with driver.member(FAST, name="b", seeds=[seed], leave_on_exit=False) as b:
                await eventually(
                    lambda: len(a.members()) == 2 and len(b.members()) == 2,
                    f"{driver.id}: b did not join through {seed}",
                )

    driver.run(story)


def test_every_driver_hands_the_application_hooks_to_its_node(driver: Driver) -> None:
    """Admission (memberlist's alive delegate) and application state carried by the full-state
    exchanges (its LocalState/MergeRemoteState), through MemberOptions, on every driver."""
    config = fast(push_pull_interval=0.5)
    received: dict[str, set[bytes]] = {"a": set(), "b": set(), "c": set()}

    def hooks(name: str) -> dict[str, Any]:
        return {
            "admit": lambda member: member.meta.startswith(b"role="),
            "local_state": lambda join: f"state of {name}".encode(),
            "merge_state": lambda data, join: received[name].add(data),
        }

    async def story(driver: Driver) -> None:
        async with (
            driver.member(
                config, name="a", meta=b"role=db", leave_on_exit=False, **hooks("a")
            ) as a,
            driver.member(
                config,
                name="b",
                meta=b"role=web",
                seeds=[a.address],
                leave_on_exit=False,
                **hooks("b"),
            ) as b,
            driver.member(
                config, name="c", seeds=[a.address], leave_on_exit=False, **hooks("c")
            ) as c,
        ):
            await eventually(
                lambda: len(a.members()) == 2 and len(b.members()) == 2,
                f"{driver.id}: a and b did not converge",
            )
            await eventually(
                lambda: b"state of b" in received["a"] and b"state of a" in received["b"],
                f"{driver.id}: the exchanges did not carry the application state",
            )
            await eventually(
                lambda: a.counters().get("dropped.not_admitted", 0) > 0,
                f"{driver.id}: a never refused c",
            )
            # c (no role) stays out of the views of a and b; c itself admits them.
            assert {m.name for m in a.members()} == {"a", "b"}
            assert {m.name for m in b.members()} == {"a", "b"}
            assert a.member("c") is None
            # c learns a from a's answer to its join, which may land after a refused c.
            await eventually(lambda: c.member("a") is not None, f"{driver.id}: c never learned a")

    driver.run(story)


def test_every_driver_refuses_an_event_stream_that_cannot_hold_events(driver: Driver) -> None:
    """``events(maxsize)`` takes an int of at least 1, checked at once on every driver: a
    stream of size 0 dropped every event, and a size of another type (``"3"``) failed only when
    the first event reached it, inside the driver (the anyio member's task group crashed)."""

    async def story(driver: Driver) -> None:
        async with driver.member(FAST, name="a", leave_on_exit=False) as a:
            for maxsize in (0, -1, "3", 2.5, None, True):
                with pytest.raises(ConfigError, match="maxsize must be an int of at least 1"):
                    a.events(maxsize)
            stream = a.events(1)
            async with driver.member(FAST, name="b", seeds=[a.address], leave_on_exit=False):
                await eventually(lambda: len(a.members()) == 2, f"{driver.id}: no join")
            assert a.counters().get("driver.callback_errors", 0) == 0
            assert not stream.ended

    driver.run(story)


def test_every_driver_words_a_failed_join_the_same(driver: Driver, wire: str) -> None:
    """Why a join failed (``JoinFailed.reason``) reads the same on every driver, in the
    simulator's words: a port where nobody listens is "connection refused" (it was the
    exception's repr on asyncio, "OSError: All connection attempts failed" on anyio, which
    hid the cause, and "Connection refused" on the thread driver), and a peer that hangs up
    before answering is "connection closed before the reply" (on memberlist's wire, where an
    empty stream is a message, "bad reply")."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        nobody = Address("127.0.0.1", unused.getsockname()[1])
    hangs_up = socket.socket()
    hangs_up.bind(("127.0.0.1", 0))
    hangs_up.listen(8)
    rude = Address("127.0.0.1", hangs_up.getsockname()[1])

    def hang_up() -> None:
        while True:
            try:
                conn, _ = hangs_up.accept()
            except OSError:
                return
            with conn:  # hang up at once, then read the request out (a FIN, never a reset)
                conn.settimeout(5.0)
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_WR)
                    while conn.recv(65536):
                        pass

    threading.Thread(target=hang_up, daemon=True).start()

    def reasons(seen: list[Any], seed: Address) -> set[str]:
        return {e.reason for e in seen if isinstance(e, JoinFailed) and e.seed == seed}

    async def story(driver: Driver) -> None:
        async with driver.member(fast(wire), name="a", leave_on_exit=False) as a:
            seen: list[Any] = []
            a.on_event(seen.append)
            for seed in (nobody, rude):
                joining = a.join([seed])
                if inspect.isawaitable(joining):
                    await joining
            await eventually(
                lambda: bool(reasons(seen, nobody) and reasons(seen, rude)),
                f"{driver.id}/{wire}: no JoinFailed for each seed",
            )
            assert reasons(seen, nobody) == {"connection refused"}
            # memberlist's streams delimit themselves: no bytes at all is a reply, and not one.
            hung_up = "connection closed before the reply" if wire == "native" else "bad reply"
            assert reasons(seen, rude) == {hung_up}

    try:
        driver.run(story)
    finally:
        hangs_up.close()


def _port_free(port: int) -> bool:
    """Whether a member could bind ``port`` again: its UDP socket and its TCP listener are
    closed (the TCP probe sets ``SO_REUSEADDR`` as the drivers' listeners do, so a connection
    left in TIME_WAIT by the member's own close does not count as the port still in use)."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            if kind == socket.SOCK_STREAM:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def test_every_driver_stops_when_close_is_cancelled_while_leaving(driver: Driver) -> None:
    """A ``close()`` cancelled while it waits for its leave to spread still stops the member:
    its event streams end and its port is given back.  The asyncio driver did; the anyio
    member went on running (left, sockets open, streams open) until its block ended, and the
    bridged member closed in the background but never ended its streams."""

    async def story(driver: Driver) -> None:
        async with (
            driver.member(FAST, name="a", leave_on_exit=False) as a,
            driver.member(FAST, name="b", seeds=[a.address]) as b,
        ):
            await eventually(lambda: len(b.members()) == 2, f"{driver.id}: no join")
            stream = b.events()
            port = b.address.port
            with anyio.move_on_after(0.01):
                await b.close()  # leaves first: cancelled while the news spreads
            await eventually(lambda: stream.ended, f"{driver.id}: the stream never ended")
            await eventually(lambda: _port_free(port), f"{driver.id}: port still bound")
            with pytest.raises(StateError):
                b.set_metadata(b"x")

    driver.run(story)


@pytest.mark.parametrize("turns", range(4))
def test_every_driver_closes_a_connection_that_arrives_as_it_closes(
    driver: Driver, turns: int
) -> None:
    """A peer connects just as the member closes, ``turns`` turns of the loop before.

    Two ways this leaked a connection: asyncio's stream server accepted it in one turn and made
    its transport in a task of its own the turn after, and a server closed in between left it
    half-made (CPython gh-109564, two turns here); anyio's listener on asyncio accepts through
    ``loop.sock_accept``, whose callback accepted a connection in the turn its wait was
    cancelled, failed on the cancelled future (InvalidStateError, in the loop's handler) and
    left the connection to the collector (one turn here; seen once in CI).
    """
    loop_errors: list[str] = []

    async def story(driver: Driver) -> None:
        record_loop_errors(loop_errors)
        async with driver.member(FAST, leave_on_exit=False) as member:
            address = (str(member.address.ip), member.address.port)
            await anyio.sleep(0.05)  # the member's tasks are waiting: for a connection too
            with socket.create_connection(address, timeout=5.0):  # waits in the backlog
                for _ in range(turns):
                    await anyio.lowlevel.checkpoint()
                await member.close(leave=False)

    assert resource_warnings(lambda: driver.run(story)) == []
    assert loop_errors == []
