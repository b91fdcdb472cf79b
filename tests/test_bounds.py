"""Every configurable bound of the core, pressed hard: it holds, it is counted, memory is flat.

Each test feeds one node a stream of hostile but well-formed input aimed at one bound (new
member names past ``max_members``, oversized metadata, indirect probes past ``max_relays``, ...),
checks the counter that says the bound was hit, and measures traced memory (tracemalloc) round
after round once the bound is reached: it must not keep growing.

"Flat" means: over the measured rounds, traced memory grows by less than ``SLACK`` bytes, while
the input pushed through in those rounds is many megabytes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from helpers import addr, encode, known, make_node
from security_support import traced_growth

from swimcore import Address, Config, ExchangeRequest, Node, Send
from swimcore.messages import (
    Alive,
    Dead,
    Gossip,
    IndirectPing,
    MemberState,
    Ping,
    PushPull,
    State,
    Suspect,
    Update,
    UserBroadcast,
)
from swimcore.wire.native import codec

#: Allowed growth of traced memory over the measured rounds (counters, dict resizes, caches).
SLACK = 256 * 1024
ROUNDS = 6
SOURCE = addr(200)


def peer(i: int) -> Address:
    return Address(f"10.9.{i // 256 % 256}.{i % 256}", 7000 + i // 65536)


def started(config: Config, peers: int = 3) -> Node:
    node = make_node(0, config)
    node.start(0.0, [(f"p{i}", addr(i + 1)) for i in range(peers)])
    return node


def assert_flat(sizes: list[int], what: str) -> None:
    growth = max(sizes) - sizes[0]
    assert growth < SLACK, f"{what}: traced memory grew by {growth} bytes: {sizes}"


def press(node: Node, step: Callable[[int], None]) -> list[int]:
    """Run ``step`` for warm-up and measured rounds; tick the node in between."""

    def round_(i: int) -> None:
        step(i)
        node.tick(1.0 + i * 0.001)
        # The process-wide cache of decoded updates is bounded by emptying itself when full
        # (tests/test_codec.py): a sawtooth of up to ~400 KiB whose phase depends on what this
        # process decoded before.  Emptied here, the measure is the node's own state.
        codec._UPDATE_CACHE.clear()

    return traced_growth(round_, ROUNDS)


# max_packet ---------------------------------------------------------------------------------


def test_oversized_datagrams_are_dropped_unread() -> None:
    config = Config.lan(max_packet=1400)
    node = started(config)
    big = encode(Gossip(), *[Alive(f"n{i}", peer(i), 0, bytes(100)) for i in range(20)])
    assert len(big) > config.max_packet

    def step(i: int) -> None:
        for _ in range(500):
            node.receive(big, SOURCE, 1.0)

    assert_flat(press(node, step), "oversized datagrams")
    counters = node.counters()
    assert counters["dropped.oversized"] == 500 * (ROUNDS + 2)
    assert counters["members"] == 4, "nothing in the oversized datagrams was applied"


def test_outgoing_datagrams_never_exceed_max_packet() -> None:
    config = Config.lan(max_packet=512, max_metadata=200)
    node = started(config, peers=50)
    for i in range(300):  # a deep queue of news, each update up to ~230 bytes
        node.receive(encode(Gossip(), Alive(f"m{i}", peer(i), 1, bytes(i % 200))), SOURCE, 0.5)
    sizes = []
    for t in range(1, 200):
        for action in node.tick(t * 0.1):
            if isinstance(action, Send):  # datagrams (exchanges go over TCP, unbounded by it)
                sizes.append(len(action.data))
    assert sizes
    assert max(sizes) <= config.max_packet


# max_metadata -------------------------------------------------------------------------------


def test_oversized_metadata_is_dropped_and_counted() -> None:
    config = Config.lan(max_metadata=64)
    node = started(config)
    fat = bytes(65)

    def step(i: int) -> None:
        for j in range(300):
            name = f"fat{i}-{j}"
            node.receive(encode(Gossip(), Alive(name, peer(j), 0, fat)), SOURCE, 1.0)

    assert_flat(press(node, step), "oversized metadata")
    assert node.counters()["dropped.metadata_too_large"] == 300 * (ROUNDS + 2)
    assert node.counters()["members"] == 4


def test_oversized_metadata_in_a_snapshot_is_dropped_and_counted() -> None:
    config = Config.lan(max_metadata=64)
    node = started(config)
    rows = tuple(
        MemberState(f"s{i}", peer(i), 0, State.ALIVE, bytes(65 if i % 2 else 10))
        for i in range(200)
    )
    reply, _ = node.handle_exchange(codec.encode_push_pull(PushPull("", False, rows)), 1.0)
    assert reply is not None
    assert node.counters()["dropped.metadata_too_large"] == 100
    assert node.counters()["members"] == 4 + 100


def test_metadata_update_about_a_known_member_is_bounded_too() -> None:
    config = Config.lan(max_metadata=64)
    node = started(config)
    node.receive(encode(Gossip(), Alive("p0", addr(1), 5, bytes(65))), SOURCE, 1.0)
    assert known(node, "p0").incarnation == 0
    assert node.counters()["dropped.metadata_too_large"] == 1


# max_members --------------------------------------------------------------------------------


def test_the_member_table_stops_at_max_members() -> None:
    config = Config.lan(max_members=500, max_broadcasts=1000)
    node = started(config)
    fresh = iter(range(10**9))

    def step(i: int) -> None:
        for _ in range(40):
            batch = [Alive(f"x{next(fresh)}", peer(i), 0) for _ in range(40)]
            node.receive(encode(Gossip(), *batch), SOURCE, 1.0)

    sizes = press(node, step)
    assert_flat(sizes, "new members past max_members")
    counters = node.counters()
    assert counters["members"] == config.max_members
    assert counters["dropped.table_full"] == 1600 * (ROUNDS + 2) - (500 - 4)


def test_a_snapshot_cannot_push_the_table_past_max_members() -> None:
    config = Config.lan(max_members=100)
    node = started(config)
    rows = tuple(MemberState(f"s{i}", peer(i), 0, State.ALIVE) for i in range(1000))
    node.handle_exchange(codec.encode_push_pull(PushPull("", False, rows)), 1.0)
    counters = node.counters()
    assert counters["members"] == 100
    # Rows past max_members are not even merged; of the first 100, those past the table's room.
    assert counters["dropped.snapshot_rows"] == 1000 - 100
    assert counters["dropped.table_full"] == 100 - 96


# max_broadcasts -----------------------------------------------------------------------------


def test_the_piggyback_queue_stops_at_max_broadcasts() -> None:
    config = Config.lan(max_broadcasts=200)
    node = started(config)
    fresh = iter(range(10**9))

    def step(i: int) -> None:
        for _ in range(40):
            batch = [Alive(f"q{next(fresh)}", peer(i), 0) for _ in range(40)]
            node.receive(encode(Gossip(), *batch), SOURCE, 1.0)

    # The table fills (max_members is large); the queue must not.
    press(node, step)
    counters = node.counters()
    assert counters["queue_depth"] <= config.max_broadcasts
    assert counters.get("queue_evicted", 0) > 0, "evictions from a full queue are counted"


def test_user_broadcast_keys_stay_within_max_broadcasts_and_new_ones_still_arrive() -> None:
    config = Config.lan(max_broadcasts=100)
    node = started(config)
    fresh = iter(range(10**9))

    def step(i: int) -> None:
        for _ in range(40):
            batch = [UserBroadcast("p0", f"k{next(fresh)}", 1, bytes(8)) for _ in range(30)]
            node.receive(encode(Gossip(), *batch), SOURCE, 1.0)

    assert_flat(press(node, step), "new broadcast keys past max_broadcasts")
    counters = node.counters()
    assert counters["queue_depth"] <= config.max_broadcasts
    assert counters["broadcast_keys"] == config.max_broadcasts
    # The oldest keys make room: every new key is delivered, never "full for good".
    assert counters["broadcast_keys_forgotten"] == 1200 * (ROUNDS + 2) - 100


# max_relays ---------------------------------------------------------------------------------


def test_relayed_probes_stop_at_max_relays() -> None:
    config = Config.lan(max_relays=16)
    node = started(config)
    seqs = iter(range(10**9))

    def step(i: int) -> None:
        for _ in range(500):
            request = IndirectPing(next(seqs) % 2**32, "t", peer(i), "evil", True)
            node.receive(encode(request), SOURCE, 1.0)

    assert_flat(press(node, step), "indirect probes past max_relays")
    counters = node.counters()
    assert counters["relays_pending"] <= 16
    assert counters["relays"] == 16, "the relay timers never fired: no slot was freed"
    assert counters["dropped.relay_limit"] == 500 * (ROUNDS + 2) - 16


def test_relay_slots_free_up_as_their_timers_fire() -> None:
    config = Config.lan(max_relays=4)
    node = started(config)
    for seq in range(4):
        node.receive(encode(IndirectPing(seq, "t", peer(1), "x", True)), SOURCE, 1.0)
    assert node.counters()["relays_pending"] == 4
    node.tick(1.0 + config.probe_timeout)
    assert node.counters()["relays_pending"] == 0
    node.receive(encode(IndirectPing(9, "t", peer(1), "x", True)), SOURCE, 2.0)
    assert node.counters()["relays"] == 5


# max_exchange_bytes -------------------------------------------------------------------------


def test_oversized_exchanges_are_refused_unread() -> None:
    config = Config.lan(max_exchange_bytes=64 * 1024)
    node = started(config)
    rows = tuple(MemberState(f"big{i}", peer(i), 0, State.ALIVE, bytes(500)) for i in range(200))
    data = codec.encode_push_pull(PushPull("", False, rows))
    assert len(data) > config.max_exchange_bytes

    def step(i: int) -> None:
        for _ in range(20):
            reply, actions = node.handle_exchange(data, 1.0)
            assert reply is None
            assert actions == []

    assert_flat(press(node, step), "oversized exchanges")
    assert node.counters()["dropped.exchange_too_large"] == 20 * (ROUNDS + 2)
    assert node.counters()["members"] == 4


def test_an_oversized_exchange_reply_is_not_merged() -> None:
    config = Config.lan(max_exchange_bytes=4096)
    node = make_node(0, config)
    request = node.join([addr(5)], 0.0)[0]
    assert isinstance(request, ExchangeRequest)
    rows = tuple(MemberState(f"big{i}", peer(i), 0, State.ALIVE, bytes(100)) for i in range(40))
    reply = codec.encode_push_pull(PushPull("", False, rows))
    node.exchange_reply(request.exchange_id, reply, 1.0)
    assert node.counters()["dropped.exchange_too_large"] == 1
    assert node.counters()["members"] == 1


# Churn: state flapping must not accumulate timers or probe-order entries ---------------------


@pytest.mark.parametrize("news", ["dead", "suspect"])
def test_flapping_a_member_keeps_memory_flat(news: str) -> None:
    """Alive at n+1, then dead (or suspect) at n+1, over and over, about one member.

    Every flip is legal news; what must not happen is that each flip leaves a timer or a
    probe-order entry behind until it expires.
    """
    node = started(Config.lan())
    incarnation = iter(range(1, 10**9))

    def step(i: int) -> None:
        for _ in range(25):
            batch: list[Update] = []
            for _ in range(20):
                n = next(incarnation)
                batch.append(Alive("p0", addr(1), n))
                batch.append(Dead("p0", n, "x") if news == "dead" else Suspect("p0", n, "x"))
            node.receive(encode(Gossip(), *batch), SOURCE, 1.0)

    assert_flat(press(node, step), f"alive/{news} flapping")
    assert known(node, "p0").incarnation == 500 * (ROUNDS + 2)
    # White-box: the probe order holds each member at most twice (once passed, once ahead),
    # and the timer heap holds a handful of timers, not one per flip.
    assert len(node._table._order) <= 2 * len(node._table)
    assert len(node._timers._heap) < 100


def test_ping_floods_cost_no_memory() -> None:
    node = started(Config.lan())
    ping = encode(Ping(1, node.name, "x"))

    def step(i: int) -> None:
        for _ in range(800):
            node.receive(ping, SOURCE, 1.0)

    assert_flat(press(node, step), "pings")
    assert node.counters()["received.ping"] == 800 * (ROUNDS + 2)
