"""The application's vetoes: admitting a member (memberlist's alive delegate) and a whole merge
(its merge delegate), and the example that requires a metadata tag."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from helpers import Link, addr

from swimcore import Config, ExchangeRefused, JoinFailed, MemberInfo, MemberJoined, Node

ROOT = Path(__file__).resolve().parent.parent


def _tagged(info: MemberInfo) -> bool:
    return b"role=db" in info.meta.split(b",")


def _cluster(*nodes: Node, until: float = 20.0) -> Link:
    link = Link()
    link.add(*nodes)
    for node in nodes:
        link.carry(node, node.start(0.0), 0.0)
    for node in nodes[1:]:
        link.carry(node, node.join([nodes[0].address], 0.0), 0.0)
    link.run(until=until, step=0.1)
    return link


def test_a_member_without_the_tag_is_not_admitted_nor_spread() -> None:
    strict = Node(Config.lan(), addr(1), name="strict", meta=b"role=db", seed=1, admit=_tagged)
    good = Node(Config.lan(), addr(2), name="good", meta=b"role=db", seed=2)
    bad = Node(Config.lan(), addr(3), name="bad", meta=b"role=web", seed=3)
    link = _cluster(strict, good, bad)
    assert sorted(m.name for m in strict.members()) == ["good", "strict"]
    assert strict.counters()["dropped.not_admitted"] >= 1
    assert [e.member.name for e in link.events_of("strict", MemberJoined)] == ["good"]
    # The other members admit everyone: the rule is each member's own.
    assert sorted(m.name for m in good.members()) == ["bad", "good", "strict"]


def test_an_admission_rule_that_raises_refuses_and_is_counted() -> None:
    def broken(info: MemberInfo) -> bool:
        raise RuntimeError("bug in the application")

    strict = Node(Config.lan(), addr(1), name="strict", seed=1, admit=broken)
    other = Node(Config.lan(), addr(2), name="other", seed=2)
    _cluster(strict, other)
    assert [m.name for m in strict.members()] == ["strict"]
    assert strict.counters()["admission_errors"] >= 1
    assert "dropped.internal_error" not in strict.counters()


def test_a_vetoed_merge_is_refused_and_the_joiner_is_told() -> None:
    seen: list[list[str]] = []

    def small_groups_only(rows: Sequence[MemberInfo]) -> bool:
        seen.append(sorted(row.name for row in rows))
        return len(rows) <= 1

    seed = Node(Config.lan(), addr(1), name="seed", seed=1, admit_merge=small_groups_only)
    first = Node(Config.lan(), addr(2), name="first", seed=2)
    link = _cluster(seed, first, until=5.0)
    assert sorted(m.name for m in seed.members()) == ["first", "seed"]  # one row: accepted
    assert ["first"] in seen

    # A joiner that already knows another member brings two rows: the seed refuses the merge.
    third = Node(Config.lan(), addr(3), name="third", seed=3)
    fourth = Node(Config.lan(), addr(4), name="fourth", seed=4)
    link.add(third, fourth)
    link.carry(third, third.start(5.0, [("fourth", fourth.address)]), 5.0)
    link.carry(third, third.join([seed.address], 5.0), 5.0)
    link.run(until=5.5, step=0.1, start=5.0)
    assert [e.reason for e in link.events_of("seed", ExchangeRefused)] == ["merge_vetoed"]
    assert any("vetoed" in e.reason for e in link.events_of("third", JoinFailed))
    assert "third" not in [m.name for m in seed.members()]
    assert seed.counters()["merges_vetoed"] >= 1


def test_the_admission_example_keeps_untagged_members_out() -> None:
    done = subprocess.run(
        [sys.executable, "examples/admission.py"],
        check=False, capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "db-0 admits: db-0, db-1, db-2" in done.stdout
    assert "web-0 was refused by every db member" in done.stdout


@pytest.mark.parametrize("driver", ["asyncio", "anyio", "trio", "thread"])
def test_the_admission_example_keeps_untagged_members_out_on_every_driver(driver: str) -> None:
    done = subprocess.run(
        [sys.executable, "examples/admission.py", "--driver", driver],
        check=False, capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for i in range(3):
        assert f"db-{i} admits: db-0, db-1, db-2 (refused" in done.stdout, done.stdout
    assert "web-0 sees: db-0, db-1, db-2, web-0" in done.stdout
    assert "web-0 was refused by every db member" in done.stdout
