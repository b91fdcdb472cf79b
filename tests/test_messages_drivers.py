"""Direct messages and metadata on real sockets (loopback), on every driver.

Three members a, b, c on one driver.  b sends a a best-effort message (one datagram) and a
reliable one (the TCP exchange); a sees both as ``MessageReceived`` with the right flag.  A
message to a member nobody knows fails at once with ``DeliveryError``.  a changes its metadata
and every member sees ``MemberUpdated`` with the new value.  Then c crashes (stops without a
word): a reliable message to it fails with ``DeliveryError`` instead of hanging (its port
refuses the connection), a best-effort one is sent as usual.  Once c is declared dead, a
message to it is refused at once, before any I/O.  A reliable message that is never carried
ends with a timeout error, and one still in flight fails when its sender closes.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from support.configs import FAST
from support.poll import eventually, eventually_blocking

from swimcore import (
    DeliveryError,
    Event,
    MemberFailed,
    MemberUpdated,
    MessageReceived,
    State,
)
from swimcore.transports import AnyioMember, AsyncioMember, BridgedMember, ThreadMember

#: Generous wall-time bound for "at once / timely" (a timeout would take exchange_timeout).
PROMPT = 10.0

# (member class, anyio backend) of every async surface.
ASYNC_DRIVERS: dict[str, tuple[Any, str]] = {
    "asyncio": (AsyncioMember, "asyncio"),
    "anyio-asyncio": (AnyioMember, "asyncio"),
    "anyio-trio": (AnyioMember, "trio"),
    "bridged-asyncio": (BridgedMember, "asyncio"),
    "bridged-trio": (BridgedMember, "trio"),
}


def received(events: list[Event], payload: bytes, reliable: bool) -> bool:
    return any(
        isinstance(e, MessageReceived)
        and (e.origin, e.payload, e.reliable) == ("b", payload, reliable)
        for e in events
    )


def updated(events: list[Event], meta: bytes) -> bool:
    return any(
        isinstance(e, MemberUpdated) and e.member.name == "a" and e.member.meta == meta
        for e in events
    )


async def messages_scenario(cls: Any) -> None:
    log: dict[str, list[Event]] = {"a": [], "b": [], "c": []}
    a = cls(FAST, name="a", leave_on_exit=False)
    async with a:
        a.on_event(log["a"].append)
        b = cls(FAST, name="b", seeds=[a.address], leave_on_exit=False)
        c = cls(FAST, name="c", seeds=[a.address], leave_on_exit=False)
        async with b, c:
            b.on_event(log["b"].append)
            c.on_event(log["c"].append)
            await eventually(
                lambda: all(len(m.members()) == 3 for m in (a, b, c)), "a, b and c never converged"
            )

            # Best effort: one datagram each time; loopback may still drop one, so repeat.
            for _ in range(20):
                await b.send("a", b"hello")
                if received(log["a"], b"hello", False):
                    break
                await anyio.sleep(0.1)
            await eventually(
                lambda: received(log["a"], b"hello", False), "a best-effort message never arrived"
            )

            # Reliable: returns once a acknowledged it.
            await b.send("a", b"for sure", reliable=True)
            await eventually(
                lambda: received(log["a"], b"for sure", True),
                "an acknowledged reliable message is not in a's events",
            )
            assert b.counters()["driver.exchange.duration_count"] >= 2  # join + this message

            with pytest.raises(DeliveryError, match="no such member") as unknown:
                await b.send("nobody", b"?", reliable=True)
            assert unknown.value.member == "nobody"

            # Metadata: a new value spreads with a higher incarnation to every member.
            a.set_metadata(b"role=leader")
            await eventually(lambda: updated(log["b"], b"role=leader"), "b never saw a's metadata")
            await eventually(lambda: updated(log["c"], b"role=leader"), "c never saw a's metadata")
            view = b.member("a")
            assert view is not None and view.meta == b"role=leader" and view.incarnation >= 1

            # c crashes: a reliable message fails (no hang), a best-effort one is just sent.
            await c.close(leave=False)
            started = time.monotonic()
            with pytest.raises(DeliveryError) as crashed:
                await b.send("c", b"anyone?", reliable=True)
            assert crashed.value.member == "c"
            assert time.monotonic() - started < PROMPT
            await b.send("c", b"anyone?")


@pytest.mark.parametrize("driver", list(ASYNC_DRIVERS))
def test_direct_messages_and_metadata(driver: str) -> None:
    cls, backend = ASYNC_DRIVERS[driver]
    anyio.run(messages_scenario, cls, backend=backend)


def test_direct_messages_and_metadata_on_the_thread_driver() -> None:
    log: dict[str, list[Event]] = {"a": [], "b": [], "c": []}
    with ThreadMember(FAST, name="a", leave_on_exit=False) as a:
        a.on_event(log["a"].append)
        with ThreadMember(FAST, name="b", seeds=[a.address], leave_on_exit=False) as b:
            b.on_event(log["b"].append)
            c = ThreadMember(FAST, name="c", seeds=[a.address], leave_on_exit=False)
            c.start()
            try:
                c.on_event(log["c"].append)
                eventually_blocking(
                    lambda: all(len(m.members()) == 3 for m in (a, b, c)),
                    "a, b and c never converged",
                )
                for _ in range(20):
                    b.send("a", b"hello")  # a blocking call
                    if received(log["a"], b"hello", False):
                        break
                    time.sleep(0.1)
                eventually_blocking(
                    lambda: received(log["a"], b"hello", False),
                    "a best-effort message never arrived",
                )
                b.send("a", b"for sure", reliable=True)
                eventually_blocking(
                    lambda: received(log["a"], b"for sure", True),
                    "an acknowledged reliable message is not in a's events",
                )
                with pytest.raises(DeliveryError, match="no such member"):
                    b.send("nobody", b"?")
                a.set_metadata(b"role=leader")
                eventually_blocking(
                    lambda: updated(log["b"], b"role=leader"), "b never saw a's metadata"
                )
                eventually_blocking(
                    lambda: updated(log["c"], b"role=leader"), "c never saw a's metadata"
                )
            finally:
                c.close(leave=False)
            started = time.monotonic()
            with pytest.raises(DeliveryError) as crashed:
                b.send("c", b"anyone?", reliable=True)
            assert crashed.value.member == "c"
            assert time.monotonic() - started < PROMPT


async def dead_member_scenario() -> None:
    async with AsyncioMember(FAST, name="a", leave_on_exit=False) as a:
        c = AsyncioMember(FAST, name="c", seeds=[a.address], leave_on_exit=False)
        await c.start()
        await eventually(lambda: len(a.members()) == 2, "a never saw c join")
        await c.close(leave=False)
        failed: list[Event] = []
        a.on_event(lambda e: failed.append(e) if isinstance(e, MemberFailed) else None)
        await eventually(lambda: bool(failed), "a never declared the crashed c dead", timeout=30.0)
        view = a.member("c")
        assert view is not None and view.state is State.DEAD
        for reliable in (False, True):
            started = time.monotonic()
            with pytest.raises(DeliveryError, match="the member is dead"):
                await a.send("c", b"still there?", reliable=reliable)
            assert time.monotonic() - started < PROMPT
        with pytest.raises(DeliveryError, match="it is this member"):
            await a.send("a", b"me")


def test_a_member_declared_dead_is_refused_at_once() -> None:
    anyio.run(dead_member_scenario, backend="asyncio")


async def never_carried_scenario(cls: Any) -> None:
    async with (
        cls(FAST, name="a", leave_on_exit=False) as a,
        cls(FAST, name="b", seeds=[a.address], leave_on_exit=False, exchange_timeout=0.2) as b,
    ):
        await eventually(lambda: len(b.members()) == 2, "b never joined a")
        b._core._exchange = lambda request: None  # the exchange is never carried
        with pytest.raises(DeliveryError, match="timeout"):
            await b.send("a", b"lost", reliable=True)
        # One still waiting when its sender closes fails at once.
        outcome: list[BaseException] = []

        async def send() -> None:
            try:
                await b.send("a", b"cut short", reliable=True)
            except DeliveryError as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(send)
            await anyio.sleep(0.05)
            await b.close(leave=False)
        assert len(outcome) == 1 and "stopped" in str(outcome[0])
        with pytest.raises(DeliveryError, match="closed"):
            await b.send("a", b"too late")


@pytest.mark.parametrize(
    ("cls", "backend"),
    [(AsyncioMember, "asyncio"), (AnyioMember, "trio")],
    ids=["asyncio", "anyio-trio"],
)
def test_a_message_never_answered_times_out_and_closing_fails_the_rest(
    cls: Any, backend: str
) -> None:
    anyio.run(never_carried_scenario, cls, backend=backend)
