"""What the machine's network offers the tests."""

from __future__ import annotations

import socket


def ipv6_loopback() -> bool:
    """Whether ``::1`` can be bound here (some containers have no IPv6 at all)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True
