"""The node's configuration: one frozen, validated object and the LAN, WAN and local presets.

The preset numbers follow HashiCorp memberlist's ``DefaultLANConfig``, ``DefaultWANConfig`` and
``DefaultLocalConfig``.  Every field is checked on construction; a bad value raises
:class:`~swimcore.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from swimcore._inputs import utf8_size
from swimcore.errors import ConfigError
from swimcore.wire import PROFILES, missing_dependency

MAX_LABEL_BYTES = 64


def _positive(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ConfigError(f"{attribute.name} must be a positive number, got {value!r}")


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    # Finite: NaN fails both comparisons and is refused with infinity.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ConfigError(f"{attribute.name} must be zero or more, got {value!r}")


def _int_at_least(low: int) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{attribute.name} must be an integer >= {low}, got {value!r}")

    return check


def _flag(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{attribute.name} must be True or False, got {value!r}")


def _label(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    size = utf8_size(value)
    if size is None or size > MAX_LABEL_BYTES:
        raise ConfigError(
            f"label must be a string of at most {MAX_LABEL_BYTES} UTF-8 bytes, got {value!r}"
        )


def _wire(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value not in PROFILES:
        raise ConfigError(f"wire must be one of {', '.join(PROFILES)}, got {value!r}")
    missing = missing_dependency(value)
    if missing is not None:
        raise ConfigError(missing)


@attrs.frozen(slots=True, kw_only=True)
class Config:
    """Protocol parameters.  Times are in seconds.

    Build one with :meth:`lan` (the default), :meth:`wan` or :meth:`local`, and change fields
    with :func:`attrs.evolve`, or keyword arguments to the preset: ``Config.lan(label="blue")``.
    """

    #: Cluster label carried in every packet; packets with another label are dropped.
    label: str = attrs.field(default="", validator=_label)
    #: Wire profile: "native", or "memberlist" / "memberlist+lzw" to speak HashiCorp
    #: memberlist's protocol as a member of memberlist clusters (see swimcore.wire).
    wire: str = attrs.field(default="native", validator=_wire)
    #: Time between two probes of this node (stretched by the local health multiplier).
    probe_interval: float = attrs.field(default=1.0, validator=_positive)
    #: Time to wait for a direct ack before asking others to probe (also stretched).
    probe_timeout: float = attrs.field(default=0.5, validator=_positive)
    #: Members asked to probe indirectly when a direct probe fails (SWIM's k).
    indirect_checks: int = attrs.field(default=3, validator=_int_at_least(0))
    #: Suspicion timeout multiplier: minimum timeout = mult * max(1, log10 n) * probe_interval.
    suspicion_mult: int = attrs.field(default=4, validator=_int_at_least(1))
    #: Lifeguard: a new suspicion starts at this multiple of the minimum timeout.
    suspicion_max_mult: int = attrs.field(default=6, validator=_int_at_least(1))
    #: Each update is sent at most retransmit_mult * ceil(log10(n + 1)) times.
    retransmit_mult: int = attrs.field(default=4, validator=_int_at_least(1))
    #: User broadcasts have their own budget: retransmit_mult for them, same formula.
    broadcast_retransmit_mult: int = attrs.field(default=4, validator=_int_at_least(1))
    #: Time between two gossip rounds (updates only, to gossip_nodes random members).
    gossip_interval: float = attrs.field(default=0.2, validator=_non_negative)
    #: Members each gossip round goes to.
    gossip_nodes: int = attrs.field(default=3, validator=_int_at_least(0))
    #: Dead members keep receiving gossip for this long, so a wrongly declared one hears of it.
    gossip_to_the_dead_time: float = attrs.field(default=30.0, validator=_non_negative)
    #: Base time between two full-state exchanges (0 turns anti-entropy off); scaled with n.
    push_pull_interval: float = attrs.field(default=30.0, validator=_non_negative)
    #: Dead and left members are forgotten after this long (then the name may come back at
    #: any incarnation).  Until then they are remembered to stop stale news reviving them
    #: and tried for partition healing.
    reclaim_time: float = attrs.field(default=3600.0, validator=_non_negative)
    #: While some member is believed dead, a full-state exchange with one of them (with
    #: probability dead / live, as serf's reconnect) or with the seeds missing from the view
    #: (the leader in the view every time, others backing off to every 16th) this often heals
    #: partitions (0 turns it off).
    reconnect_interval: float = attrs.field(default=30.0, validator=_non_negative)
    #: A node alone in its table retries the seeds this often.
    join_retry_interval: float = attrs.field(default=2.0, validator=_positive)
    #: Lifeguard local health: the score runs from 0 to awareness_max - 1.
    awareness_max: int = attrs.field(default=8, validator=_int_at_least(1))
    #: Emit a JoinAddress action every this many protocol periods while leader (0: never).
    join_address_every: int = attrs.field(default=0, validator=_int_at_least(0))
    #: Largest datagram sent; updates are piggybacked until it is full.
    max_packet: int = attrs.field(default=1400, validator=_int_at_least(512))
    #: Largest metadata a member may carry.
    max_metadata: int = attrs.field(default=512, validator=_int_at_least(0))
    #: Members kept in the table; news of members beyond this is dropped and counted.
    max_members: int = attrs.field(default=100_000, validator=_int_at_least(1))
    #: Queued updates; the stalest are evicted when full (counted).
    max_broadcasts: int = attrs.field(default=20_000, validator=_int_at_least(1))
    #: Indirect probes relayed for others at once; more are dropped (counted).
    max_relays: int = attrs.field(default=64, validator=_int_at_least(0))
    #: Largest reliable-exchange payload accepted.
    max_exchange_bytes: int = attrs.field(default=8 * 1024 * 1024, validator=_int_at_least(1024))
    #: Lifeguard switches, so plain SWIM and SWIM with Lifeguard can be compared.
    lifeguard_awareness: bool = attrs.field(default=True, validator=_flag)
    lifeguard_dynamic_suspicion: bool = attrs.field(default=True, validator=_flag)
    lifeguard_buddy: bool = attrs.field(default=True, validator=_flag)
    #: Before declaring a suspect dead, probe it once more directly, carrying the suspicion
    #: (its answer carries any refutation this node missed).  Adds one probe timeout.
    verify_before_death: bool = attrs.field(default=True, validator=_flag)
    #: Emit a :class:`~swimcore.RoundTrip` event for every direct probe answered, with its
    #: round-trip time (memberlist's ping delegate), and count the samples (``rtt_samples``,
    #: ``rtt_us_total``).  Off by default: one event per protocol period.
    report_round_trips: bool = attrs.field(default=False, validator=_flag)
    #: When a direct probe gets no ack within ``probe_timeout``, also ping the member over the
    #: reliable channel (TCP), beside the indirect probes; an ack that comes back that way
    #: before the protocol period ends counts as the probe's, so a member whose UDP is blocked
    #: by a firewall while TCP reaches it is not suspected (memberlist's TCP fallback ping,
    #: turned off there by ``DisableTcpPings``).  Counted as ``tcp_fallback_*``.
    tcp_fallback_probe: bool = attrs.field(default=True, validator=_flag)
    #: Stable views under partial failures (:mod:`swimcore.stability`; all on by default since
    #: issue 18, each with its own switch).  A node whose Lifeguard score is at least
    #: ``stability_gate_score`` accuses no one of failing.
    stability_health_gate: bool = attrs.field(default=True, validator=_flag)
    stability_gate_score: int = attrs.field(default=2, validator=_int_at_least(1))
    #: Distinct members whose accusations make another member suspect in this view (1: the
    #: first accusation, as in SWIM and memberlist).  This node's own failed probe always counts.
    stability_accusers: int = attrs.field(default=2, validator=_int_at_least(1))
    #: Flap damping: each refutation by a member (and each return from the dead) adds 1 to its
    #: penalty, which halves every ``stability_half_life`` seconds; at ``stability_suppress``
    #: the member is reported unstable (and its flips no more), below ``stability_reuse``
    #: stable again.
    stability_damping: bool = attrs.field(default=True, validator=_flag)
    stability_suppress: float = attrs.field(default=1.5, validator=_positive)
    stability_reuse: float = attrs.field(default=0.5, validator=_positive)
    stability_half_life: float = attrs.field(default=60.0, validator=_positive)
    #: Report a suspicion only once it has stood this long (0: at once; 9 protocol periods in
    #: every preset).  A suspicion refuted sooner is not reported, nor its refutation; a death
    #: is always reported.
    stability_suspect_hold: float = attrs.field(default=9.0, validator=_non_negative)

    def __attrs_post_init__(self) -> None:
        if self.probe_timeout > self.probe_interval:
            raise ConfigError(
                f"probe_timeout ({self.probe_timeout}) must not exceed probe_interval "
                f"({self.probe_interval})"
            )
        if self.stability_reuse >= self.stability_suppress:
            raise ConfigError(
                f"stability_reuse ({self.stability_reuse}) must be below stability_suppress "
                f"({self.stability_suppress}): the gap is the damping's hysteresis"
            )
        if self.max_metadata + 300 > self.max_packet:
            raise ConfigError(
                f"max_metadata ({self.max_metadata}) must leave room in max_packet "
                f"({self.max_packet}): keep it at most max_packet - 300"
            )

    @classmethod
    def lan(cls, **changes: Any) -> Config:
        """memberlist's LAN preset: 1 s probes, 500 ms timeout, k = 3."""
        return cls(**changes)

    @classmethod
    def wan(cls, **changes: Any) -> Config:
        """memberlist's WAN preset: 5 s probes, 3 s timeout, longer suspicion."""
        base: dict[str, Any] = dict(
            probe_interval=5.0,
            probe_timeout=3.0,
            suspicion_mult=6,
            stability_suspect_hold=45.0,
            gossip_interval=0.5,
            gossip_nodes=4,
            gossip_to_the_dead_time=60.0,
            push_pull_interval=60.0,
        )
        return cls(**{**base, **changes})

    @classmethod
    def local(cls, **changes: Any) -> Config:
        """memberlist's local (loopback) preset: 200 ms timeout, k = 1, fewer retransmits."""
        base: dict[str, Any] = dict(
            probe_timeout=0.2,
            indirect_checks=1,
            suspicion_mult=3,
            retransmit_mult=2,
            gossip_interval=0.1,
            gossip_to_the_dead_time=15.0,
            push_pull_interval=15.0,
        )
        return cls(**{**base, **changes})

    @classmethod
    def preset(cls, name: str, **changes: Any) -> Config:
        """The preset called ``name`` (``"lan"``, ``"wan"`` or ``"local"``)."""
        try:
            factory = {"lan": cls.lan, "wan": cls.wan, "local": cls.local}[name]
        except KeyError:
            raise ConfigError(f"unknown preset {name!r}: use 'lan', 'wan' or 'local'") from None
        return factory(**changes)
