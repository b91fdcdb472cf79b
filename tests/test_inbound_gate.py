"""Inbound exchanges under attack: a bounded byte budget in total and slots that a slowloris
cannot hold (issue 13, items 3 and 4), on every socket driver.

The gate (:class:`~swimcore.transports.exchange.InboundGate`) is tested as a pure object first;
then real members on loopback take 64 connections that each announce a large message and
withhold its end, and a flood of connections that send nothing while a newcomer joins.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support.configs import fast
from support.poll import eventually

from swimcore import Config
from swimcore.transports import AnyioMember, AsyncioMember, ThreadMember
from swimcore.transports.exchange import INBOUND_BUDGET_FACTOR, MAX_INBOUND, InboundGate

# ------------------------------------------------------------------------------ the gate


def _gate(max_open: int = 3, max_buffered: int = 100) -> tuple[InboundGate, list[str]]:
    counted: list[str] = []
    return InboundGate(max_open, max_buffered, counted.append), counted


def test_a_full_gate_evicts_the_oldest_unfinished_exchange_of_the_busiest_source() -> None:
    gate, counted = _gate(max_open=3)
    closed: list[str] = []
    gate.admit("honest", 0.0, lambda: closed.append("honest-0"))
    gate.admit("attacker", 1.0, lambda: closed.append("attacker-1"))
    gate.admit("attacker", 2.0, lambda: closed.append("attacker-2"))
    gate.admit("newcomer", 3.0, lambda: closed.append("newcomer-3"))
    assert closed == ["attacker-1"]  # not the older honest one: its source holds fewer slots
    assert counted == ["dropped.exchange_evicted"]
    assert len(gate) == 3


def test_a_whole_request_being_served_is_never_evicted() -> None:
    gate, _ = _gate(max_open=1)
    closed: list[int] = []
    serving = gate.admit("a", 0.0, lambda: closed.append(0))
    gate.whole(serving)
    gate.admit("b", 1.0, lambda: closed.append(1))
    assert closed == []
    assert len(gate) == 2  # over the slot count for a moment rather than cut a reply


def test_the_byte_budget_is_shared_and_evicts_others_first() -> None:
    gate, counted = _gate(max_open=10, max_buffered=100)
    closed: list[int] = []
    slots = [gate.admit(f"s{i}", float(i), functools.partial(closed.append, i)) for i in range(3)]
    gate.account(slots[0], 60)
    gate.account(slots[1], 30)
    assert closed == [] and gate.buffered == 90
    gate.account(slots[2], 50)  # 140 > 100: the oldest other unfinished one goes
    assert closed == [0]
    assert gate.buffered == 80
    gate.account(slots[2], 60)  # 140 again: slot 1 goes, 110 is still over: itself
    assert closed == [0, 1, 2]
    assert gate.buffered == 0 and len(gate) == 0
    assert counted == ["dropped.exchange_evicted"] * 3


def test_release_is_idempotent_and_returns_the_bytes() -> None:
    gate, _ = _gate()
    slot = gate.admit("a", 0.0, lambda: None)
    gate.account(slot, 40)
    gate.release(slot)
    gate.release(slot)
    gate.account(slot, 40)  # a late chunk of a released slot counts for nothing
    assert gate.buffered == 0 and len(gate) == 0


# ------------------------------------------------------------------------- real members

#: Loopback timings with 1 MiB exchanges, so that the budget is filled with few connections.
MIB = fast(max_exchange_bytes=1024 * 1024)
DRIVERS = ["asyncio", "anyio", "thread"]


@contextlib.asynccontextmanager
async def _member(kind: str, config: Config, **kw: Any) -> AsyncIterator[Any]:
    if kind == "asyncio":
        async with AsyncioMember(config, leave_on_exit=False, **kw) as on_asyncio:
            yield on_asyncio
    elif kind == "anyio":
        async with AnyioMember(config, leave_on_exit=False, **kw) as on_anyio:
            yield on_anyio
    else:
        on_thread = ThreadMember(config, leave_on_exit=False, **kw)
        await asyncio.to_thread(on_thread.start)
        try:
            yield on_thread
        finally:
            await asyncio.to_thread(on_thread.close, leave=False)


@pytest.mark.parametrize("kind", DRIVERS)
def test_withheld_large_messages_cannot_buffer_past_the_budget(kind: str) -> None:
    """64 connections each announce a 1 MiB message and send 768 KiB of it (48 MiB in all):
    the member keeps at most twice ``max_exchange_bytes`` of them, evicting the rest."""
    budget = INBOUND_BUDGET_FACTOR * MIB.max_exchange_bytes
    sent_each = 768 * 1024

    async def main() -> dict[str, int]:
        async with _member(kind, MIB, exchange_timeout=30.0) as target:
            host, port = str(target.address.ip), target.address.port
            writers = []
            for _ in range(MAX_INBOUND):
                _, writer = await asyncio.open_connection(host, port)
                writer.write((MIB.max_exchange_bytes).to_bytes(4, "big") + bytes(sent_each))
                writers.append(writer)
            for writer in writers:
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
            least = MAX_INBOUND - budget // sent_each
            await eventually(
                lambda: target.counters().get("driver.dropped.exchange_evicted", 0) >= least,
                f"fewer than {least} withheld messages evicted",
            )
            # Still a member that answers: a newcomer joins through it at once.
            async with _member(kind, MIB, seeds=[target.address]) as newcomer:
                await eventually(
                    lambda: len(newcomer.members()) == 2, "the newcomer never joined", timeout=10.0
                )
            for writer in writers:
                writer.close()
            return dict(target.counters())

    counters = asyncio.run(main())
    assert counters["driver.dropped.exchange_evicted"] >= MAX_INBOUND - budget // sent_each


@pytest.mark.parametrize("kind", DRIVERS)
def test_a_slowloris_does_not_keep_a_newcomer_out(kind: str) -> None:
    """An attacker keeps opening connections that send nothing, 150 a second, while a newcomer
    joins through the target: the newcomer is in within a few seconds and nobody is suspected."""

    async def main() -> tuple[float, dict[str, int]]:
        async with _member(kind, MIB, exchange_timeout=30.0) as target:
            host, port = str(target.address.ip), target.address.port
            stop = asyncio.Event()
            held: list[asyncio.StreamWriter] = []

            async def attack() -> None:
                while not stop.is_set():
                    with contextlib.suppress(OSError):
                        _, writer = await asyncio.open_connection(host, port)
                        held.append(writer)
                    await asyncio.sleep(1 / 150)

            attacker = asyncio.create_task(attack())
            try:
                await eventually(  # every slot taken, twice
                    lambda: len(held) > 2 * MAX_INBOUND, "the attacker could not open connections"
                )
                start = time.monotonic()
                async with _member(kind, MIB, seeds=[target.address]) as newcomer:
                    await eventually(
                        lambda: len(newcomer.members()) == 2, "the newcomer never joined"
                    )
                    took = time.monotonic() - start
            finally:
                stop.set()
                await attacker
                for writer in held:
                    writer.close()
            return took, dict(target.counters())

    took, counters = asyncio.run(main())
    assert counters.get("driver.dropped.exchange_evicted", 0) > MAX_INBOUND
    assert took < 10.0
