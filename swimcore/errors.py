"""The exceptions swimcore raises.

Two kinds, as in h11: :class:`SwimError` subclasses raised at once for local misuse of the API
(bad configuration, bad address, calling a method in the wrong state), and :class:`DecodeError`,
raised only by the codec for bytes a peer sent.  ``Node.receive`` never lets a
:class:`DecodeError` out: remote garbage is dropped and counted.
"""

from __future__ import annotations


class SwimError(Exception):
    """Base class of every exception swimcore raises."""


class ConfigError(SwimError, ValueError):
    """A configuration value is invalid; the message names the field and what is allowed."""


class AddressError(SwimError, ValueError):
    """An address could not be parsed or cannot be advertised."""


class StateError(SwimError, RuntimeError):
    """A method was called when the node cannot honour it (for example after it left)."""


class ClockError(SwimError, ValueError):
    """A ``now`` given to the node is not a finite time it can schedule by (inf, nan, 1e300)."""


class DeliveryError(SwimError):
    """A direct message could not be sent or delivered to ``member``; ``reason`` says why.

    Raised by the drivers' ``send`` when the member is unknown, dead or left, when the
    reliable exchange fails or times out, or when the sending member stops first.
    """

    def __init__(self, member: str, reason: str) -> None:
        super().__init__(f"message to {member!r} not delivered: {reason}")
        self.member = member
        self.reason = reason


class JoinError(SwimError):
    """No seed of a join attempt was reached; ``failures`` holds each seed and why."""

    def __init__(self, failures: tuple[tuple[object, str], ...]) -> None:
        self.failures = failures
        detail = "; ".join(f"{seed}: {reason}" for seed, reason in failures) or "no seeds"
        super().__init__(f"no seed reached ({detail})")


class DecodeError(SwimError):
    """Bytes from the network are not a valid swimcore packet (the reason says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthError(DecodeError):
    """Bytes from the network that no installed key authenticates (counted apart).

    ``mismatch``: encryption is on at one end only (a refusal tells the sender that, rather
    than that no key opened its bytes).
    """

    def __init__(self, reason: str, *, mismatch: bool = False) -> None:
        super().__init__(reason)
        self.mismatch = mismatch


class LabelError(DecodeError):
    """Bytes from a group with another label: ``label`` is theirs (``""``: none).  Counted
    apart; a refused exchange tells the sender."""

    def __init__(self, label: str) -> None:
        super().__init__(f"foreign label {label!r}")
        self.label = label
