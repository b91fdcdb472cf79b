"""``free_port``: the one helper harnesses use to pick a port for a member in another process."""

from __future__ import annotations

import socket

import pytest
from support.net import ipv6_loopback

from swimcore.transports.sockets import free_port


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_the_port_is_free_for_udp_and_tcp(host: str) -> None:
    if host == "::1" and not ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    port = free_port(host)
    assert 1024 <= port <= 65535
    with socket.socket(family, socket.SOCK_DGRAM) as udp, socket.socket(family) as tcp:
        udp.bind((host, port))
        tcp.bind((host, port))
