"""The TCP fallback probe against HashiCorp memberlist (Go), on loopback.

A swimcore core on the memberlist wire knows one Go node and probes it; its datagrams are
never sent (as if a firewall dropped them), so the probe times out and the core asks for the
fallback exchange.  The test carries that exchange over a real TCP connection to the Go node,
framed as every driver frames it (``swimcore.transports.exchange``), and feeds the reply back:
the Go node's ack saves the probe.  A ping for a name the Go node does not hold gets no answer
(memberlist closes the stream), and the probe then fails as before: the check that the first
result is the Go node's doing.
"""

from __future__ import annotations

import socket

import pytest
from memberlist_peer.harness import GoPeer, peer_binary

from swimcore import Address, Config, ExchangeRequest, MemberSuspected, Node, Send, State
from swimcore.keyring import Keyring
from swimcore.transports.exchange import MessageAssembler, framed

pytest.importorskip("cryptography")

KEY = bytes(range(40, 56))


def _carry(node: Node, request: ExchangeRequest) -> bytes:
    """Carry ``request`` over TCP as a driver does; the reply (``b""`` when the peer closes
    without one, which the memberlist framing reads as an empty reply)."""
    with socket.create_connection((str(request.to.ip), request.to.port), timeout=5.0) as conn:
        conn.sendall(framed(node, request.data))
        message = MessageAssembler(node.wire.stream, node.exchange_limit)
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return message.end()
            found = message.feed(chunk)
            if found is not None:
                return found


def _probe_over_tcp(node: Node) -> tuple[list[object], float]:
    """Probe once with every datagram lost, carrying the fallback exchange for real; the
    actions of the period's end and the time it ended."""
    while True:
        deadline = node.next_deadline()
        assert deadline is not None
        actions = node.tick(deadline)
        if any(isinstance(a, Send) for a in actions):
            break
    sent = deadline
    requests: list[ExchangeRequest] = []
    while not requests:
        deadline = node.next_deadline()
        assert deadline is not None and deadline <= sent + node.config.probe_interval
        requests = [a for a in node.tick(deadline) if isinstance(a, ExchangeRequest)]
    reply = _carry(node, requests[0])
    node.exchange_reply(requests[0].exchange_id, reply, deadline + 0.01)
    end = sent + node.config.probe_interval
    out: list[object] = []
    while (deadline := node.next_deadline()) is not None and deadline <= end:
        out += node.tick(deadline)
    return out, end


@pytest.mark.parametrize("variant", ["plain", "encrypted_compressed"])
def test_a_go_node_answers_swimcores_tcp_fallback_ping(variant: str) -> None:
    peer_binary()
    encrypted = variant == "encrypted_compressed"
    go = GoPeer("go-tcp-ping", key=KEY if encrypted else b"", compress=encrypted)
    try:
        wire = "memberlist+lzw" if encrypted else "memberlist"
        node = Node(
            Config.lan(wire=wire, gossip_interval=0.0, push_pull_interval=0.0),
            Address("127.0.0.1", 9),  # never bound: nothing is sent over UDP here
            name="py",
            keyring=Keyring(KEY) if encrypted else None,
        )
        node.start(0.0, [(go.name, Address("127.0.0.1", go.port))])
        after, _ = _probe_over_tcp(node)
        counters = node.counters()
        assert counters["tcp_fallback_probes"] == 1
        assert counters["tcp_fallback_acked"] == 1, counters
        assert [a for a in after if isinstance(a, MemberSuspected)] == []
        peer = node.member(go.name)
        assert peer is not None and peer.state is State.ALIVE
        assert "probes_failed" not in counters
    finally:
        go.stop()


def test_a_go_node_does_not_answer_a_ping_for_another_name() -> None:
    peer_binary()
    go = GoPeer("go-tcp-ping-2")
    try:
        node = Node(
            Config.lan(wire="memberlist", gossip_interval=0.0, push_pull_interval=0.0),
            Address("127.0.0.1", 9),
            name="py",
        )
        node.start(0.0, [("not-" + go.name, Address("127.0.0.1", go.port))])
        _probe_over_tcp(node)
        counters = node.counters()
        assert counters["tcp_fallback_failed"] == 1, counters
        assert "tcp_fallback_acked" not in counters
        # (The suspicion is reported only once it has stood ``stability_suspect_hold``.)
        suspect = node.member("not-" + go.name)
        assert suspect is not None and suspect.state is State.SUSPECT
    finally:
        go.stop()
