"""Waiting for a condition, with a generous deadline and a message that says what never came.

Tests of real members depend on wall time; they poll a condition instead of sleeping a fixed
time, and fail with ``what`` when the deadline passes.  :func:`eventually` runs in any async test
(asyncio or trio, through anyio); :func:`eventually_blocking` is the same for threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio

#: Long enough for a loaded 2-core CI machine; a test that passes waits only as long as needed.
DEADLINE = 15.0


async def eventually(
    condition: Callable[[], bool], what: str, timeout: float = DEADLINE, step: float = 0.02
) -> None:
    """Return once ``condition()`` is true; fail the test with ``what`` after ``timeout``."""
    deadline = anyio.current_time() + timeout
    while not condition():
        if anyio.current_time() > deadline:
            raise AssertionError(f"after {timeout:g} s: {what}")
        await anyio.sleep(step)


def eventually_blocking(
    condition: Callable[[], bool], what: str, timeout: float = DEADLINE, step: float = 0.02
) -> None:
    """:func:`eventually` for code without an event loop."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout:g} s: {what}")
        time.sleep(step)
