"""One forged datagram cannot pin a live member dead on either wire.

A member refutes a suspicion by announcing itself at a higher incarnation; at the largest
incarnation its wire carries it can go no higher, so news may only step so far above what is
known (the wire's ``INCARNATION_STEP``): 2**32 on the native wire, whose incarnations are 64-bit,
and 2**20 on memberlist's, whose incarnations are 32-bit.
"""

from __future__ import annotations

import random

import pytest

from swimcore import Config, MemberFailed, State
from swimcore.messages import Gossip, Suspect
from swimcore.testing import group
from swimcore.wire.loading import for_node

STEPS = {"native": 2**32, "memberlist": 2**20}


def _forge_suspicion(wire: str, above: int) -> tuple[list[State], list[int], int]:
    """What the others hold of a member ``above`` its incarnation in a forged suspicion."""
    config = Config.lan(label="t", wire=wire)
    net, nodes = group(4, config, seed=3)
    victim, hearer, forger = nodes[0], nodes[1], nodes[3]
    forged = for_node(config, forger.name, forger.address, None, random.Random(0))
    incarnation = victim.incarnation + above
    data = forged.assemble(
        forged.header,
        forged.encode_message(Gossip()),
        [forged.encode_update(Suspect(victim.name, incarnation, forger.name))],
    )
    net.feed(hearer, hearer.receive(data, forger.address, net.now))
    net.run_for(60.0)
    views = []
    for node in nodes[1:]:
        row = node.member(victim.name)
        assert row is not None
        views.append(row.state)
    failed = [
        len([e for e in net.events(node) if isinstance(e, MemberFailed)]) for node in nodes[1:]
    ]
    return views, failed, hearer.counters().get("dropped.incarnation_jump", 0)


def test_a_suspicion_at_the_top_of_memberlists_range_is_dropped() -> None:
    """At 2**32 - 2 the member could only refute at 2**32 - 1, the most the wire carries, which
    a second forgery at 2**32 - 1 would beat for good."""
    views, failed, dropped = _forge_suspicion("memberlist", 2**32 - 2)
    assert views == [State.ALIVE] * 3
    assert failed == [0, 0, 0]
    assert dropped == 1


@pytest.mark.parametrize("wire", ["native", "memberlist"])
def test_a_suspicion_beyond_the_step_is_dropped(wire: str) -> None:
    views, failed, dropped = _forge_suspicion(wire, STEPS[wire] + 1)
    assert views == [State.ALIVE] * 3
    assert failed == [0, 0, 0]
    assert dropped == 1


@pytest.mark.parametrize("wire", ["native", "memberlist"])
def test_a_suspicion_within_the_step_is_refuted(wire: str) -> None:
    """A jump within the step (a restart epoch) is taken: the suspicion spreads, and the member
    refutes it above, so every view ends alive."""
    views, failed, dropped = _forge_suspicion(wire, STEPS[wire] // 2)
    assert views == [State.ALIVE] * 3
    assert failed == [0, 0, 0]
    assert dropped == 0
