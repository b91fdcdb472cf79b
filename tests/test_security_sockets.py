"""Encryption on real sockets: the asyncio driver on loopback, attacked from a raw socket.

* A group whose members each hold their own keyring converges, and no packet fails to open.
* Datagrams sealed under a wrong key, sealed under the right key for a wrong label, or not
  sealed at all are dropped and counted as ``dropped.auth_failed``; none reaches the decoder.
* A reliable exchange under a wrong key is refused (no reply) and counted.
* Datagrams captured off the wire from a member (a tap on its sending path) and replayed after
  it died cannot revive it; the replayed acks are counted as stale.
* Keys rotate on the running group (install everywhere, switch primaries, remove the old key)
  with no suspicion and no packet refused.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable, Coroutine, Sequence

from helpers import known
from security_support import KEY_A, KEY_B
from support.configs import fast
from support.poll import eventually

from swimcore import (
    Address,
    Config,
    Keyring,
    MemberAlive,
    MemberFailed,
    MemberJoined,
    MemberSuspected,
    State,
    refusals,
)
from swimcore.messages import Ack, Dead, MemberState, Packet, Ping, PushPull
from swimcore.transports import AsyncioMember
from swimcore.wire import LengthPrefixed
from swimcore.wire.native import codec

#: Loopback timings in the group labelled "blue" (the label is sealed into every datagram).
BLUE = fast(label="blue")
TIMEOUT = 20.0


def start_member(
    ring: Keyring,
    seeds: Sequence[AsyncioMember] = (),
    config: Config = BLUE,
) -> AsyncioMember:
    return AsyncioMember(
        config,
        "127.0.0.1:0",
        seeds=[str(s.address) for s in seeds],
        keyring=ring,
        leave_on_exit=False,
    )


async def group(
    rings: list[Keyring], before_start: Callable[[int, AsyncioMember], None] | None = None
) -> list[AsyncioMember]:
    members: list[AsyncioMember] = []
    for i, ring in enumerate(rings):
        member = start_member(ring, members[:1])
        if before_start is not None:
            before_start(i, member)
        await member.start()
        members.append(member)
    names = sorted(m.name for m in members)
    await eventually(
        lambda: all(sorted(x.name for x in m.members()) == names for m in members),
        "the group never converged",
        timeout=TIMEOUT,
    )
    return members


async def close_all(members: list[AsyncioMember]) -> None:
    for member in members:
        await member.close(leave=False)


def run(main: Callable[[], Coroutine[object, object, None]]) -> None:
    asyncio.run(main())


def udp_to(address: Address, datagrams: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for data in datagrams:
            sock.sendto(data, (str(address.ip), address.port))


def record(
    members: list[AsyncioMember], kinds: tuple[type, ...], about: str | None = None
) -> list[object]:
    """Events of ``kinds`` (about the member named ``about``) on any of ``members`` from now."""
    seen: list[object] = []

    def on(event: object) -> None:
        member = getattr(event, "member", None)
        if isinstance(event, kinds) and (about is None or getattr(member, "name", None) == about):
            seen.append(event)

    for member in members:
        member.on_event(on)
    return seen


def auth_failed(member: AsyncioMember) -> int:
    return member.counters().get("dropped.auth_failed", 0)


def test_an_encrypted_group_converges_on_loopback() -> None:
    async def main() -> None:
        members = await group([Keyring(KEY_A) for _ in range(3)])
        try:
            await asyncio.sleep(1.0)
            assert [auth_failed(m) for m in members] == [0, 0, 0]
            assert all(m.counters()["probes_acked"] > 0 for m in members)
        finally:
            await close_all(members)

    run(main)


def test_wrong_key_wrong_label_and_plaintext_datagrams_are_dropped_and_counted() -> None:
    async def main() -> None:
        members = await group([Keyring(KEY_A) for _ in range(2)])
        target, other = members
        try:
            rng = random.Random(3)
            forged = codec.encode_packet(
                Packet("blue", Ping(1, target.name, "x"), (Dead(other.name, 0, "x"),))
            )
            wrong_label = codec.encode_packet(
                Packet("red", Ping(1, target.name, "x"), (Dead(other.name, 0, "x"),))
            )
            datagrams = (
                [Keyring(KEY_B).seal(forged, "blue", rng) for _ in range(20)]
                + [Keyring(KEY_A).seal(wrong_label, "red", rng) for _ in range(20)]
                + [Keyring(KEY_A).seal(forged, "red", rng) for _ in range(20)]
                + [forged] * 20
            )
            before = auth_failed(target)
            # other keeps probing target meanwhile: its genuine pings may arrive (one may be in
            # flight already), the 80 forged ones must not.
            genuine = other.counters().get("sent.ping", 0)
            parsed = target.counters().get("received.ping", 0)
            udp_to(target.address, datagrams)
            await eventually(
                lambda: auth_failed(target) - before == 80,
                "the 80 forged datagrams were not all counted as auth_failed",
                timeout=TIMEOUT,
            )
            pings = target.counters().get("received.ping", 0) - parsed
            assert pings <= other.counters().get("sent.ping", 0) - genuine + 1
            assert other.name in [m.name for m in target.members()]
            assert known(target, other.name).state is State.ALIVE
        finally:
            await close_all(members)

    run(main)


def test_an_exchange_under_a_wrong_key_gets_only_a_refusal_and_is_counted() -> None:
    async def main() -> None:
        members = await group([Keyring(KEY_A)])
        target = members[0]
        try:
            snapshot = codec.encode_push_pull(
                PushPull(
                    "blue", False, (MemberState("evil", Address("127.0.0.1", 9), 0, State.ALIVE),)
                )
            )
            sealed = Keyring(KEY_B).seal(snapshot, "blue", random.Random(1))
            before = auth_failed(target)
            reader, writer = await asyncio.open_connection(
                str(target.address.ip), target.address.port
            )
            writer.write(LengthPrefixed().encode(sealed))
            await writer.drain()
            reply = await asyncio.wait_for(reader.read(), 10.0)
            # A stranger learns nothing of the group: at most a refusal that names the reason.
            refusal = refusals.decode(reply[4:])
            assert reply == b"" or (refusal is not None and refusal[0] == "auth_failed"), reply
            writer.close()
            await writer.wait_closed()
            assert auth_failed(target) == before + 1
            assert target.member("evil") is None
        finally:
            await close_all(members)

    run(main)


def test_replayed_datagrams_cannot_revive_a_dead_member() -> None:
    captured: list[tuple[Address, bytes]] = []

    def tap(i: int, member: AsyncioMember) -> None:
        if i == 2:
            send = member._send

            def recording(to: Address, data: bytes) -> None:
                captured.append((to, data))
                send(to, data)

            member._send = recording  # type: ignore[method-assign]

    async def main() -> None:
        members = await group([Keyring(KEY_A) for _ in range(3)], before_start=tap)
        survivors, victim = members[:2], members[2]
        try:
            ring = Keyring(KEY_A)

            def acks_captured() -> int:
                return sum(
                    isinstance(codec.decode_packet(ring.open(d, "blue") or b"").message, Ack)
                    for _, d in captured
                )

            await eventually(
                lambda: acks_captured() >= 3 and len(captured) >= 10,
                "too little of the victim's traffic captured",
                timeout=TIMEOUT,
            )
            await victim.close(leave=False)  # the victim crashes
            await eventually(
                lambda: all(
                    (info := s.member(victim.name)) is not None and info.state is State.DEAD
                    for s in survivors
                ),
                "the survivors never declared the crashed victim dead",
                timeout=TIMEOUT,
            )
            acks = acks_captured()
            stale = [s.counters().get("dropped.stale_ack", 0) for s in survivors]
            joined = record(survivors, (MemberJoined, MemberAlive), about=victim.name)
            for to, data in captured:
                udp_to(to, [data])
            await eventually(
                lambda: (
                    sum(s.counters().get("dropped.stale_ack", 0) for s in survivors)
                    >= sum(stale) + acks
                ),
                "the replayed acks were not all counted as stale",
                timeout=TIMEOUT,
            )
            await asyncio.sleep(0.5)
            for s in survivors:
                info = s.member(victim.name)
                assert info is not None and info.state is State.DEAD
                assert auth_failed(s) == 0, "the replays were authentic"
            assert joined == [], "the replay brought the dead member back"
        finally:
            await close_all(survivors)

    run(main)


def test_keys_rotate_on_a_running_group_with_no_member_lost() -> None:
    async def main() -> None:
        rings = [Keyring(KEY_A) for _ in range(3)]
        members = await group(rings)
        suspected = record(members, (MemberSuspected, MemberFailed))
        try:
            steps: list[Callable[[Keyring], object]] = [
                lambda r: r.install(KEY_B),
                lambda r: r.use(KEY_B),
                lambda r: r.remove(KEY_A),
            ]
            for step in steps:
                for ring in rings:
                    step(ring)
                    await asyncio.sleep(0.3)
            acked = [m.counters()["probes_acked"] for m in members]
            await asyncio.sleep(1.5)
            assert all(r.keys == (KEY_B,) for r in rings)
            assert [auth_failed(m) for m in members] == [0, 0, 0]
            assert suspected == []
            assert all(
                m.counters()["probes_acked"] > a for m, a in zip(members, acked, strict=True)
            )
        finally:
            await close_all(members)

    run(main)
