"""Loggers that load :mod:`logging` only once a record could be written.

:mod:`logging` (with ``traceback``, ``string`` and ``textwrap``, which it imports) costs a
process about 300 KiB resident.  The asyncio and anyio drivers have it anyway (asyncio imports
it); a :class:`~swimcore.transports.ThreadMember` in a program that never logs has no use for it.

In a process that has not imported :mod:`logging`, nobody has configured a handler or a level:
the root logger's default level (WARNING) would drop every DEBUG and INFO record.
:class:`LazyLogger` stands for a logger until then and does the same: below WARNING it drops
the record while ``logging`` is not in ``sys.modules``.  A record at WARNING or above, or any
record once the program has imported :mod:`logging`, makes the real logger (the ``make``
function given) and goes to it, so what is written and where is what the real logger writes.
:func:`deferred` gives the real logger at once when :mod:`logging` is already loaded.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import logging

__all__ = [
    "CRITICAL",
    "DEBUG",
    "ERROR",
    "INFO",
    "WARNING",
    "AnyLogger",
    "LazyLogger",
    "Logger",
    "deferred",
    "named",
]

# logging's levels, without importing it (they are fixed by the logging API).
DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50


class LazyLogger:
    """A logger made by ``make()`` on the first record :mod:`logging` would not drop.

    It has the methods the drivers call (``log``, ``isEnabledFor``, ``debug`` ... ``critical``,
    ``exception``) with the real ones' arguments; ``stacklevel`` counts from the caller, as
    with the real logger, so a record names the line that logged it.
    """

    __slots__ = ("_logger", "_make")

    def __init__(self, make: Callable[[], Logger]) -> None:
        self._make = make
        self._logger: Logger | None = None

    @property
    def logger(self) -> Logger:
        """The real logger (made now if it was not yet: this imports :mod:`logging`)."""
        if self._logger is None:
            self._logger = self._make()
        return self._logger

    def _target(self, level: int) -> Logger | None:
        """The real logger, or None when the record would be dropped without logging loaded."""
        if self._logger is None and level < WARNING and "logging" not in sys.modules:
            return None
        return self.logger

    def isEnabledFor(self, level: int) -> bool:
        """Whether a record at ``level`` would be written (False below WARNING without logging)."""
        target = self._target(level)
        return target is not None and target.isEnabledFor(level)

    # Each method calls the real logger itself (one frame of ours: stacklevel + 1).
    def log(self, level: int, msg: object, *args: object, stacklevel: int = 1, **kw: Any) -> None:
        """``logger.log(level, msg, *args, ...)``, if the record would be written."""
        target = self._target(level)
        if target is not None:
            target.log(level, msg, *args, stacklevel=stacklevel + 1, **kw)

    def debug(self, msg: object, *args: object, stacklevel: int = 1, **kw: Any) -> None:
        """``logger.debug(...)``: dropped here while :mod:`logging` is not loaded."""
        target = self._target(DEBUG)
        if target is not None:
            target.log(DEBUG, msg, *args, stacklevel=stacklevel + 1, **kw)

    def info(self, msg: object, *args: object, stacklevel: int = 1, **kw: Any) -> None:
        """``logger.info(...)``: dropped here while :mod:`logging` is not loaded."""
        target = self._target(INFO)
        if target is not None:
            target.log(INFO, msg, *args, stacklevel=stacklevel + 1, **kw)

    def warning(self, msg: object, *args: object, stacklevel: int = 1, **kw: Any) -> None:
        """``logger.warning(...)`` (loads :mod:`logging`)."""
        self.logger.log(WARNING, msg, *args, stacklevel=stacklevel + 1, **kw)

    def error(self, msg: object, *args: object, stacklevel: int = 1, **kw: Any) -> None:
        """``logger.error(...)`` (loads :mod:`logging`)."""
        self.logger.log(ERROR, msg, *args, stacklevel=stacklevel + 1, **kw)

    def exception(
        self, msg: object, *args: object, exc_info: Any = True, stacklevel: int = 1, **kw: Any
    ) -> None:
        """``logger.exception(...)``: ERROR with the exception being handled (loads logging)."""
        self.logger.log(ERROR, msg, *args, exc_info=exc_info, stacklevel=stacklevel + 1, **kw)

    def critical(self, msg: object, *args: object, stacklevel: int = 1, **kw: Any) -> None:
        """``logger.critical(...)`` (loads :mod:`logging`)."""
        self.logger.log(CRITICAL, msg, *args, stacklevel=stacklevel + 1, **kw)

    def __repr__(self) -> str:
        state = "not made yet" if self._logger is None else repr(self._logger)
        return f"<LazyLogger {state}>"


#: What the drivers log to: a logger, an adapter, or one of these standing for either.
Logger: TypeAlias = "logging.Logger | logging.LoggerAdapter[Any]"
AnyLogger: TypeAlias = "logging.Logger | logging.LoggerAdapter[Any] | LazyLogger"


def deferred(make: Callable[[], Logger]) -> AnyLogger:
    """``make()`` now if :mod:`logging` is already loaded, else a :class:`LazyLogger` of it."""
    return make() if "logging" in sys.modules else LazyLogger(make)


def named(name: str) -> AnyLogger:
    """``logging.getLogger(name)``, deferred (see :func:`deferred`)."""

    def make() -> Logger:
        import logging  # noqa: PLC0415 (the point of this module)

        return logging.getLogger(name)

    return deferred(make)
