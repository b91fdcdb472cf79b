"""The protocol's timing formulas, in one place.

How long a suspicion lasts, how often an update is retransmitted, how the anti-entropy period
grows with the cluster, and the deadlines a correct cluster meets: the node schedules by these,
and the simulator's checkers and the tuner reason with the same functions, so a change to one
formula changes all three.  ``live`` and ``size`` count members, this one included.
"""

from __future__ import annotations

import math

from swimcore.config import Config

__all__ = [
    "SEED_BACKOFF_ROUNDS",
    "detection_deadline",
    "dissemination_bound",
    "nack_delay",
    "push_pull_interval",
    "retransmit_limit",
    "retransmit_scale",
    "suspicion_max",
    "suspicion_min",
]

#: The longest gap, in ``reconnect_interval`` rounds, between two tries of a seed missing from
#: the view by a member that is not the leader in it (the gaps double from one round up to it).
SEED_BACKOFF_ROUNDS = 16


def suspicion_min(suspicion_mult: int, live: int, probe_interval: float) -> float:
    """The shortest suspicion: ``suspicion_mult * max(1, log10 n) * probe_interval``."""
    scale = max(1.0, math.log10(max(1, live)))
    return suspicion_mult * scale * probe_interval


def suspicion_max(config: Config, live: int) -> float:
    """The longest suspicion: Lifeguard's ``suspicion_max_mult`` times the shortest (or the
    shortest itself with the dynamic timeout off)."""
    low = suspicion_min(config.suspicion_mult, live, config.probe_interval)
    return low * config.suspicion_max_mult if config.lifeguard_dynamic_suspicion else low


def nack_delay(config: Config) -> float:
    """How long a member relaying an indirect probe waits for the target's ack before it
    sends the prober a nack (Lifeguard): early enough to reach the prober before its protocol
    period ends.  The prober asks at ``probe_timeout`` into a period of ``probe_interval``, so
    the nack must leave within the gap between them as well as within the probe timeout:
    with the WAN preset (5 s, 3 s) a nack sent 2.4 s after the request came after the period,
    every failed probe counted as the prober's own fault, and the health gate then kept
    crashes unaccused for minutes."""
    gap = config.probe_interval - config.probe_timeout
    return 0.8 * min(config.probe_timeout, gap) if gap > 0 else 0.8 * config.probe_timeout


def retransmit_scale(live: int) -> int:
    """``ceil(log10(n + 1))``: how retransmissions grow with the cluster."""
    return math.ceil(math.log10(live + 1))


def retransmit_limit(retransmit_mult: int, live: int) -> int:
    """How many times each member sends each update: ``retransmit_mult * ceil(log10(n + 1))``."""
    return retransmit_mult * retransmit_scale(live)


def push_pull_interval(config: Config, live: int) -> float:
    """The anti-entropy period: ``push_pull_interval``, doubled for each doubling beyond 32
    members (memberlist's scaling, so the exchanges a member serves stay about constant)."""
    scale = 1 if live <= 32 else math.ceil(math.log2(live) - math.log2(32)) + 1
    return config.push_pull_interval * scale


def dissemination_bound(config: Config, size: int) -> float:
    """Generous time for news to reach everyone: the retransmit budget spent at one gossip
    round each, plus ten protocol periods."""
    gossip = config.gossip_interval or config.probe_interval
    return retransmit_limit(config.retransmit_mult, size) * gossip + 10 * config.probe_interval


def detection_deadline(config: Config, size: int) -> float:
    """After a crash, by when every survivor has declared it dead (once faults stopped).

    Ten periods until someone probes it (one is missed with probability about 1/e per
    period), local health slowing the probers (``awareness_max`` periods), the longest
    suspicion, then dissemination.
    """
    return (
        (10 + config.awareness_max) * config.probe_interval
        + suspicion_max(config, size)
        + dissemination_bound(config, size)
    )
