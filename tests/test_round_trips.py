"""Round-trip times of direct probes, as events and counters (memberlist's ping delegate)."""

from __future__ import annotations

import pytest
from helpers import encode, make_node, next_probe, of_type, only, start

from swimcore import Config, RoundTrip
from swimcore.messages import Ack


@pytest.mark.parametrize("delay", [0.004, 0.120])
def test_a_direct_ack_reports_the_round_trip(delay: float) -> None:
    node = make_node(1, Config.lan(report_round_trips=True))
    peer = make_node(2)
    start(node, peer)
    sent, to, ping, _ = next_probe(node)
    assert to == peer.address
    out = node.receive(encode(Ack(ping.seq)), peer.address, sent + delay)
    trip = only(of_type(out, RoundTrip))
    assert (trip.name, trip.address) == (peer.name, peer.address)
    assert trip.rtt == pytest.approx(delay)
    assert node.counters()["rtt_samples"] == 1
    assert node.counters()["rtt_us_total"] == round(delay * 1e6)


def test_an_ack_through_a_relay_is_not_a_round_trip() -> None:
    node = make_node(1, Config.lan(report_round_trips=True))
    peer, relay = make_node(2), make_node(3)
    start(node, peer, relay)
    sent, to, ping, _ = next_probe(node)
    other = relay if to == peer.address else peer
    out = node.receive(encode(Ack(ping.seq)), other.address, sent + 0.6)
    assert of_type(out, RoundTrip) == []
    assert "rtt_samples" not in node.counters()
    assert node.counters()["probes_acked"] == 1


def test_round_trips_are_off_by_default() -> None:
    node, peer = make_node(1), make_node(2)
    start(node, peer)
    sent, _, ping, _ = next_probe(node)
    out = node.receive(encode(Ack(ping.seq)), peer.address, sent + 0.01)
    assert of_type(out, RoundTrip) == []
