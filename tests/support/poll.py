"""Waiting for a condition, with a generous deadline and a message that says what never came.

Tests of real members depend on wall time; they poll a condition instead of sleeping a fixed
time, and fail with ``what`` when the deadline passes (a callable ``what`` is called then, so
that the message can show the state at the failure, such as a process's last output).
:func:`eventually` runs in any async test (asyncio or trio, through anyio);
:func:`eventually_blocking` is the same for threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio

#: Long enough for a loaded 2-core CI machine; a test that passes waits only as long as needed.
DEADLINE = 15.0

#: What never came: a message, or a function that makes one when the deadline has passed.
What = str | Callable[[], object]


def _timed_out(what: What, timeout: float) -> AssertionError:
    message = what if isinstance(what, str) else what()
    return AssertionError(f"after {timeout:g} s: {message}")


async def eventually(
    condition: Callable[[], bool], what: What, timeout: float = DEADLINE, step: float = 0.02
) -> None:
    """Return once ``condition()`` is true; fail the test with ``what`` after ``timeout``."""
    deadline = anyio.current_time() + timeout
    while not condition():
        if anyio.current_time() > deadline:
            raise _timed_out(what, timeout)
        await anyio.sleep(step)


def eventually_blocking(
    condition: Callable[[], bool], what: What, timeout: float = DEADLINE, step: float = 0.02
) -> None:
    """:func:`eventually` for code without an event loop."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        time.sleep(step)
