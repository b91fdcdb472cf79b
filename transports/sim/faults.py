"""What can go wrong on a simulated link: latency, jitter, loss, duplication, reordering,
corruption, and cuts (partitions) that may be one-way.

:class:`LinkFaults` is a frozen value applied to each datagram independently (so each field is
also a random process over time); the network holds a default one and optional overrides per
direction of a link.  :class:`Cut` blocks every datagram and exchange from one group of
addresses to another.
"""

from __future__ import annotations

import math
import random
from typing import Any

import attrs

from swimcore import Address, ConfigError


def _probability(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{attribute.name} must be a probability within 0..1, got {value!r}")


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (value >= 0.0 and math.isfinite(value)):
        raise ConfigError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


@attrs.frozen(slots=True)
class LinkFaults:
    """How one direction of a link treats each datagram (times in seconds).

    Every datagram takes ``latency`` plus a uniform share of ``jitter``; it is lost with
    probability ``loss``, sent twice with ``duplicate``, held back by about ``reorder_delay``
    with ``reorder`` (so later datagrams overtake it), and damaged with ``bitflip`` (one to
    three bits flipped) or ``truncate`` (cut short at a random length).  Reliable exchanges
    (TCP in real life) only see the latency and the cuts.
    """

    latency: float = attrs.field(default=0.001, validator=_non_negative)
    jitter: float = attrs.field(default=0.0, validator=_non_negative)
    loss: float = attrs.field(default=0.0, validator=_probability)
    duplicate: float = attrs.field(default=0.0, validator=_probability)
    reorder: float = attrs.field(default=0.0, validator=_probability)
    reorder_delay: float = attrs.field(default=0.05, validator=_non_negative)
    bitflip: float = attrs.field(default=0.0, validator=_probability)
    truncate: float = attrs.field(default=0.0, validator=_probability)

    @property
    def damages(self) -> bool:
        """Whether any datagram may be duplicated, reordered or corrupted."""
        return bool(self.duplicate or self.reorder or self.bitflip or self.truncate)

    def delay(self, rng: random.Random) -> float:
        """One datagram's transit time."""
        if self.jitter:
            return self.latency + rng.random() * self.jitter
        return self.latency


@attrs.frozen(slots=True)
class Cut:
    """Nothing gets from an address in ``sources`` to one in ``targets`` (a one-way cut)."""

    sources: frozenset[Address]
    targets: frozenset[Address]

    def blocks(self, source: Address, target: Address) -> bool:
        return source in self.sources and target in self.targets


def corrupt(data: bytes, rng: random.Random, *, truncate: bool) -> bytes:
    """``data`` cut short at a random length, or with one to three random bits flipped."""
    if not data:
        return data
    if truncate:
        return data[: rng.randrange(len(data))]
    damaged = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        bit = rng.randrange(len(damaged) * 8)
        damaged[bit >> 3] ^= 1 << (bit & 7)
    return bytes(damaged)
