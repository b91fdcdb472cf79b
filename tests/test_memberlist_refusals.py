"""A refused exchange on the memberlist wire answers with memberlist's ``errResp``.

memberlist answers a stream it cannot take with an error response (message type 13, a msgpack
map ``{"Error": text}``), and a Go joiner's ``Join`` then fails with ``remote error: TEXT``.
swimcore members on the memberlist wire now do the same when they refuse a join (another label,
a key that does not open it, encryption at one end only, the application's merge veto), framed
as the request was so that its sender can read it; and a swimcore joiner reads the reason in a
Go member's error response.  Checked between swimcore nodes without I/O, on the bytes, and
against the Go peer (tests/memberlist_peer).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import anyio
import pytest
from helpers import Link, make_node
from memberlist_peer.harness import FAST, GoPeer, peer_binary
from support.configs import fast
from support.matrix import Driver
from support.poll import eventually

from swimcore import Config, ExchangeRefused, JoinFailed, Keyring, MemberJoined, refusals
from swimcore.transports import AsyncioMember
from swimcore.wire.memberlist import stream
from swimcore.wire.memberlist.messages import MlAck, MlErr, MlPushPull, MsgType

pytest.importorskip("cryptography")

KEY_A = bytes(range(16))
KEY_B = bytes(range(1, 17))
ML = Config.lan(wire="memberlist")


def _never(rows: object) -> bool:
    return False


@pytest.mark.parametrize(
    ("seed_kw", "joiner_kw", "reason", "detail"),
    [
        ({"config": Config.lan(wire="memberlist", label="g")}, {"config": ML},
         "foreign_label", "the sender's label is ''"),
        ({"config": ML, "keyring": Keyring(KEY_A)}, {"config": ML, "keyring": Keyring(KEY_B)},
         "auth_failed", "it did not open with this member's keys"),
        ({"config": ML, "keyring": Keyring(KEY_A)}, {"config": ML},
         "auth_failed", "encryption is configured but the stream is not encrypted"),
        ({"config": ML}, {"config": ML, "keyring": Keyring(KEY_A)},
         "auth_failed", "stream is encrypted and encryption is not configured"),
        ({"config": ML, "admit_merge": _never}, {"config": ML},
         "merge_vetoed", "this member's application refused the merge"),
    ],
    ids=["label", "other-key", "key-at-seed-only", "key-at-joiner-only", "merge-veto"],
)  # fmt: skip
def test_the_joiner_reads_why_on_the_memberlist_wire(
    seed_kw: dict[str, Any], joiner_kw: dict[str, Any], reason: str, detail: str
) -> None:
    seed, joiner = make_node(1, **seed_kw), make_node(2, **joiner_kw)
    link = Link()
    link.add(seed, joiner)
    link.carry(seed, seed.start(0.0), 0.0)
    link.carry(joiner, joiner.join([seed.address], 0.0), 0.0)
    link.run(until=30.0, step=0.1)
    assert link.events_of(seed.name, ExchangeRefused) == [ExchangeRefused(reason, detail)]
    failures = link.events_of(joiner.name, JoinFailed)
    expected = refusals.describe(reason, detail)
    # Whichever key the reply is sealed with, the joiner can read it where a key is shared or
    # the request was plain; with two different keys it cannot (nor can a Go joiner).
    readable = reason != "auth_failed" or "encrypt" in detail
    assert failures and all((f.reason == expected) is readable for f in failures), failures
    assert not link.events_of(joiner.name, MemberJoined)
    if readable:
        assert joiner.counters()["exchanges_refused"] >= len(failures)  # joins and reconnects


@pytest.mark.parametrize(
    ("label", "keys"), [("", ()), ("blue", ()), ("", (KEY_A,)), ("blue", (KEY_A, KEY_B))]
)
def test_an_error_response_is_framed_as_the_request_was(
    label: str, keys: tuple[bytes, ...]
) -> None:
    rng = random.Random(1)
    request = stream.encode_stream(MlPushPull(True, ()), label=label, keys=keys[-1:], rng=rng)
    reply = stream.error_stream(request, "foreign_label: x", keys=keys[:1], rng=rng)
    assert reply is not None
    # memberlist reads it as it reads any reply to that request: same label, same keys.
    assert stream.decode_stream(reply, label=label, keys=keys) == MlErr("foreign_label: x")
    assert stream.read_error(reply, keys=keys) == "foreign_label: x"
    if keys:  # sealed because the request was: unreadable without a key
        assert stream.read_error(reply) is None


def test_a_plain_request_gets_a_plain_error_even_from_an_encrypted_member() -> None:
    request = stream.encode_stream(MlPushPull(True, ()))
    reply = stream.error_stream(request, "auth_failed: y", keys=(KEY_A,), rng=random.Random(2))
    assert reply is not None and reply[0] == MsgType.ERR
    assert stream.read_error(reply, keys=(KEY_B,)) == "auth_failed: y"


def test_only_error_responses_are_read_as_refusals() -> None:
    rng = random.Random(3)
    assert stream.read_error(stream.encode_stream(MlPushPull(False, ()), rng=rng)) is None
    assert stream.read_error(stream.encode_stream(MlAck(1))) is None
    long_error = stream.encode_stream(MlErr("x" * 5000))
    assert stream.decode_stream(long_error) == MlErr("x" * 5000)
    assert stream.read_error(long_error) is None  # longer than any refusal: not looked into
    assert stream.read_error(b"\x0d\xff") is None
    # A Go member's own error is a refusal of reason peer_error, its text kept.
    go_text = "Remote state is encrypted and encryption is not configured"
    assert refusals.parse(go_text) == ("peer_error", go_text)
    assert refusals.parse("merge_vetoed: no") == ("merge_vetoed", "no")
    assert refusals.parse("peer_error: spoofed") == ("peer_error", "peer_error: spoofed")


# Against the Go peer ---------------------------------------------------------------------------


def _go_join_error(go: GoPeer) -> str:
    joined = go.last("joined")
    assert joined is not None
    return str(joined.get("error", ""))


def _go_contacted(go: GoPeer) -> int:
    joined = go.last("joined")
    assert joined is not None
    return int(joined["contacted"])


@pytest.mark.parametrize(
    ("ours", "text"),
    [
        ({"keyring": Keyring(KEY_A)},
         "remote error: auth_failed: encryption is configured but the stream is not encrypted"),
        ({"admit_merge": _never},
         "remote error: merge_vetoed: this member's application refused the merge"),
    ],
    ids=["key-here-only", "merge-veto"],
)  # fmt: skip
def test_a_go_joiner_is_told_why(ours: dict[str, Any], text: str) -> None:
    peer_binary()

    async def story() -> None:
        config = fast("memberlist")
        async with AsyncioMember(config, name="sc1", leave_on_exit=False, **ours) as member:
            refused: list[ExchangeRefused] = []
            member.on_event(lambda e: refused.append(e) if isinstance(e, ExchangeRefused) else None)
            go = await asyncio.to_thread(GoPeer, "go1", join=str(member.address))
            try:
                await eventually(lambda: go.last("joined") is not None, "go1 did not try")
                assert text in _go_join_error(go)
                assert _go_contacted(go) == 0
                await eventually(lambda: bool(refused), "sc1 did not report the refusal")
                assert {m.name for m in member.members()} == {"sc1"}
            finally:
                await asyncio.to_thread(go.stop)

    asyncio.run(asyncio.wait_for(story(), 60))


def test_a_go_joiner_is_told_the_label_differs_on_every_driver(driver: Driver) -> None:
    """The drivers frame a stream under another label like any other, so the node can answer
    (memberlist 0.2, the Go peer's version, sends no label: ours is "blue")."""
    peer_binary()
    config = fast("memberlist", label="blue")

    async def story(driver: Driver) -> None:
        async with driver.member(config, name="sc1", leave_on_exit=False) as member:
            go = await _to_thread(GoPeer, "go1", join=str(member.address))
            try:
                await eventually(lambda: go.last("joined") is not None, "go1 did not try")
                error = _go_join_error(go)
                assert "remote error: foreign_label: the sender's label is ''" in error, error
                assert _go_contacted(go) == 0
                assert member.counters().get("dropped.foreign_label", 0) >= 1
            finally:
                await _to_thread(go.stop)

    driver.run(story)


async def _to_thread(function: Any, *args: Any, **kwargs: Any) -> Any:
    return await anyio.to_thread.run_sync(lambda: function(*args, **kwargs))


def test_a_swimcore_joiner_reads_a_go_members_error() -> None:
    """memberlist answers an encrypted join it has no key for with an errResp: the joiner's
    JoinFailed carries its text."""
    peer_binary()

    async def story() -> None:
        go = await asyncio.to_thread(GoPeer, "go1", settings=FAST)
        try:
            config = fast("memberlist")
            async with AsyncioMember(config, name="sc1", seeds=[go.address], keyring=Keyring(KEY_A),
                                     leave_on_exit=False) as member:  # fmt: skip
                failed: list[JoinFailed] = []
                member.on_event(lambda e: failed.append(e) if isinstance(e, JoinFailed) else None)
                await eventually(lambda: bool(failed), "the join did not fail")
                go_text = "Remote state is encrypted and encryption is not configured"
                assert failed[0].reason == refusals.describe("peer_error", go_text)
                assert member.counters()["exchanges_refused"] >= 1
        finally:
            await asyncio.to_thread(go.stop)

    asyncio.run(asyncio.wait_for(story(), 60))
