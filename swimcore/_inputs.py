"""Checks of the values an application hands in: bytes, text, hooks and lists of seeds.

The core and the drivers both take these values, and both refuse the same mistakes with the
same typed error, at once: Python would read an ``int`` as a length (``bytes(5)`` is five zero
bytes), a string of seeds one character at a time, and a hook that is not callable would fail
only at the first event it was meant for.
"""

from __future__ import annotations

from swimcore.address import Address
from swimcore.errors import AddressError, ConfigError


def as_bytes(value: object, what: str) -> bytes:
    """``value`` copied as :class:`bytes`; :class:`ConfigError` unless it is bytes-like."""
    if not isinstance(value, bytes | bytearray | memoryview):
        hint = ": encode text first, as in 'role=db'.encode()" if isinstance(value, str) else ""
        raise ConfigError(f"{what} must be bytes, got {type(value).__name__}{hint}")
    return bytes(value)


def utf8_size(value: object) -> int | None:
    """``value``'s length in UTF-8 bytes; ``None`` unless it is a string that has a UTF-8
    form (a lone surrogate, as ``os.fsdecode`` makes of undecodable bytes, has none)."""
    if not isinstance(value, str):
        return None
    try:
        return len(value.encode())
    except UnicodeEncodeError:
        return None


def require_callable(value: object, what: str, *, optional: bool = False) -> None:
    """:class:`ConfigError` unless ``value`` can be called (or is ``None``, if ``optional``)."""
    if not (callable(value) or (optional and value is None)):
        allowed = "a function or None" if optional else "a function"
        raise ConfigError(f"{what} must be {allowed}, got {value!r}")


def refuse_single_seed(seeds: object) -> None:
    """:class:`AddressError` for one address where a list of them is expected."""
    if isinstance(seeds, str | bytes | Address):
        raise AddressError(f"seeds is a list of addresses, got the single value {seeds!r}")
