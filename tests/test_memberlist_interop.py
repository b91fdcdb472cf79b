"""Mixed clusters on loopback: 3 HashiCorp memberlist (Go) nodes and 3 swimcore nodes.

Both join directions (swimcore nodes joining a Go cluster, Go nodes joining a swimcore
cluster), plain, encrypted with a shared key, and with compression on the Go side.  In each:

* every node on both sides lists all six members;
* metadata set on one side is read on the other;
* a killed Go node (SIGKILL) is declared dead by every surviving swimcore node, and a crashed
  swimcore node by every surviving Go node, within the detection time below plus a margin;
* a graceful leave on either side is seen as a leave (not a failure) on the other;
* broadcasts and reliable user messages cross both ways.

Every driver takes its turn: asyncio, anyio (on the test's asyncio loop), thread and bridged,
all framing their exchanges through the node's wire profile.

Both sides run memberlist's LAN preset made five times faster (probe interval 200 ms, probe
timeout 100 ms, gossip every 50 ms, suspicion multiplier 4, maximum suspicion 6x), so that
the whole file stays well under two minutes.  The detection time allowed is
``(n + 2) * probe_interval + suspicion_mult * max(1, log10 n) * probe_interval * 6`` (a full
round of probes, then the longest suspicion: 6.4 s for n = 6) plus a stated margin of 3 s for
a loaded two-core machine (the slow variant, memberlist's LAN preset unscaled with 1 s probes,
allows 32 s + 3 s).  Measured times are printed (``pytest -s``), never asserted tighter.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from memberlist_peer.harness import FAST, GoPeer, peer_binary
from support.poll import eventually
from test_readme import expected_pattern

from swimcore import (
    Address,
    BroadcastReceived,
    Config,
    Event,
    MemberAlive,
    MemberFailed,
    MemberInfo,
    MemberLeft,
    MemberSuspected,
    MessageDelivered,
    MessageReceived,
)
from swimcore.keyring import Keyring
from swimcore.transports import AnyioMember, AsyncioMember, BridgedMember, ThreadMember

pytest.importorskip("cryptography")

SIZE = 6
MARGIN = 3.0
#: memberlist's LAN preset as it is (the slow variant runs it).
LAN = {
    "probe-interval": 1000,
    "probe-timeout": 500,
    "gossip-interval": 200,
    "push-pull-interval": 30000,
    "suspicion-mult": 4,
    "retransmit-mult": 4,
    "tcp-timeout": 10000,
}


def _detection(settings: dict[str, int]) -> float:
    """A round of probes, then the longest suspicion (memberlist's and swimcore's formula)."""
    probe = settings["probe-interval"] / 1000
    mult = settings["suspicion-mult"]
    return (SIZE + 2) * probe + mult * max(1.0, math.log10(SIZE)) * probe * 6


KEY = bytes(range(100, 116))


def _config(wire: str, settings: dict[str, int]) -> Config:
    return Config.lan(
        wire=wire,
        probe_interval=settings["probe-interval"] / 1000,
        probe_timeout=settings["probe-timeout"] / 1000,
        gossip_interval=settings["gossip-interval"] / 1000,
        push_pull_interval=settings["push-pull-interval"] / 1000,
        suspicion_mult=settings["suspicion-mult"],
        retransmit_mult=settings["retransmit-mult"],
    )


#: A member of any driver.
AnyMember = AsyncioMember | AnyioMember | ThreadMember | BridgedMember

#: Every driver, constructed alike (the anyio driver on its asyncio backend: the test's loop).
DRIVERS: dict[str, type[AnyMember]] = {
    "asyncio": AsyncioMember,
    "anyio": AnyioMember,
    "thread": ThreadMember,
    "bridged": BridgedMember,
}


class _Driver:
    """One swimcore member on any driver, with one surface for the scenario below."""

    def __init__(self, kind: str, config: Config, **kw: Any) -> None:
        self.kind = kind
        self.member: AnyMember = DRIVERS[kind](config, "127.0.0.1:0", leave_on_exit=False, **kw)
        self.events: list[Event] = []
        self._stack = contextlib.AsyncExitStack()
        self._sends: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        member = self.member
        if isinstance(member, ThreadMember):
            await asyncio.to_thread(member.start)
        elif isinstance(member, AnyioMember):
            await self._stack.enter_async_context(member)
        else:
            await member.start()
        member.on_event(self.events.append)

    @property
    def name(self) -> str:
        return self.member.name

    @property
    def address(self) -> Address:
        return self.member.address

    def history(self) -> list[Event]:
        return list(self.events)

    def members(self) -> list[MemberInfo]:
        return self.member.members()

    def member_info(self, name: str) -> MemberInfo | None:
        return self.member.member(name)

    def set_metadata(self, meta: bytes) -> None:
        self.member.set_metadata(meta)

    def broadcast(self, key: str, payload: bytes) -> None:
        self.member.broadcast(key, payload)

    def send_message(self, name: str, payload: bytes, *, reliable: bool) -> None:
        """Fire and forget; the outcome arrives as an event."""
        member = self.member
        if isinstance(member, ThreadMember):
            call = asyncio.to_thread(member.send, name, payload, reliable=reliable)
        else:
            call = member.send(name, payload, reliable=reliable)
        task = asyncio.ensure_future(call)
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    def counters(self) -> dict[str, int]:
        return self.member.counters()

    async def leave(self, linger: float) -> None:
        member = self.member
        if isinstance(member, ThreadMember):
            await asyncio.to_thread(member.leave)
        else:
            await member.leave()
        await asyncio.sleep(linger)

    async def close(self, *, leave: bool) -> None:
        member = self.member
        if isinstance(member, ThreadMember):
            await asyncio.to_thread(member.close, leave=leave)
        else:
            await member.close(leave=leave)
        await self._stack.aclose()


Member = _Driver


def _lookup(member: Member, name: str) -> MemberInfo | None:
    return member.member_info(name)


async def _until_all(checks: dict[str, Callable[[], bool]], timeout: float, what: str) -> float:
    """The seconds until every check holds; on timeout the message names the ones that do not."""
    start = time.monotonic()
    await eventually(
        lambda: all(check() for check in checks.values()),
        lambda: f"{what}; still missing: {[n for n, check in checks.items() if not check()]}",
        timeout=timeout,
        step=0.05,
    )
    return time.monotonic() - start


async def _until_views(
    settled: Callable[[], Awaitable[bool]], timeout: float, failure: Callable[[], str]
) -> float:
    """The seconds until ``settled()`` holds (it may read Go views, which takes a thread, so
    it is awaited rather than polled by ``eventually``); on timeout the message is
    ``failure()``."""
    start = time.monotonic()
    while not await settled():
        if time.monotonic() - start > timeout:
            raise AssertionError(failure())
        await asyncio.sleep(0.1)
    return time.monotonic() - start


def _has_meta(member: Member, name: str, meta: bytes) -> bool:
    """Whether ``member`` knows ``name`` with metadata ``meta``."""
    info = _lookup(member, name)
    return info is not None and info.meta == meta


def _failed(member: Member, name: str) -> bool:
    return any(isinstance(e, MemberFailed) and e.member.name == name for e in member.history())


def _left(member: Member, name: str) -> bool:
    return any(isinstance(e, MemberLeft) and e.member.name == name for e in member.history())


async def _user_messages(gos: list[GoPeer], ours: list[Member], scale: float) -> None:
    """Application data both ways: gossiped broadcasts and reliable (TCP) messages."""
    go1 = next(g for g in gos if g.name == "go1")
    sc1, sc2 = ours[0], ours[1]
    go1.command("broadcast hello-from-go")
    sc1.broadcast("greeting", b"hello-from-swimcore")
    go1.command("send-reliable sc2 direct-from-go")
    sc2.send_message("go1", b"direct-from-swimcore", reliable=True)

    def got_broadcast(member: Member) -> bool:
        # memberlist sends a lone queued broadcast by itself, as SendBestEffort sends a direct
        # message: the two are the same bytes (Go's NotifyMsg does not tell them apart either),
        # so a Go broadcast arrives as BroadcastReceived or as a best-effort MessageReceived.
        return any(
            isinstance(e, BroadcastReceived | MessageReceived) and e.payload == b"hello-from-go"
            for e in member.history()
        )

    checks: dict[str, Callable[[], bool]] = {
        "Go broadcast at every swimcore node": lambda: all(got_broadcast(m) for m in ours),
        "swimcore broadcast at every Go node": lambda: all(
            _go_saw(g, "user", None, payload="hello-from-swimcore") for g in gos
        ),
        "Go reliable message at sc2": lambda: any(
            isinstance(e, MessageReceived) and e.payload == b"direct-from-go" and e.reliable
            for e in sc2.history()
        ),
        "swimcore reliable message at go1": lambda: _go_saw(
            go1, "user", None, payload="direct-from-swimcore"
        ),
        "delivery confirmed at sc2": lambda: any(
            isinstance(e, MessageDelivered) and e.to == "go1" for e in sc2.history()
        ),
    }
    # Broadcasts are best effort in memberlist (each goes out retransmit_mult * log10(n + 1)
    # times, and Go nodes do not pass others' on): as an application would, send again each
    # second until everyone has it.  Duplicates of one payload are delivered once.
    for _ in range(10):
        try:
            await eventually(
                lambda: all(check() for check in checks.values()), "messages", timeout=scale
            )
            return
        except AssertionError:
            go1.command("broadcast hello-from-go")
            sc1.broadcast("greeting", b"hello-from-swimcore")
    missing = [what for what, check in checks.items() if not check()]
    raise AssertionError(f"user messages did not cross: {missing}")


def _go_saw(go: GoPeer, kind: str, name: str | None, **fields: Any) -> bool:
    return bool(
        go.seen(
            lambda e: (
                e.get("event") == kind
                and e.get("name") == name
                and all(e.get(k) == v for k, v in fields.items())
            )
        )
    )


async def _scenario(
    direction: str,
    *,
    driver: str,
    key: bytes,
    go_compress: bool,
    wire: str,
    messages: bool,
    settings: dict[str, int],
) -> None:
    config = _config(wire, settings)
    detection = _detection(settings)
    scale = settings["probe-interval"] / FAST["probe-interval"]
    keyring = Keyring(key) if key else None
    gos: list[GoPeer] = []
    ours: list[Member] = []

    def go(name: str, join: str) -> GoPeer:
        peer = GoPeer(
            name, join=join, key=key, compress=go_compress, meta=f"{name}-m0", settings=settings
        )
        gos.append(peer)
        return peer

    async def swim(name: str, seeds: list[str]) -> Member:
        member = _Driver(
            driver,
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
            await eventually(
                lambda: first.last("ready") is not None, "go1 did not start", timeout=10
            )
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

        def not_converged() -> str:
            views = {m.name: sorted(x.name for x in m.members()) for m in ours}
            return f"no convergence: go {go_views}, swimcore {views}"

        took = await _until_views(converged, 20 * scale, not_converged)
        print(f"[{direction}] six members everywhere after {took:.1f} s")
        go1, go2, go3 = gos if gos[0].name == "go1" else sorted(gos, key=lambda g: g.name)
        sc1, sc2, sc3 = ours
        first_view = _lookup(sc1, "go1")
        assert first_view is not None and first_view.meta == b"go1-m0"
        assert _go_saw(go1, "join", "sc1", meta="sc1-m0")

        # Metadata, both ways.
        sc1.set_metadata(b"sc1-v2")
        go1.command("set-meta go1-v2")
        await _until_all(
            {
                **{
                    f"{g.name} read sc1's metadata": functools.partial(
                        _go_saw, g, "update", "sc1", meta="sc1-v2"
                    )
                    for g in gos
                },
                **{
                    f"{m.name} read go1's metadata": functools.partial(
                        _has_meta, m, "go1", b"go1-v2"
                    )
                    for m in ours
                },
            },
            10 * scale,
            "metadata to cross",
        )

        if messages:
            await _user_messages(gos, ours, scale)

        # Crashes: a Go node killed, a swimcore node stopped without a word.
        go3.kill()
        await sc3.close(leave=False)
        took = await _until_all(
            {
                **{
                    f"{m.name} failed go3": functools.partial(_failed, m, "go3") for m in (sc1, sc2)
                },
                **{
                    f"{g.name} failed sc3": functools.partial(
                        _go_saw, g, "leave", "sc3", state="dead"
                    )
                    for g in (go1, go2)
                },
            },
            detection + MARGIN + 5 * scale,
            "the crashes to be detected",
        )
        print(f"[{direction}] both crashes detected on the other side after {took:.1f} s")
        assert took <= detection + MARGIN, (
            f"detection took {took:.1f} s > {detection:.1f} s + {MARGIN:.1f} s"
        )

        # Graceful leaves, both ways.
        go2.command("leave")
        await sc2.leave(linger=1.0 * scale)
        await _until_all(
            {
                "sc1 saw go2 leave": lambda: _left(sc1, "go2"),
                "sc1 saw sc2 leave": lambda: _left(sc1, "sc2"),
                "go1 saw sc2 leave": lambda: _go_saw(go1, "leave", "sc2", state="left"),
                "go1 saw go2 leave": lambda: _go_saw(go1, "leave", "go2", state="left"),
            },
            10 * scale,
            "the leaves to be seen",
        )
        assert not _failed(sc1, "go2")
        assert not _go_saw(go1, "leave", "sc2", state="dead")
        # The survivors settle on the two of them. Not at once: sc3's death can race a late
        # refutation of an earlier suspicion (a higher incarnation), which revives it until one
        # more detection, so the bound is a detection.
        survivors = {"go1", "sc1"}
        final: dict[str, set[str]] = {}

        async def settled() -> bool:
            final["sc1"] = {m.name for m in sc1.members()}
            final["go1"] = await asyncio.to_thread(go1.member_names)
            return final["sc1"] == final["go1"] == survivors

        def not_settled() -> str:
            about_sc3 = [
                (type(e).__name__, e.member.incarnation)
                for e in sc1.history()
                if isinstance(e, MemberAlive | MemberSuspected | MemberFailed)
                and e.member.name == "sc3"
            ]
            return (
                f"views did not settle on {survivors}: {final}; "
                f"sc1's events about sc3: {about_sc3}; "
                f"go1's: {go1.seen(lambda e: e.get('name') == 'sc3')}"
            )

        took = await _until_views(settled, detection + MARGIN, not_settled)
        print(f"[{direction}] the survivors' views settled {took:.1f} s later")
        assert sc1.counters().get("dropped.malformed", 0) == 0
    finally:
        for member in reversed(ours):  # last started, first closed (anyio's scopes nest)
            await member.close(leave=False)
        for peer in gos:
            await asyncio.to_thread(peer.stop)


@pytest.mark.parametrize(
    ("direction", "variant", "driver"),
    [
        ("swimcore-joins-go", "plain", "asyncio"),
        ("go-joins-swimcore", "encrypted", "asyncio"),
        ("swimcore-joins-go", "go-compressed", "asyncio"),
        ("go-joins-swimcore", "plain", "anyio"),
        ("swimcore-joins-go", "encrypted", "anyio"),
        ("swimcore-joins-go", "plain", "thread"),
        ("go-joins-swimcore", "go-compressed", "thread"),
        ("go-joins-swimcore", "plain", "bridged"),
        ("swimcore-joins-go", "encrypted", "bridged"),
    ],
)
def test_mixed_cluster(direction: str, variant: str, driver: str) -> None:
    """Every driver joins Go nodes and is joined by them on the memberlist wire (plain,
    encrypted, compressed): metadata, broadcasts and reliable messages both ways, a kill -9 and
    a graceful leave on each side."""
    peer_binary()
    asyncio.run(
        asyncio.wait_for(
            _scenario(
                direction,
                driver=driver,
                key=KEY if variant == "encrypted" else b"",
                go_compress=variant == "go-compressed",
                wire="memberlist+lzw" if variant == "go-compressed" else "memberlist",
                messages=True,
                settings=FAST,
            ),
            timeout=90,
        )
    )


@pytest.mark.slow
@pytest.mark.parametrize("direction", ["swimcore-joins-go", "go-joins-swimcore"])
def test_mixed_cluster_on_the_lan_preset_unscaled(direction: str) -> None:
    """The same with memberlist's LAN preset as it is on both sides (1 s probes): ~1 minute."""
    peer_binary()
    asyncio.run(
        asyncio.wait_for(
            _scenario(
                direction,
                driver="asyncio",
                key=KEY,
                go_compress=True,
                wire="memberlist+lzw",
                messages=True,
                settings=LAN,
            ),
            timeout=300,
        )
    )


def test_the_docs_memberlist_example_joins_a_go_node(tmp_path: Path) -> None:
    """docs/memberlist.md's example, as written but on free ports, against a real Go node."""
    peer_binary()
    page = (Path(__file__).resolve().parent.parent / "docs" / "memberlist.md").read_text()
    found = re.search(r"```py\n(.*?)```.*?```text\n(.*?)```", page, flags=re.S)
    assert found is not None, "the page lost its example or its output"
    code, shown = found.groups()
    go = GoPeer("go1", meta="role=go")
    try:
        code = code.replace("127.0.0.1:7946", f"127.0.0.1:{go.port}")
        code = code.replace("127.0.0.1:7947", "127.0.0.1:0")
        script = tmp_path / "example.py"
        script.write_text(code)
        result = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
        )
    finally:
        go.stop()
    assert result.returncode == 0, result.stderr
    assert expected_pattern(shown).fullmatch(result.stdout), result.stdout
