"""Issue 13, item 12: a Go memberlist node joining under a wrong key is an authentication
failure at the swimcore member, not an "oversized exchange" (asyncio driver, loopback)."""

from __future__ import annotations

import asyncio

import pytest
from memberlist_peer.harness import GoPeer, peer_binary
from support.poll import eventually

from swimcore import Config
from swimcore.keyring import Keyring
from swimcore.transports import AsyncioMember

pytest.importorskip("cryptography")


def test_a_go_join_under_a_wrong_key_is_counted_as_an_auth_failure() -> None:
    peer_binary()

    async def scenario() -> dict[str, int]:
        config = Config.lan(wire="memberlist")
        async with AsyncioMember(
            config, "127.0.0.1:0", keyring=Keyring(bytes(range(16))), leave_on_exit=False
        ) as member:
            go = GoPeer("go-wrong-key", join=str(member.address), key=bytes(range(100, 116)))
            try:
                await eventually(
                    lambda: member.counters().get("dropped.auth_failed", 0) >= 1,
                    lambda: f"the Go join was not counted as auth_failed: {member.counters()}",
                    timeout=10.0,
                )
                return member.counters()
            finally:
                go.stop()

    counters = asyncio.run(scenario())
    assert counters.get("dropped.auth_failed", 0) >= 1
    assert not any("oversized" in key for key, value in counters.items() if value)
