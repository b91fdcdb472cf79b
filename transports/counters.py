"""The driver's own counters (socket errors, drops, exchanges), reported beside the node's."""

from __future__ import annotations

import errno

from swimcore import counter_names as cn


class Counters:
    """Driver counters (socket errors, drops, exchanges), reported beside the node's."""

    def __init__(self) -> None:
        self._values: dict[str, int] = {}

    def add(self, key: str, amount: int = 1) -> None:
        self._values[key] = self._values.get(key, 0) + amount

    def get(self, key: str) -> int:
        return self._values.get(key, 0)

    def snapshot(self) -> dict[str, int]:
        return {cn.DRIVER_PREFIX + k: v for k, v in sorted(self._values.items())}

    def socket_error(self, exc: OSError, where: str) -> None:
        """Count ``exc`` under ``socket_errors`` and by errno name: never fatal."""
        self.add(cn.SOCKET_ERRORS)
        name = errno.errorcode.get(exc.errno or 0, "other")
        self.add(cn.socket_error(where, name))
