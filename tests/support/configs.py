"""Named configurations for tests of real members on loopback.

``FAST`` converges in well under a second and detects a crash in a few; ``fast(wire)`` is the
same on another wire profile.
"""

from __future__ import annotations

from swimcore import Config

#: Loopback timings: a probe every 0.2 s, a join retried every 0.3 s.
_FAST_TIMINGS = {
    "probe_interval": 0.2,
    "probe_timeout": 0.1,
    "gossip_interval": 0.05,
    "join_retry_interval": 0.3,
}
FAST = Config.local(**_FAST_TIMINGS)

#: Every wire profile a driver must speak.
WIRES = ("native", "memberlist", "memberlist+lzw")


def fast(wire: str = "native", **changes: object) -> Config:
    """:data:`FAST` on ``wire``, with ``changes``."""
    return Config.local(**{**_FAST_TIMINGS, "wire": wire, **changes})
