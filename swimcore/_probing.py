# mypy: disable-error-code="misc"
# Each method declares ``self: Node`` (the mixin pattern), which mypy reports under "misc"
# because Node is a subclass of this mixin, not a supertype of it; bodies are checked as Node.
"""Probing: the protocol period, direct and indirect probes, nacks, the TCP fallback ping and
Lifeguard's last-chance probe before a death (a mixin of :class:`~swimcore.node.Node`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from swimcore import counter_names as cn
from swimcore._compiling import mypyc_attr, trait
from swimcore._node_base import (
    _LIVE,
    _PING,
    GATE_LIMIT,
    PERIOD_TIMER,
    WARNING,
    Timer,
    _Probe,
    _Relay,
)
from swimcore.actions import (
    JoinAddress,
    RoundTrip,
)
from swimcore.address import Address
from swimcore.members import Member
from swimcore.messages import (
    Ack,
    IndirectPing,
    Ping,
    State,
    StreamPing,
    Suspect,
)
from swimcore.suspicion import Suspicion

if TYPE_CHECKING:
    from swimcore.node import Node


@trait
@mypyc_attr(allow_interpreted_subclasses=True)
class Probing:
    """The node's probing (see the module docstring); its methods run on a :class:`Node`."""

    __slots__ = ()

    _probe: _Probe | None

    def _on_ack(self: Node, seq: int, source: Address | None = None) -> None:
        probe = self._probe
        if probe is not None and probe.seq == seq:
            if not probe.acked:
                probe.acked = True
                # Its timeout has nothing left to do: it must not wake the driver.
                self._timers.cancel((Timer.PROBE_TIMEOUT, seq, ""))
                self._withheld.pop(probe.target, None)
                self._awareness.apply(-1)
                self._count(cn.PROBES_ACKED)
                if self.config.report_round_trips:
                    self._round_trip(probe, source)
            return
        relay = self._relays.pop(seq, None)
        if relay is not None:
            self._timers.cancel((Timer.RELAY, seq, ""))  # no nack is owed any more
            self._send(relay.origin, Ack(relay.origin_seq))
            return
        if self._verifications.pop(seq, None) is not None:
            # Any refutation it carried has been applied already (updates come first).
            self._count(cn.VERIFICATIONS_ANSWERED)
            return
        self._count(cn.DROPPED_STALE_ACK)

    def _round_trip(self: Node, probe: _Probe, source: Address | None) -> None:
        """Report the round trip of a direct probe (an ack through a relay is not one)."""
        target = self._table.peek(probe.target)
        if target is None or source != target.address:
            return
        rtt = max(0.0, self._now - probe.started)
        self._count(cn.RTT_SAMPLES)
        self._count(cn.RTT_US_TOTAL, round(rtt * 1e6))
        self._out.append(RoundTrip(target.name, target.address, rtt))

    def _relay(self: Node, message: IndirectPing, source: Address) -> None:
        if len(self._relays) >= self.config.max_relays:
            self._count(cn.DROPPED_RELAY_LIMIT)
            return
        seq = self._next_seq()
        self._relays[seq] = _Relay(source, message.seq, message.want_nack)
        self._count(cn.RELAYS)
        self._send(message.address, Ping(seq, message.target, self.name))
        self._timers.schedule(self._now + self._nack_delay, (Timer.RELAY, seq, ""))

    def _period(self: Node) -> None:
        self._finish_probe()
        self._timers.schedule(
            self._now + self._awareness.scale(self.config.probe_interval), PERIOD_TIMER
        )
        if self._leaving:
            return
        self._periods += 1
        every = self.config.join_address_every
        if every and self._periods % every == 0 and self._leader is self._table.local:
            self._out.append(JoinAddress(self.address))
        target = self._table.next_probe_target()
        if target is None:
            return
        seq = self._next_seq()
        self._probe = _Probe(seq, target.name, self._now)
        self._count(cn.PROBES)
        buddy = []
        if target.state is State.SUSPECT and self.config.lifeguard_buddy:
            # Lifeguard's buddy system: tell the suspect it is suspected, so it refutes at once.
            suspect = Suspect(target.name, target.incarnation, self.name)
            buddy.append(self._wire.encode_update(suspect))
            self._count(cn.BUDDY_PROBES)
        self._send(target.address, Ping(seq, target.name, self.name), extra=buddy)
        self._timers.schedule(
            self._now + self._awareness.scale(self.config.probe_timeout),
            (Timer.PROBE_TIMEOUT, seq, ""),
        )

    def _probe_timeout(self: Node, seq: int) -> None:
        probe = self._probe
        if probe is None or probe.seq != seq or probe.acked:
            return
        target = self._table.peek(probe.target)
        if target is None or target.state not in _LIVE:
            return
        relays = self._table.random_live(
            self.config.indirect_checks, exclude=(target.name,), alive_only=True
        )
        probe.expected_nacks = len(relays)
        for relay in relays:
            self._count(cn.INDIRECT_PROBES)
            self._send(relay.address, IndirectPing(seq, target.name, target.address, self.name))
        self._stream_probe(probe, target)

    def _stream_probe(self: Node, probe: _Probe, target: Member) -> None:
        """The TCP fallback (``Config.tcp_fallback_probe``): ping ``target`` over the reliable
        exchange as well; an ack that way before the period ends counts (``_stream_ack``).

        At most one such exchange per member is under way: while the last one to ``target``
        has not ended (a firewall that drops TCP makes the driver wait out its exchange
        timeout), no other starts.  Each counts against ``MAX_PENDING_EXCHANGES``.
        """
        if not self.config.tcp_fallback_probe or not self._wire.pings_by_stream(target.name):
            return
        for _, purpose, name in self._exchanges.values():  # at most MAX_PENDING_EXCHANGES
            if purpose == _PING and name == target.name:
                self._count(cn.TCP_FALLBACK_SKIPPED)
                return
        ping = StreamPing(self.config.label, probe.seq, target.name, self.name)
        self._count(cn.TCP_FALLBACK_PROBES)
        self._request(target.address, _PING, self._wire.encode_stream_ping(ping), target.name)
        probe.fallback = self._exchange_seq

    def _stream_ack(self: Node, exchange_id: int, data: bytes) -> None:
        """The reply to a TCP fallback ping: an ack for the probe still under way saves it."""
        seq = self._wire.read_stream_ack(self._open(data) or b"", self.config.label)
        probe = self._probe
        if seq is None:
            self._count(cn.TCP_FALLBACK_FAILED)  # no ack: a refusal, or a peer without it
        elif probe is None or probe.fallback != exchange_id:
            self._count(cn.TCP_FALLBACK_LATE)  # the protocol period it was for is over
        elif seq != probe.seq:
            self._count(cn.TCP_FALLBACK_FAILED)
        elif not probe.acked:  # (else an ack over UDP, direct or relayed, came first)
            probe.acked = True
            self._withheld.pop(probe.target, None)
            self._awareness.apply(-1)
            self._count(cn.TCP_FALLBACK_ACKED)
            if self._log is not None and self._reports.first(("udp", probe.target), self._now):
                self._log.log(
                    WARNING,
                    "[%s] %s answered over TCP but not over UDP: is UDP blocked between us?",
                    self.name,
                    probe.target,
                )

    def _answer_stream_ping(self: Node, ping: StreamPing) -> bytes | None:
        """Answer a peer's TCP fallback ping with an ack (``None``: it was for another name)."""
        if ping.target != self.name:
            self._count(cn.DROPPED_WRONG_TARGET)
            return None
        self._count(cn.STREAM_PINGS_ANSWERED)
        return self._seal(self._wire.encode_stream_ack(self.config.label, ping.seq))

    def _finish_probe(self: Node) -> None:
        probe, self._probe = self._probe, None
        if probe is None or probe.acked:
            return
        self._count(cn.PROBES_FAILED)
        self._debug(
            "probe of %s failed (nacks %d of %d)", probe.target, probe.nacks, probe.expected_nacks
        )
        missed = probe.expected_nacks - probe.nacks
        self._awareness.apply(missed if probe.expected_nacks else 1)
        target = self._table.peek(probe.target)
        if target is not None and target.state in _LIVE:
            heard = self._now - self._heard <= 2 * self.config.probe_interval
            if heard and self._stability.withholds(self._awareness.score):
                # Missing acks and nacks say more about this node than about the target, as
                # long as others still reach it and the target answered one of its last
                # probes: one that hears no one (the last survivor of a crash) or whose
                # probes of this target failed GATE_LIMIT times in a row (after many crashes
                # at once every survivor's health is poor) accuses, so the gate never keeps a
                # death unknown.
                missed = self._withheld.get(target.name, 0) + 1
                if missed < GATE_LIMIT:
                    if len(self._withheld) >= self.config.max_members:
                        self._withheld.clear()
                    self._withheld[target.name] = missed
                    self._count(cn.ACCUSATIONS_WITHHELD)
                    return
            self._withheld.pop(target.name, None)
            # On a suspect this is our own confirmation, which others count toward theirs.
            self._apply(Suspect(target.name, target.incarnation, self.name))

    def _verify(self: Node, member: Member, suspicion: Suspicion) -> None:
        """One last direct probe, carrying the suspicion, before declaring ``member`` dead.

        Infection-style spread occasionally misses a node, which then holds a suspicion whose
        refutation never reached it.  The suspect's answer to this probe carries the refutation
        (or makes one), so only a member that stays silent for one more probe timeout dies.
        """
        if len(self._verifications) >= 64:  # drop those whose suspicion ended meanwhile
            self._verifications = {
                seq: name
                for seq, name in self._verifications.items()
                if (held := self._suspicions.get(name)) is not None and held.verify_seq == seq
            }
        seq = self._next_seq()
        suspicion.verify_seq = seq
        suspicion.token += 1
        self._verifications[seq] = member.name
        self._count(cn.VERIFICATIONS)
        suspect = self._wire.encode_update(Suspect(member.name, member.incarnation, self.name))
        self._send(member.address, Ping(seq, member.name, self.name), extra=[suspect])
        wait = self._now + self._awareness.scale(self.config.probe_timeout)
        self._timers.schedule(
            max(wait, suspicion.deadline()), (Timer.SUSPICION, suspicion.token, member.name)
        )
