"""Mixed clusters on loopback: 3 HashiCorp memberlist (Go) nodes and 3 swimcore nodes.

Both join directions (swimcore nodes joining a Go cluster, Go nodes joining a swimcore
cluster), plain, encrypted with a shared key, and with compression on the Go side.  In each:

* every node on both sides lists all six members;
* metadata set on one side is read on the other;
* a killed Go node (SIGKILL) is declared dead by every surviving swimcore node, and a crashed
  swimcore node by every surviving Go node, within the detection time below plus a margin;
* a graceful leave on either side is seen as a leave (not a failure) on the other.

Both sides run memberlist's LAN preset made five times faster (probe interval 200 ms, probe
timeout 100 ms, gossip every 50 ms, suspicion multiplier 4, maximum suspicion 6x), so that
the whole file stays well under two minutes.  The detection time allowed is
``(n + 2) * probe_interval + suspicion_mult * max(1, log10 n) * probe_interval * 6`` (a full
round of probes, then the longest suspicion: 6.4 s for n = 6) plus a stated margin of 3 s for
a loaded two-core machine.  Measured times are printed (``pytest -s``), never asserted tighter.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

import pytest
from memberlist_peer.harness import FAST, GoPeer, peer_binary

from swimcore import Config, MemberFailed, MemberLeft
from swimcore.keyring import Keyring
from transports.memberlist_bridge import ProfileMember

pytest.importorskip("cryptography")

SIZE = 6
PROBE = FAST["probe-interval"] / 1000
DETECTION = (SIZE + 2) * PROBE + FAST["suspicion-mult"] * max(1.0, math.log10(SIZE)) * PROBE * 6
MARGIN = 3.0
KEY = bytes(range(100, 116))


def _config(wire: str) -> Config:
    return Config.lan(
        wire=wire,
        probe_interval=PROBE,
        probe_timeout=FAST["probe-timeout"] / 1000,
        gossip_interval=FAST["gossip-interval"] / 1000,
        push_pull_interval=FAST["push-pull-interval"] / 1000,
        suspicion_mult=FAST["suspicion-mult"],
        retransmit_mult=FAST["retransmit-mult"],
        gossip_to_the_dead_time=10.0,
    )


async def _until(done: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``done`` every 50 ms; the seconds it took, or fail naming ``what``."""
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def _failed(member: ProfileMember, name: str) -> bool:
    return any(isinstance(e, MemberFailed) and e.member.name == name for e in member.history())


def _left(member: ProfileMember, name: str) -> bool:
    return any(isinstance(e, MemberLeft) and e.member.name == name for e in member.history())


def _go_saw(go: GoPeer, kind: str, name: str, **fields: Any) -> bool:
    return bool(
        go.seen(
            lambda e: (
                e.get("event") == kind
                and e.get("name") == name
                and all(e.get(k) == v for k, v in fields.items())
            )
        )
    )


async def _scenario(direction: str, *, key: bytes, go_compress: bool, wire: str) -> None:
    config = _config(wire)
    keyring = Keyring(key) if key else None
    gos: list[GoPeer] = []
    ours: list[ProfileMember] = []

    def go(name: str, join: str) -> GoPeer:
        peer = GoPeer(name, join=join, key=key, compress=go_compress, meta=f"{name}-m0")
        gos.append(peer)
        return peer

    async def swim(name: str, seeds: list[str]) -> ProfileMember:
        member = ProfileMember(
            config,
            name=name,
            seeds=seeds,
            keyring=keyring,
            meta=f"{name}-m0".encode(),
            seed=len(ours),
        )
        ours.append(member)
        await member.start()
        return member

    try:
        if direction == "swimcore-joins-go":
            first = go("go1", "")
            await _until(lambda: first.last("ready") is not None, 10, "go1 to start")
            for name in ("go2", "go3"):
                go(name, first.address)
            for name in ("sc1", "sc2", "sc3"):
                await swim(name, [first.address])
        else:
            seed = await swim("sc1", [])
            for name in ("sc2", "sc3"):
                await swim(name, [str(seed.address)])
            for name in ("go1", "go2", "go3"):
                go(name, str(seed.address))
        everyone = {"go1", "go2", "go3", "sc1", "sc2", "sc3"}
        go_views: dict[str, set[str]] = {}

        async def refresh_go_views() -> None:
            for peer in gos:
                go_views[peer.name] = await asyncio.to_thread(peer.member_names)

        async def converged() -> bool:
            await refresh_go_views()
            return all(v == everyone for v in go_views.values()) and all(
                {m.name for m in member.members()} == everyone for member in ours
            )

        start = time.monotonic()
        while not await converged():
            if time.monotonic() - start > 20:
                views = {m.name: sorted(x.name for x in m.members()) for m in ours}
                raise AssertionError(f"no convergence: go {go_views}, swimcore {views}")
            await asyncio.sleep(0.1)
        print(f"[{direction}] six members everywhere after {time.monotonic() - start:.1f} s")
        go1, go2, go3 = gos if gos[0].name == "go1" else sorted(gos, key=lambda g: g.name)
        sc1, sc2, sc3 = ours
        assert sc1.member("go1") is not None and sc1.member("go1").meta == b"go1-m0"  # type: ignore[union-attr]
        assert _go_saw(go1, "join", "sc1", meta="sc1-m0")

        # Metadata, both ways.
        sc1.set_metadata(b"sc1-v2")
        go1.command("set-meta go1-v2")
        await _until(
            lambda: (
                all(_go_saw(g, "update", "sc1", meta="sc1-v2") for g in gos)
                and all(
                    (m := member.member("go1")) is not None and m.meta == b"go1-v2"
                    for member in ours
                )
            ),
            10,
            "metadata to cross",
        )

        # Crashes: a Go node killed, a swimcore node stopped without a word.
        crashed_at = time.monotonic()
        go3.kill()
        await sc3.close(leave=False)
        took = await _until(
            lambda: (
                all(_failed(m, "go3") for m in (sc1, sc2))
                and all(_go_saw(g, "leave", "sc3", state="dead") for g in (go1, go2))
            ),
            DETECTION + MARGIN + 5,
            "the crashes to be detected",
        )
        print(f"[{direction}] both crashes detected on the other side after {took:.1f} s")
        assert took <= DETECTION + MARGIN, (
            f"detection took {took:.1f} s > {DETECTION + MARGIN:.1f} s"
        )
        del crashed_at

        # Graceful leaves, both ways.
        go2.command("leave")
        await sc2.leave(linger=1.0)
        await _until(
            lambda: _left(sc1, "go2") and _go_saw(go1, "leave", "sc2", state="left"),
            10,
            "the leaves to be seen",
        )
        assert not _failed(sc1, "go2")
        assert not _go_saw(go1, "leave", "sc2", state="dead")
        assert {m.name for m in sc1.members()} == {"go1", "sc1"}
        assert await asyncio.to_thread(go1.member_names) == {"go1", "sc1"}
        assert sc1.counters().get("dropped.malformed", 0) == 0
    finally:
        for member in ours:
            await member.close(leave=False)
        for peer in gos:
            await asyncio.to_thread(peer.stop)


@pytest.mark.parametrize(
    ("direction", "variant"),
    [
        ("swimcore-joins-go", "plain"),
        ("go-joins-swimcore", "plain"),
        ("swimcore-joins-go", "encrypted"),
        ("go-joins-swimcore", "go-compressed"),
    ],
)
def test_mixed_cluster(direction: str, variant: str) -> None:
    peer_binary()
    asyncio.run(
        asyncio.wait_for(
            _scenario(
                direction,
                key=KEY if variant == "encrypted" else b"",
                go_compress=variant == "go-compressed",
                wire="memberlist+lzw" if variant == "go-compressed" else "memberlist",
            ),
            timeout=90,
        )
    )
