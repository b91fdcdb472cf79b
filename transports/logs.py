"""Loggers that name the member: ``swimcore.core`` for the node, one per driver, event lines.

Every record a driver writes names the local member twice: ``extra={"member": name}`` for
formatters and filters, and a ``[name]`` prefix for plain text logs, like the node's own records.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from swimcore import (
    BroadcastReceived,
    Event,
    ExchangeRefused,
    JoinAddress,
    JoinFailed,
    JoinResult,
    LeaderChanged,
    MemberInfo,
    NameConflict,
    RoundTrip,
    refusals,
)

#: The logger the node itself writes to (membership changes at INFO, protocol detail at DEBUG).
CORE_LOGGER = "swimcore.core"


class MemberLogger(logging.LoggerAdapter[logging.Logger]):
    """A driver's logger for one member: every record names it.

    Each record gets ``extra={"member": name}`` (for formatters and filters) and its message
    starts with ``[name]`` (for plain text logs), like the node's own records.
    """

    def __init__(self, logger: logging.Logger, member: str) -> None:
        super().__init__(logger, {"member": member})
        self.member = member

    def log(
        self,
        level: int,
        msg: object,
        *args: object,
        exc_info: Any = None,
        stack_info: bool = False,
        stacklevel: int = 1,
        extra: Mapping[str, object] | None = None,
        **kwargs: object,
    ) -> None:
        if not self.logger.isEnabledFor(level):
            return
        # Without arguments logging does not %-format: keep a literal '%' literal.
        text = str(msg) if args else str(msg).replace("%", "%%")
        self.logger.log(
            level,
            "[%s] " + text,
            self.member,
            *args,
            exc_info=exc_info,
            stack_info=stack_info,
            stacklevel=stacklevel + 1,
            extra={"member": self.member, **(extra or {})},
        )


def core_logger(member: str) -> logging.LoggerAdapter[logging.Logger]:
    """The node's log sink: ``swimcore.core`` with ``extra={"member": name}`` on every record.

    The node already starts each message with ``[name]``.
    """
    return logging.LoggerAdapter(logging.getLogger(CORE_LOGGER), {"member": member})


def describe_event(event: Event) -> str:
    """One log line for ``event``."""
    if isinstance(event, BroadcastReceived):
        return f"broadcast {event.key!r} from {event.origin} ({len(event.payload)} bytes)"
    if isinstance(event, LeaderChanged):
        return f"leader is now {event.leader.name} ({event.leader.address})"
    if isinstance(event, JoinAddress):
        return f"this node is leader: join address {event.address}"
    if isinstance(event, JoinFailed):
        return f"join through {event.seed} failed: {event.reason}"
    if isinstance(event, JoinResult):
        if event.error is not None:
            return f"join attempt failed: {event.error}"
        tried = len(event.reached) + len(event.failures)
        return f"joined through {len(event.reached)} of {tried} seeds"
    if isinstance(event, RoundTrip):
        return f"round trip to {event.name} ({event.address}): {event.rtt * 1000:.1f} ms"
    if isinstance(event, ExchangeRefused):
        advice = refusals.ADVICE.get(event.reason, "check the configuration")
        return f"refused an exchange: {event.reason} ({event.detail}); {advice}"
    if isinstance(event, NameConflict):
        if event.local:
            return (
                f"name conflict: this member's name {event.name!r} is also claimed at "
                f"{event.other}; give each member its own --name"
            )
        return (
            f"name conflict: {event.name!r} is at {event.address} and also claimed at "
            f"{event.other}; two members run with one name"
        )
    member = getattr(event, "member", None)
    if isinstance(member, MemberInfo):
        kind = type(event).__name__.removeprefix("Member").lower()
        return f"member {kind}: {member.name} ({member.address}) incarnation {member.incarnation}"
    return repr(event)
