"""Misconfiguration said where it happens: refusal replies and reports made once.

A member that refuses an exchange (a group label that is not its own, a payload its keys cannot
open) used to close the connection without a word, so the joiner saw only "connection closed
before the reply", forever.  Now it answers with a short refusal that the joiner can read
whatever its label and keys (plain text, bounded, never trusted for more than a log line and a
longer wait before the next attempt), and both sides report the reason once.

On the native wire the refusal is :data:`MAGIC` followed by the reason in UTF-8.  On the
memberlist wire it is memberlist's own ``errResp`` message (``{"Error": text}``), which a Go
joiner reports as ``remote error: TEXT``; the text is :func:`text`'s, and :func:`parse` reads
it back, or reads a Go member's own error (reason ``peer_error``).
"""

from __future__ import annotations

from collections.abc import Hashable

#: Starts a refusal reply; no native exchange starts this way (those start with ``b"SW"``).
MAGIC = b"\xffswimcore-refused\x00"
#: Longest reason carried, in bytes (longer ones are cut).
MAX_REASON = 300
#: A report (event and log line) is made once per key within this many seconds.
REPORT_WINDOW = 600.0
#: Keys remembered by a :class:`ReportOnce`; beyond it the oldest is forgotten.
MAX_REPORTS = 64

#: What a joiner should check for each refusal reason.
ADVICE = {
    "foreign_label": "check that both members use the same GROUP (Config.label)",
    "auth_failed": "check that both members use the same --key-file (or neither does)",
    "merge_vetoed": "the other member's application refused this group (its admission rule)",
    "peer_error": "the text is the other member's own: check the label and keys both sides use",
}


def text(reason: str, detail: str) -> str:
    """``reason: detail``, cut to :data:`MAX_REASON` bytes (what a refusal carries)."""
    return f"{reason}: {detail}".encode()[:MAX_REASON].decode("utf-8", errors="ignore")


def parse(carried: str) -> tuple[str, str]:
    """``(reason, detail)`` of a refusal's text; a text of no known reason (a Go member's own
    error) is ``("peer_error", text)``.  Cut to :data:`MAX_REASON` characters either way."""
    carried = carried[:MAX_REASON]
    reason, _, detail = carried.partition(": ")
    if reason in ADVICE and reason != "peer_error":
        return reason, detail
    return "peer_error", carried


def encode(reason: str, detail: str) -> bytes:
    """The native refusal reply for ``reason`` (a key of :data:`ADVICE`) with ``detail``."""
    return MAGIC + text(reason, detail).encode()


def decode(data: bytes) -> tuple[str, str] | None:
    """``(reason, detail)`` of a refusal reply, or ``None`` when ``data`` is not one."""
    if not data.startswith(MAGIC) or len(data) > len(MAGIC) + MAX_REASON:
        return None
    text = data[len(MAGIC) :].decode("utf-8", errors="replace")
    reason, _, detail = text.partition(": ")
    if reason not in ADVICE:
        return None
    return reason, detail


def describe(reason: str, detail: str) -> str:
    """A log line's worth: what was refused and what to check."""
    what = {
        "foreign_label": "the group label differs",
        "auth_failed": "authentication failed",
        "merge_vetoed": "the merge was vetoed",
        "peer_error": "the other member answered with an error",
    }.get(reason, reason)
    return f"refused: {what} ({detail}); {ADVICE.get(reason, 'check the configuration')}"


class ReportOnce:
    """Remembers which keys were reported, so each is reported once per :data:`REPORT_WINDOW`.

    Bounded: at :data:`MAX_REPORTS` keys the oldest is forgotten (it may then be reported
    again, which is harmless).  Insertion-ordered, so deterministic.
    """

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[Hashable, float] = {}

    def first(self, key: Hashable, now: float) -> bool:
        """Whether ``key`` should be reported at ``now`` (and note that it was)."""
        last = self._seen.get(key)
        if last is not None and now - last < REPORT_WINDOW:
            return False
        self._seen.pop(key, None)
        if len(self._seen) >= MAX_REPORTS:
            del self._seen[next(iter(self._seen))]
        self._seen[key] = now
        return True
