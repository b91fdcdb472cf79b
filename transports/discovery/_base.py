"""What the stores share: their error and the parsing of address lists."""

from __future__ import annotations

import re

from swimcore import Address, AddressError, SwimError

_SEPARATORS = re.compile(r"[\s,;]+")
_LIST_OPEN = re.compile(r"\[\s*(?=[\"'])")
_LIST_CLOSE = re.compile(r"(?<=[\"'])\s*\]")


class DiscoveryError(SwimError):
    """A store could not be reached or answered with an error (the driver counts and retries)."""


def parse_addresses(text: str) -> list[Address]:
    """Addresses in ``text``: separated by whitespace, commas or semicolons; ``#`` comments.

    Quotes and JSON list brackets (as some key-value services return) are removed; entries that
    are not ``ip:port`` (or ``[ipv6]:port``) with a non-zero port and a routable address are
    skipped.  Duplicates are dropped, order kept.
    """
    found: list[Address] = []
    for raw_line in text.splitlines():
        line = _LIST_CLOSE.sub("", _LIST_OPEN.sub("", raw_line.split("#", 1)[0]))
        for raw_item in _SEPARATORS.split(line):
            item = raw_item.strip("\"'")
            if not item:
                continue
            try:
                address = Address.parse(item)
            except AddressError:
                continue
            if address.port != 0 and not address.is_unspecified and address not in found:
                found.append(address)
    return found
