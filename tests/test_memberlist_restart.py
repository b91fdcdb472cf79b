"""Issue 13, item 13: a member restarted under its name at a new address, in a mixed cluster.

memberlist keeps a name at its address until the member left, or was dead for
``GossipToTheDeadTime`` (30 s at the LAN preset); before that, an alive message for the name
from another address is refused as a conflict.  Under the memberlist profile swimcore follows
the same rule, so Go and swimcore members agree about where the name lives at every moment:
first nowhere new (the old address, dead), then, once the dead time has passed, the new one.
Before the rule, swimcore members moved the name in 0.2 s while Go members refused it for
31-37 s.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from memberlist_peer.harness import FAST, GoPeer, peer_binary
from support.poll import eventually

from swimcore import Config
from swimcore.transports import AsyncioMember

pytest.importorskip("cryptography")

pytestmark = pytest.mark.exclusive  # real processes against a clock

DEAD_TIME = 30.0  # memberlist's LAN GossipToTheDeadTime; swimcore's Config.lan() agrees


def _config() -> Config:
    return Config.lan(
        wire="memberlist",
        probe_interval=FAST["probe-interval"] / 1000,
        probe_timeout=FAST["probe-timeout"] / 1000,
        gossip_interval=FAST["gossip-interval"] / 1000,
        push_pull_interval=FAST["push-pull-interval"] / 1000,
        suspicion_mult=FAST["suspicion-mult"],
        retransmit_mult=FAST["retransmit-mult"],
        gossip_to_the_dead_time=DEAD_TIME,
    )


def _go_port(go: GoPeer, name: str) -> int | None:
    for row in go.ask("states")["members"]:
        if row["name"] == name and row["state"] in ("alive", "suspect"):
            return int(row["port"])
    return None


def _our_port(member: Any, name: str) -> int | None:
    info = member.member(name)
    if info is None or info.state.name not in ("ALIVE", "SUSPECT"):
        return None
    return int(info.address.port)


async def _scenario(full: bool) -> None:
    config = _config()
    go = GoPeer("go1", settings=FAST)
    try:
        async with AsyncioMember(config, name="sc1", seeds=[go.address]) as sc1:
            old = AsyncioMember(config, name="sc2", seeds=[go.address], leave_on_exit=False)
            await old.start()
            old_port = old.address.port
            await eventually(
                lambda: _go_port(go, "sc2") == old_port and _our_port(sc1, "sc2") == old_port,
                "sc2 did not join both sides",
                timeout=20,
            )
            await old.close(leave=False)  # a crash
            await eventually(
                lambda: _go_port(go, "sc2") is None and _our_port(sc1, "sc2") is None,
                "the crash of sc2 was not detected on both sides",
                timeout=20,
            )
            died = time.monotonic()
            async with AsyncioMember(config, name="sc2", seeds=[go.address, sc1.address]) as new:
                assert new.address.port != old_port
                # Within the dead time, neither side moves the name: they agree it is gone.
                while time.monotonic() - died < min(8.0, DEAD_TIME - 5.0):
                    go_view, our_view = _go_port(go, "sc2"), _our_port(sc1, "sc2")
                    assert go_view == our_view, (go_view, our_view)
                    assert our_view is None
                    await asyncio.sleep(0.5)
                # The new address was heard and refused, not missed.
                assert sc1.counters().get("dropped.address_conflict", 0) > 0
                if full:
                    # After the dead time, both sides take the new address.
                    await eventually(
                        lambda: (
                            _go_port(go, "sc2") == new.address.port
                            and _our_port(sc1, "sc2") == new.address.port
                        ),
                        "after the dead time the name did not move on both sides",
                        timeout=DEAD_TIME + 20,
                    )
    finally:
        await asyncio.to_thread(go.stop)


def test_a_restart_at_a_new_address_is_refused_alike_by_go_and_swimcore() -> None:
    peer_binary()
    asyncio.run(_scenario(full=False))


@pytest.mark.slow
def test_after_the_dead_time_both_sides_move_the_name() -> None:
    peer_binary()
    asyncio.run(_scenario(full=True))
