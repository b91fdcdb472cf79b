"""Random fault plans: every fault kind as a random process, drawn up front from one seed.

:func:`random_plan` turns :class:`FaultRates` into a time-ordered list of operations over a
window of simulated time.  Each kind arrives as a Poisson process at its rate (events per
simulated second across the whole cluster); targets, durations and loss rates are drawn from
the same ``random.Random``.  A shadow of the cluster's state keeps the plan sensible: at least
``min_running`` of the nodes keep running, only running nodes crash, leave or pause, and a
crashed node comes back after a random delay with probability ``restart``.  Because the plan is
a plain list it can be printed, stored and replayed exactly.
"""

from __future__ import annotations

import heapq
import math
import random

import attrs

from swimcore.transports.sim.ops import (
    Chaos,
    Corruption,
    Crash,
    Join,
    Leave,
    LossBurst,
    OneWayLoss,
    Op,
    Partition,
    Pause,
    Restart,
)


@attrs.frozen(slots=True, kw_only=True)
class FaultRates:
    """How often each fault happens (mean events per simulated second, cluster-wide)."""

    crash: float = 0.05
    #: Probability that a crashed node restarts, and the delay range before it does.
    restart: float = 0.7
    restart_delay: tuple[float, float] = (2.0, 10.0)
    leave: float = 0.01
    join: float = 0.02
    pause: float = 0.05
    pause_duration: tuple[float, float] = (0.5, 5.0)
    partition: float = 0.02
    partition_duration: tuple[float, float] = (2.0, 10.0)
    #: Share of partitions that are one-way.
    one_way: float = 0.5
    loss_burst: float = 0.05
    loss: tuple[float, float] = (0.05, 0.4)
    burst_duration: tuple[float, float] = (1.0, 5.0)
    one_way_loss: float = 0.02
    corruption: float = 0.02
    corruption_rate: float = 0.05
    chaos: float = 0.02
    chaos_rate: float = 0.2
    #: Fraction of the nodes that always keep running (crash and leave stop below it).
    min_running: float = 0.6

    @classmethod
    def none(cls) -> FaultRates:
        """No faults at all."""
        return cls(
            crash=0,
            leave=0,
            join=0,
            pause=0,
            partition=0,
            loss_burst=0,
            one_way_loss=0,
            corruption=0,
            chaos=0,
        )


_KINDS = (
    "crash",
    "leave",
    "join",
    "pause",
    "partition",
    "loss_burst",
    "one_way_loss",
    "corruption",
    "chaos",
)


def _uniform(rng: random.Random, bounds: tuple[float, float]) -> float:
    return round(rng.uniform(*bounds), 3)


def random_plan(
    rng: random.Random, size: int, start: float, stop: float, rates: FaultRates
) -> list[tuple[float, Op]]:
    """Operations for a cluster of ``size`` nodes between ``start`` and ``stop``, by time."""
    heap: list[tuple[float, int, str, int]] = []
    seq = 0
    for kind in _KINDS:
        rate = getattr(rates, kind)
        if rate <= 0:
            continue
        t = start
        while True:
            t += rng.expovariate(rate)
            if t >= stop:
                break
            seq += 1
            heapq.heappush(heap, (round(t, 3), seq, kind, -1))
    running = list(range(size))
    keep = max(1, math.ceil(rates.min_running * size))
    next_index = size
    plan: list[tuple[float, Op]] = []
    while heap:
        when, _, kind, target = heapq.heappop(heap)
        op: Op | None = None
        if kind == "restart":
            op = Restart(target, bump=rng.random() < 0.5)
            running.append(target)
        elif kind in ("crash", "leave"):
            if len(running) > keep:
                victim = running.pop(rng.randrange(len(running)))
                if kind == "leave":
                    op = Leave(victim)
                else:
                    op = Crash(victim)
                    if rng.random() < rates.restart:
                        back = when + _uniform(rng, rates.restart_delay)
                        if back < stop:
                            seq += 1
                            heapq.heappush(heap, (round(back, 3), seq, "restart", victim))
        elif kind == "join":
            op = Join()
            running.append(next_index)
            next_index += 1
        elif kind == "pause":
            op = Pause(rng.choice(running), _uniform(rng, rates.pause_duration))
        elif kind == "partition":
            everyone = list(range(next_index))
            side = rng.sample(everyone, rng.randint(1, max(1, len(everyone) // 2)))
            op = Partition(
                tuple(sorted(side)),
                both_ways=rng.random() >= rates.one_way,
                duration=_uniform(rng, rates.partition_duration),
            )
        elif kind == "loss_burst":
            op = LossBurst(_uniform(rng, rates.loss), _uniform(rng, rates.burst_duration))
        elif kind == "one_way_loss":
            op = OneWayLoss(
                rng.choice(running), _uniform(rng, rates.loss), _uniform(rng, rates.burst_duration)
            )
        elif kind == "corruption":
            op = Corruption(rates.corruption_rate, _uniform(rng, rates.burst_duration))
        elif kind == "chaos":
            op = Chaos(rates.chaos_rate, _uniform(rng, rates.burst_duration))
        if op is not None:
            plan.append((when, op))
    return plan
