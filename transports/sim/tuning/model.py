"""What the user tells the tuner: the network their members live on and what they want.

:class:`NetworkModel` is the deployment (round-trip time and its spread, datagram loss, how
often and how long members stall); :class:`Goals` is what the user cares about (time until every
member knows of a crash, false deaths per member-day, bandwidth per member).  Both are plain
frozen values so that they cross process boundaries and print as they were given.
"""

from __future__ import annotations

import math
import random
from typing import Any

import attrs

from swimcore.errors import ConfigError
from swimcore.transports.sim.faults import LinkFaults

SECONDS_PER_DAY = 86_400.0
STALL_SHAPES = ("exp", "fixed")


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (value >= 0.0 and math.isfinite(value)):
        raise ConfigError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


def _probability(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{attribute.name} must be within 0..1 (1 excluded), got {value!r}")


def _shape(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in STALL_SHAPES:
        raise ConfigError(f"stall_shape must be one of {', '.join(STALL_SHAPES)}, got {value!r}")


@attrs.frozen(slots=True, kw_only=True)
class NetworkModel:
    """The deployment, in seconds (``rtt`` and ``rtt_spread`` too).

    Each one-way trip takes ``(rtt - rtt_spread) / 2`` plus a uniform share of ``rtt_spread``,
    so round trips lie within ``rtt +- rtt_spread`` and average ``rtt``.  Every datagram is lost
    with ``loss`` (reliable exchanges, TCP in real life, are not).  Each member stalls (stops
    handling anything, then catches up late: a long garbage collection, a starved VM, swap) as
    a Poisson process at ``stall_rate`` stalls per member-hour; a stall lasts ``stall_length``
    seconds on average, exponentially distributed (``stall_shape="exp"``: real pauses have long
    tails) or exactly (``"fixed"``).
    """

    rtt: float = attrs.field(default=0.001, validator=_non_negative)
    rtt_spread: float = attrs.field(default=0.0, validator=_non_negative)
    loss: float = attrs.field(default=0.0, validator=_probability)
    stall_rate: float = attrs.field(default=0.0, validator=_non_negative)
    stall_length: float = attrs.field(default=1.0, validator=_non_negative)
    stall_shape: str = attrs.field(default="exp", validator=_shape)

    def faults(self) -> LinkFaults:
        """The simulator's link model for this network."""
        spread = min(self.rtt_spread, self.rtt)
        return LinkFaults(latency=(self.rtt - spread) / 2.0, jitter=spread, loss=self.loss)

    @property
    def stalls_per_member_day(self) -> float:
        return self.stall_rate * 24.0

    @property
    def stalls(self) -> bool:
        return self.stall_rate > 0.0 and self.stall_length > 0.0

    def stall_density(self, length: float) -> float:
        """Probability density of a stall lasting ``length`` (exponential shape only)."""
        mean = self.stall_length
        return math.exp(-length / mean) / mean if length >= 0.0 else 0.0

    def draw_stall(self, rng: random.Random) -> float:
        """One stall's length from the real distribution."""
        if self.stall_shape == "fixed":
            return self.stall_length
        return rng.expovariate(1.0 / self.stall_length)


@attrs.frozen(slots=True, kw_only=True)
class Goals:
    """What the user will accept.  ``None`` leaves a goal out."""

    #: Every member should know of a crash within this many seconds (99th percentile).
    detect_within: float | None = None
    #: False deaths (a live member declared dead) per member-day.
    false_deaths_per_member_day: float | None = None
    #: Bytes each member sends per second (datagrams and anti-entropy exchanges).
    bandwidth: float | None = None
