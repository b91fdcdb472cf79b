"""Authenticated encryption in the core: sealing, wrong keys and labels, tampering, rotation.

Every test drives :class:`Node` objects by hand through :class:`SealedLink`.  A datagram or an
exchange that fails authentication must be dropped and counted as ``dropped.auth_failed``
before any of it is parsed, and leave the node's state untouched.
"""

from __future__ import annotations

import sys

import pytest
from helpers import addr, encode, make_node
from security_support import KEY_A, KEY_B, KEY_C, live_view, sealed_cluster, sent_data

from swimcore import (
    Config,
    ConfigError,
    DecodeError,
    ExchangeRefused,
    ExchangeRequest,
    Keyring,
    MemberFailed,
    MemberSuspected,
    Node,
    StateError,
    refusals,
)
from swimcore.keyring import OVERHEAD
from swimcore.messages import Alive, Dead, Ping
from swimcore.wire.native import codec


def ping_from(sender: Node, receiver: Node, now: float = 0.5) -> bytes:
    """A real sealed datagram ``sender`` sends: its first probe, fired by ticking it."""
    sender.start(0.0, [(receiver.name, receiver.address)])
    while True:
        deadline = sender.next_deadline()
        assert deadline is not None
        for data in sent_data(sender.tick(deadline)):
            return data


def auth_failures(node: Node) -> int:
    return node.counters().get("dropped.auth_failed", 0)


def parsed(node: Node) -> int:
    """Datagrams that reached the decoder and were accepted (any message kind)."""
    return sum(v for k, v in node.counters().items() if k.startswith("received."))


# Sealing ------------------------------------------------------------------------------------


def test_an_encrypted_cluster_converges_and_stays_whole() -> None:
    link, nodes, _ = sealed_cluster(4)
    link.run(until=20.0)
    names = sorted(n.name for n in nodes)
    for node in nodes:
        assert live_view(node) == names
        assert auth_failures(node) == 0
        assert node.counters()["probes_acked"] > 0
    assert not [e for _, e in link.events if isinstance(e, MemberSuspected | MemberFailed)]


def test_sealed_datagrams_hide_names_and_do_not_decode() -> None:
    sender = make_node(1, keyring=Keyring(KEY_A))
    data = ping_from(sender, make_node(2))
    assert sender.name.encode() not in data
    assert not data.startswith(codec.MAGIC)
    with pytest.raises(DecodeError):
        codec.decode_packet(data)


def test_sealed_datagrams_respect_max_packet() -> None:
    """The seal's overhead is reserved: a full packet of piggybacked news still fits."""
    config = Config.lan(max_packet=600, max_metadata=250)
    link, nodes, _ = sealed_cluster(12, config=config)
    for node in nodes:
        link.carry(node, node.set_metadata(bytes(250), 0.0), 0.0)
    link.run(until=5.0)
    sizes = [len(data) for _, _, data in link.captured]
    assert max(sizes) <= config.max_packet
    assert max(sizes) > config.max_packet - 250, "packets were filled with piggybacked news"
    assert all(auth_failures(n) == 0 and "dropped.oversized" not in n.counters() for n in nodes)


def test_the_same_seed_seals_the_same_bytes() -> None:
    """Nonces come from the node's seeded random source: runs stay reproducible."""
    first = ping_from(make_node(1, keyring=Keyring(KEY_A)), make_node(2))
    second = ping_from(make_node(1, keyring=Keyring(KEY_A)), make_node(2))
    assert first == second


def test_every_packet_gets_a_fresh_nonce() -> None:
    link, _, _ = sealed_cluster(3)
    link.run(until=10.0)
    nonces = [data[1 : 1 + 12] for _, _, data in link.captured]
    assert len(nonces) > 20
    assert len(dict.fromkeys(nonces)) == len(nonces)


# Wrong key, wrong label, tampering ----------------------------------------------------------


@pytest.mark.parametrize(
    ("sender_keys", "sender_label", "receiver_label"),
    [
        pytest.param((KEY_B,), "", "", id="wrong-key"),
        pytest.param((KEY_A,), "blue", "green", id="wrong-label-same-key"),
        pytest.param((KEY_B, KEY_A), "", "", id="key-installed-but-not-primary-at-sender"),
    ],
)
def test_packets_that_fail_authentication_are_dropped_and_counted(
    sender_keys: tuple[bytes, ...], sender_label: str, receiver_label: str
) -> None:
    receiver = make_node(2, Config.lan(label=receiver_label), keyring=Keyring(KEY_A))
    receiver.start(0.0)
    sender = make_node(1, Config.lan(label=sender_label), keyring=Keyring(*sender_keys))
    data = ping_from(sender, receiver)
    before = receiver.all_members()
    out = receiver.receive(data, sender.address, 1.0)
    assert out == []
    assert auth_failures(receiver) == 1
    assert parsed(receiver) == 0
    assert receiver.all_members() == before


def test_a_label_mismatch_without_encryption_is_counted_as_foreign() -> None:
    receiver = make_node(2, Config.lan(label="green"))
    receiver.start(0.0)
    data = ping_from(make_node(1, Config.lan(label="blue")), receiver)
    assert receiver.receive(data, addr(1), 1.0) == []
    assert receiver.counters()["dropped.foreign_label"] == 1


def test_plaintext_sent_to_an_encrypted_node_is_refused() -> None:
    """No downgrade: an encrypted node never accepts an unsealed packet, even a valid one."""
    receiver = make_node(2, keyring=Keyring(KEY_A))
    receiver.start(0.0)
    forged = encode(Ping(1, receiver.name, "x"), Dead(make_node(3).name, 9, "x"))
    assert receiver.receive(forged, addr(9), 1.0) == []
    assert auth_failures(receiver) == 1
    assert parsed(receiver) == 0


def test_sealed_packets_sent_to_a_plaintext_node_are_malformed() -> None:
    receiver = make_node(2)
    receiver.start(0.0)
    data = ping_from(make_node(1, keyring=Keyring(KEY_A)), receiver)
    assert receiver.receive(data, addr(1), 1.0) == []
    assert receiver.counters()["dropped.malformed"] == 1


def test_any_flipped_bit_is_caught_by_the_tag() -> None:
    receiver = make_node(2, keyring=Keyring(KEY_A))
    receiver.start(0.0)
    data = ping_from(make_node(1, keyring=Keyring(KEY_A)), receiver)
    for at in range(len(data)):
        damaged = bytearray(data)
        damaged[at] ^= 1 << (at % 8)
        assert receiver.receive(bytes(damaged), addr(1), 1.0) == []
    assert auth_failures(receiver) == len(data)
    assert parsed(receiver) == 0
    # The intact datagram still opens: the failures were the damage, not the key.
    assert receiver.receive(data, addr(1), 1.0) != []


@pytest.mark.parametrize("size", [0, 1, OVERHEAD - 1, OVERHEAD])
def test_short_sealed_payloads_are_refused(size: int) -> None:
    receiver = make_node(2, keyring=Keyring(KEY_A))
    receiver.start(0.0)
    assert receiver.receive(bytes([1]) * size, addr(1), 1.0) == []
    assert auth_failures(receiver) == 1


def _exchange_from(node: Node) -> ExchangeRequest:
    out = node.join([addr(2)], 0.0)
    requests = [a for a in out if isinstance(a, ExchangeRequest)]
    assert len(requests) == 1
    return requests[0]


def test_exchanges_under_a_wrong_key_or_label_are_refused_and_counted() -> None:
    server = make_node(2, Config.lan(label="blue"), keyring=Keyring(KEY_A))
    server.start(0.0)
    wrong_key = _exchange_from(make_node(1, Config.lan(label="blue"), keyring=Keyring(KEY_B)))
    wrong_label = _exchange_from(make_node(3, Config.lan(label="red"), keyring=Keyring(KEY_A)))
    for request in (wrong_key, wrong_label):
        reply, actions = server.handle_exchange(request.data, 1.0)
        # Refused with a short plain reason (no state of ours) and reported once (issue 19).
        assert reply is not None and len(reply) <= len(refusals.MAGIC) + refusals.MAX_REASON
        refused = refusals.decode(reply)
        assert refused is not None and refused[0] == "auth_failed"
        assert all(isinstance(action, ExchangeRefused) for action in actions)
    assert auth_failures(server) == 2
    assert live_view(server) == [server.name]


def test_an_exchange_reply_under_a_wrong_key_is_not_merged() -> None:
    joiner = make_node(1, keyring=Keyring(KEY_A))
    request = _exchange_from(joiner)
    # A group under another key answers (what a stranger at the seed address would send).
    stranger = make_node(2, keyring=Keyring(KEY_B))
    stranger.start(0.0, [(make_node(5).name, make_node(5).address)])
    reply, _ = stranger.handle_exchange(
        _exchange_from(make_node(7, keyring=Keyring(KEY_B))).data, 0.0
    )
    assert reply is not None
    joiner.exchange_reply(request.exchange_id, reply, 1.0)
    assert auth_failures(joiner) == 1
    assert live_view(joiner) == [joiner.name]


# Key rotation -------------------------------------------------------------------------------


def test_rolling_key_rotation_loses_no_member() -> None:
    """Install the new key everywhere, make it primary node by node, then remove the old one.

    Traffic flows between every step; nobody is ever suspected, no packet fails to open.
    """
    link, nodes, rings = sealed_cluster(5)
    link.run(until=10.0)
    now = 10.0
    for ring in rings:  # 1. install everywhere, one node at a time
        ring.install(KEY_B)
        link.run(until=now + 2.0, start=now + 0.05)
        now += 2.0
    for ring in rings:  # 2. switch the primary, one node at a time
        ring.use(KEY_B)
        link.run(until=now + 2.0, start=now + 0.05)
        now += 2.0
    for ring in rings:  # 3. drop the old key
        ring.remove(KEY_A)
        link.run(until=now + 2.0, start=now + 0.05)
        now += 2.0
    acked = [n.counters()["probes_acked"] for n in nodes]
    link.run(until=now + 20.0, start=now + 0.05)
    names = sorted(n.name for n in nodes)
    for node, ring, before in zip(nodes, rings, acked, strict=True):
        assert ring.keys == (KEY_B,)
        assert node.counters()["probes_acked"] >= before + 10, "probes kept flowing"
        assert live_view(node) == names
        assert auth_failures(node) == 0
    assert not [e for _, e in link.events if isinstance(e, MemberSuspected | MemberFailed)]


def test_a_node_that_missed_the_rotation_is_shut_out() -> None:
    link, nodes, rings = sealed_cluster(4)
    link.run(until=5.0)
    for ring in rings[:3]:
        ring.install(KEY_B)
        ring.use(KEY_B)
        ring.remove(KEY_A)
    link.run(until=60.0, start=5.05)
    straggler = nodes[3]
    assert all(straggler.name not in live_view(n) for n in nodes[:3])
    assert all(auth_failures(n) > 0 for n in nodes)


def test_rotation_at_the_wrong_moment_is_a_clear_error() -> None:
    ring = Keyring(KEY_A)
    with pytest.raises(StateError, match="install the key"):
        ring.use(KEY_B)
    with pytest.raises(StateError, match="primary"):
        ring.remove(KEY_A)
    ring.install(KEY_C)
    ring.install(KEY_C)
    assert ring.keys == (KEY_A, KEY_C)
    ring.remove(KEY_B)  # a key never installed: nothing to do
    assert ring.keys == (KEY_A, KEY_C)


@pytest.mark.parametrize("key", [b"", b"short", bytes(17), bytes(33), "a" * 32])
def test_bad_keys_are_refused(key: object) -> None:
    with pytest.raises(ConfigError, match="16, 24 or 32 bytes"):
        Keyring(key)  # type: ignore[arg-type]


# Without the crypto extra -------------------------------------------------------------------


def test_without_cryptography_asking_for_encryption_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Simulate the extra not being installed: the import fails, and nothing downgrades."""
    for module in list(sys.modules):
        if module == "cryptography" or module.startswith("cryptography."):
            monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(ConfigError, match=r"pip install 'swimcore\[crypto\]'"):
        Keyring(KEY_A)


def test_without_cryptography_plain_nodes_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", None)
    node = make_node(1)
    out = node.receive(encode(Ping(1, node.name, "x"), Alive("x", addr(9), 0)), addr(9), 0.0)
    assert out
    assert "x" in live_view(node)
