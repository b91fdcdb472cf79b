"""Misconfiguration is reported where it happens, once, and the joiner is told why.

Issue 19, finding 3: a different group label, a different or missing key, or two members with
one name all showed only "join through ADDR failed: connection closed before the reply",
repeated forever, and the member being joined logged nothing.  Each test here fails on 25ef229.
"""

from __future__ import annotations

import time
from typing import TypedDict

import pytest
from helpers import Link, addr, make_node
from support.poll import eventually_blocking
from test_run_cli_processes import Process

from swimcore import (
    Config,
    ExchangeRefused,
    JoinFailed,
    Keyring,
    MemberJoined,
    NameConflict,
    Node,
    refusals,
)

KEY_A = bytes(range(16))
KEY_B = bytes(range(1, 17))


class NodeArgs(TypedDict, total=False):
    """What a case below sets on one side: its config or its keyring."""

    config: Config
    keyring: Keyring


def _join_for(link: Link, joiner: Node, seed: Node, seconds: float) -> None:
    link.add(seed, joiner)
    link.carry(seed, seed.start(0.0), 0.0)
    link.carry(joiner, joiner.join([seed.address], 0.0), 0.0)
    link.run(until=seconds, step=0.1)


@pytest.mark.parametrize(
    ("seed_kwargs", "joiner_kwargs", "reason", "advice"),
    [
        ({"config": Config.lan(label="g")}, {"config": Config.lan(label="other")},
         "foreign_label", "same GROUP"),
        ({"keyring": Keyring(KEY_A)}, {"keyring": Keyring(KEY_B)}, "auth_failed", "--key-file"),
        ({"keyring": Keyring(KEY_A)}, {}, "auth_failed", "--key-file"),
        ({}, {"keyring": Keyring(KEY_A)}, "auth_failed", "--key-file"),
    ],
)  # fmt: skip
def test_a_refused_join_is_reported_once_on_both_sides_and_the_joiner_backs_off(
    seed_kwargs: NodeArgs, joiner_kwargs: NodeArgs, reason: str, advice: str
) -> None:
    seed, joiner = make_node(1, **seed_kwargs), make_node(2, **joiner_kwargs)
    link = Link()
    _join_for(link, joiner, seed, seconds=120.0)

    refused = link.events_of(seed.name, ExchangeRefused)
    assert [event.reason for event in refused] == [reason]  # once, however many attempts
    failures = link.events_of(joiner.name, JoinFailed)
    assert failures, "the joiner kept trying"
    assert all(advice in failure.reason and "refused" in failure.reason for failure in failures)
    assert not link.events_of(joiner.name, MemberJoined)
    # Without the back-off, a retry every 2-3 s makes about 50 attempts in 120 s; doubling up
    # to 8 times the interval leaves fewer than 12.  Every refusal is counted (the joins and
    # the periodic reconnects to the seed).
    assert len(failures) < 12
    assert joiner.counters()["exchanges_refused"] >= len(failures)


def test_a_foreign_label_refusal_names_the_senders_label() -> None:
    seed, joiner = make_node(1, Config.lan(label="g")), make_node(2, Config.lan(label="other"))
    link = Link()
    _join_for(link, joiner, seed, seconds=1.0)
    (refused,) = link.events_of(seed.name, ExchangeRefused)
    assert "'other'" in refused.detail
    assert "'other'" in link.events_of(joiner.name, JoinFailed)[0].reason


def test_the_same_name_at_two_addresses_raises_a_name_conflict_on_both_sides() -> None:
    first = Node(Config.lan(), addr(1), name="worker", seed=1)
    second = Node(Config.lan(), addr(2), name="hub", seed=2)
    duplicate = Node(Config.lan(), addr(3), name="worker", seed=3)
    link = Link()
    link.add(first, second, duplicate)
    for node in (first, second, duplicate):
        link.carry(node, node.start(0.0), 0.0)
    link.carry(first, first.join([second.address], 0.0), 0.0)
    link.run(until=2.0, step=0.1)
    link.carry(duplicate, duplicate.join([second.address], 2.0), 2.0)
    link.run(until=10.0, step=0.1, start=2.0)

    held = link.events_of("hub", NameConflict)
    assert held and held[0] == NameConflict("worker", addr(1), addr(3), local=False)
    own = [event for event in link.events_of("worker", NameConflict) if event.local]
    assert own, "the member whose name is taken is told"
    assert {event.other for event in own} <= {addr(1), addr(3)}
    assert all(event.other != event.address for event in own)
    # Reported once per name and address, however often the news repeats.
    assert len(held) == len({event.other for event in held})


def test_a_refusal_reply_is_read_only_when_well_formed() -> None:
    reply = refusals.encode("foreign_label", "the sender's label is 'x'")
    assert refusals.decode(reply) == ("foreign_label", "the sender's label is 'x'")
    assert refusals.decode(refusals.MAGIC + b"bogus: reason") is None
    assert refusals.decode(b"SW" + reply) is None
    assert refusals.decode(refusals.MAGIC + b"auth_failed: " + b"x" * 1000) is None


def test_reports_are_bounded_and_repeat_after_the_window() -> None:
    once = refusals.ReportOnce()
    assert once.first("a", 0.0)
    assert not once.first("a", 1.0)
    assert once.first("a", refusals.REPORT_WINDOW + 1.0)
    for key in range(refusals.MAX_REPORTS + 5):
        once.first(key, 2000.0)
    assert len(once._seen) == refusals.MAX_REPORTS


@pytest.mark.parametrize("driver", ["asyncio", "anyio", "trio", "thread"])
def test_swimcore_run_logs_the_refusal_on_both_sides(driver: str) -> None:
    """Real sockets: the seed logs what it refused, the joiner logs why, each once."""
    fast = ["--preset", "local", "--print-every", "0.5", "--driver", driver, "--duration", "20"]
    seed = Process("g", "127.0.0.1:0", "127.0.0.1:0", *fast)
    joiner = None
    try:
        eventually_blocking(lambda: seed.address is not None, lambda: seed.err, timeout=20)
        joiner = Process("other", "127.0.0.1:0", str(seed.address), *fast,
                         "--set", "join_retry_interval=0.2")  # fmt: skip

        def told() -> bool:
            return any("refused: the group label differs" in line for line in joiner.err)

        eventually_blocking(told, lambda: joiner.err, timeout=20)
        eventually_blocking(
            lambda: any("refused an exchange" in line for line in seed.err),
            lambda: seed.err,
            timeout=10,
        )
        time.sleep(2.0)  # several more attempts (0.2 s apart, backing off to 1.6 s)
    finally:
        codes = [process.stop() for process in (seed, joiner) if process is not None]
    assert codes == [0, 0]
    assert sum("refused: the group label differs" in line for line in joiner.err) == 1
    assert sum("refused an exchange: foreign_label" in line for line in seed.err) == 1
    assert all("Traceback" not in line for line in seed.err + joiner.err)
