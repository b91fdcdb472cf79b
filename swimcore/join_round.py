"""One join attempt's bookkeeping, so the node can say how it ended (a :class:`JoinResult`).

A join asks every seed for a full-state exchange at once; the attempt is over when each has
answered or failed.  A new attempt (a retry, or another ``join`` call) replaces an unfinished
one: its late answers still merge, but only the newest attempt reports a result.
"""

from __future__ import annotations

from swimcore.actions import JoinResult
from swimcore.address import Address


class JoinRound:
    """The exchanges of the current join attempt and how each ended."""

    __slots__ = ("_failures", "_pending", "_reached")

    def __init__(self) -> None:
        self._pending: dict[int, Address] = {}
        self._reached: list[Address] = []
        self._failures: list[tuple[Address, str]] = []

    def restart(self) -> None:
        """A new attempt begins: forget the previous one."""
        self._pending.clear()
        self._reached.clear()
        self._failures.clear()

    def add(self, exchange_id: int, seed: Address) -> None:
        """The attempt asked ``seed`` through exchange ``exchange_id``."""
        self._pending[exchange_id] = seed

    def finish(self, exchange_id: int, failure: str | None) -> JoinResult | None:
        """Exchange ``exchange_id`` ended (``failure`` is ``None`` when it merged).

        Returns the attempt's result once its last exchange ended, else ``None`` (also for an
        exchange of a replaced attempt).
        """
        seed = self._pending.pop(exchange_id, None)
        if seed is None:
            return None
        if failure is None:
            self._reached.append(seed)
        else:
            self._failures.append((seed, failure))
        if self._pending:
            return None
        result = JoinResult(tuple(self._reached), tuple(self._failures))
        self.restart()
        return result
