"""The configurations the tuner tries: a modest grid around a preset.

The base preset follows the round-trip time (``wan`` when round trips reach 50 ms, else
``lan``).  Around it the grid varies what decides detection time against false alarms: the
probe interval (half, once and twice the preset's), the suspicion multiplier (below, at and
above the preset's), and, at the preset point, two variants that trade bandwidth against
robustness to loss (fewer indirect probes and retransmissions; more of both).  Each probe
timeout keeps the preset's share of the interval but never drops below three worst-case round
trips plus 10 ms; an interval too short for that is left out.  Once the grid has been run,
:func:`refinements` adds the suspicion multipliers halfway to the recommendation's neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from swimcore import Config
from swimcore.transports.sim.tuning.model import NetworkModel

#: Round trips from which the WAN preset is the base.
WAN_RTT = 0.050
INTERVAL_FACTORS = (0.5, 1.0, 2.0)
#: The fields the grid changes, in the order tables show them.
TUNED_FIELDS = (
    "probe_interval",
    "probe_timeout",
    "suspicion_mult",
    "indirect_checks",
    "retransmit_mult",
)


@attrs.frozen(slots=True)
class Candidate:
    """One configuration to try: the preset it derives from and the config itself."""

    preset: str
    config: Config
    #: Why it is in the grid ("grid", "lean", "robust").
    kind: str = "grid"

    def changes(self) -> dict[str, Any]:
        """The fields that differ from the preset, in declaration order."""
        base = Config.preset(self.preset)
        return {
            field.name: getattr(self.config, field.name)
            for field in attrs.fields(Config)
            if getattr(self.config, field.name) != getattr(base, field.name)
        }

    def python(self) -> str:
        """The config as Python code to paste."""
        args = ", ".join(f"{name}={value!r}" for name, value in self.changes().items())
        return f"Config.{self.preset}({args})"


def base_preset(network: NetworkModel) -> str:
    return "wan" if network.rtt + network.rtt_spread >= WAN_RTT else "lan"


def _multipliers(preset: str) -> tuple[int, ...]:
    return (3, 6, 9) if preset == "wan" else (2, 4, 6)


def _timeout(base: Config, interval: float, network: NetworkModel) -> float | None:
    share = base.probe_timeout / base.probe_interval
    floor = 3.0 * (network.rtt + network.rtt_spread) + 0.010
    timeout = round(max(share * interval, floor), 3)
    return timeout if timeout <= interval else None


def grid(network: NetworkModel, preset: str | None = None) -> list[Candidate]:
    """The candidates for ``network`` (around ``preset``, by default the one its RTT suggests)."""
    name = preset or base_preset(network)
    base = Config.preset(name)
    out: list[Candidate] = []
    for factor in INTERVAL_FACTORS:
        interval = round(base.probe_interval * factor, 3)
        timeout = _timeout(base, interval, network)
        if timeout is None:
            continue
        for mult in _multipliers(name):
            config = Config.preset(
                name, probe_interval=interval, probe_timeout=timeout, suspicion_mult=mult
            )
            out.append(Candidate(name, config))
    timeout = _timeout(base, base.probe_interval, network)
    if timeout is not None:
        for kind, k, retransmit in (("lean", 1, 2), ("robust", 5, 6)):
            config = Config.preset(
                name, probe_timeout=timeout, indirect_checks=k, retransmit_mult=retransmit
            )
            out.append(Candidate(name, config, kind))
    return out


def refinements(chosen: Candidate, tried: Sequence[Candidate]) -> list[Candidate]:
    """The configs halfway, in ``suspicion_mult``, between ``chosen`` and its nearest tried
    neighbours that differ from it in nothing else: the grid's steps are coarse exactly where
    detection time trades against false deaths, so the tuner takes a second look there."""
    config = chosen.config
    known = [t.config for t in tried]
    same = [
        other.suspicion_mult
        for other in known
        if attrs.evolve(other, suspicion_mult=config.suspicion_mult) == config
    ]
    lower = max((m for m in same if m < config.suspicion_mult), default=None)
    upper = min((m for m in same if m > config.suspicion_mult), default=None)
    out: list[Candidate] = []
    for other in (lower, upper):
        if other is None or abs(other - config.suspicion_mult) < 2:
            continue
        middle = attrs.evolve(config, suspicion_mult=(other + config.suspicion_mult) // 2)
        if middle not in known:
            out.append(Candidate(chosen.preset, middle, "refined"))
    return out
