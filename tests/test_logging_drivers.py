"""Logging: the ``swimcore`` hierarchy, one logger per layer, levels, and the member's name.

Two members join, exchange a reliable message and one leaves.  At DEBUG the records come from
``swimcore.core`` (the node) and ``swimcore.transports.<driver>`` only; membership changes are
INFO, protocol detail DEBUG, nothing is louder; every record carries ``member`` (an ``extra``)
and names it in its message.  At the default level (WARNING) the same run logs nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest
from support.configs import FAST
from support.poll import eventually

from swimcore.cli import main
from swimcore.transports import AnyioMember, AsyncioMember, BridgedMember

DRIVERS = {
    "asyncio": (AsyncioMember, "asyncio", "swimcore.transports.asyncio"),
    "anyio-trio": (AnyioMember, "trio", "swimcore.transports.anyio"),
    "bridged": (BridgedMember, "asyncio", "swimcore.transports.thread"),
}


async def short_story(cls: Any) -> None:
    async with cls(FAST, name="alpha") as a:
        async with cls(FAST, name="beta", seeds=[a.address]) as b:
            await eventually(
                lambda: len(a.members()) == 2 and len(b.members()) == 2, "the two never met"
            )
            await b.send("alpha", b"ping", reliable=True)
        # beta left on leaving its block: wait until alpha saw it go.
        await eventually(lambda: len(a.members()) == 1, "alpha never saw beta leave")


def swimcore_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("swimcore")]


@pytest.mark.parametrize("driver", list(DRIVERS))
def test_records_come_from_one_logger_per_layer_and_name_the_member(
    driver: str, caplog: pytest.LogCaptureFixture
) -> None:
    cls, backend, driver_logger = DRIVERS[driver]
    caplog.set_level(logging.DEBUG, logger="swimcore")
    anyio.run(short_story, cls, backend=backend)
    records = swimcore_records(caplog)
    assert {r.name for r in records} == {"swimcore.core", driver_logger}
    for record in records:
        assert record.member in ("alpha", "beta"), record  # type: ignore[attr-defined]
        assert f"[{record.member}]" in record.getMessage()  # type: ignore[attr-defined]
        assert record.levelno <= logging.INFO, record.getMessage()

    def messages(name: str, level: int) -> list[str]:
        return [r.getMessage() for r in records if r.name == name and r.levelno == level]

    core_info = messages("swimcore.core", logging.INFO)
    assert any(m.startswith("[alpha] MemberJoined beta") for m in core_info)
    assert any(m.startswith("[beta] MemberJoined alpha") for m in core_info)
    assert any(m.startswith("[alpha] MemberLeft beta") for m in core_info)
    driver_info = messages(driver_logger, logging.INFO)
    assert any(m.startswith("[beta] started at") for m in driver_info)
    assert "[beta] leaving the group" in driver_info
    driver_debug = messages(driver_logger, logging.DEBUG)
    assert any(m.startswith("[beta] reliable message to alpha") for m in driver_debug)
    assert any("[beta] exchange" in m and "done in" in m for m in driver_debug)


def test_the_default_level_is_quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="swimcore")
    anyio.run(short_story, AsyncioMember, backend="asyncio")
    assert swimcore_records(caplog) == []


def test_the_sample_node_logs_under_swimcore_cli(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="swimcore")
    argv = ["run", "g", "127.0.0.1:0", "127.0.0.1:0", "--name", "solo", "--preset", "local"]
    assert main([*argv, "--duration", "0.3", "--print-every", "0.1"]) == 0
    cli = [r for r in caplog.records if r.name == "swimcore.cli"]
    assert len(cli) >= 2  # started, stopping
    for record in cli:
        assert record.member == "solo"  # type: ignore[attr-defined]
        assert record.getMessage().startswith("[solo] ")
    assert {r.name for r in swimcore_records(caplog)} <= {
        "swimcore.cli",
        "swimcore.core",
        "swimcore.transports.asyncio",
    }
