"""What a run left behind: the sockets and transports it never closed, and the errors the
asyncio loop reported to its exception handler instead of raising them."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Callable
from typing import Any


def resource_warnings(run: Callable[[], object]) -> list[str]:
    """What ``run`` left unclosed: the ResourceWarnings of everything it left to the collector."""
    gc.collect()  # what earlier tests left is theirs (and fails them as usual)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def record_loop_errors(into: list[str]) -> None:
    """Collect what the running asyncio loop reports to its exception handler (an exception in
    a callback, which the loop logs and goes on) into ``into``; nothing on other loops."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return

    def handler(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        into.append(f"{context.get('message')}: {context.get('exception')!r}")

    loop.set_exception_handler(handler)
