"""A fixed list of join addresses."""

from __future__ import annotations

from collections.abc import Iterable

from swimcore import Address
from swimcore.transports.sockets import as_address


class StaticStore:
    """Always answers the same addresses; publishing does nothing."""

    def __init__(self, addresses: Iterable[Address | str]) -> None:
        self.addresses = tuple(as_address(a) for a in addresses)

    def lookup(self) -> list[Address]:
        return list(self.addresses)

    def publish(self, address: Address) -> None:
        """Nothing to write: the list is fixed."""

    def __repr__(self) -> str:
        return f"StaticStore({[str(a) for a in self.addresses]})"
