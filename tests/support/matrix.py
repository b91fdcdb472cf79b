"""Every driver, behind one async surface, so that each driver test is a parity test.

A :class:`Driver` opens members of one driver class on one async backend.  The thread driver
has no async surface of its own; :class:`ThreadAsAsync` gives it one by running its blocking
calls on a worker thread, so the same scenario runs on all five: asyncio, anyio on asyncio,
anyio on trio, the thread driver and the thread driver bridged to a loop.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import attrs

from swimcore import Config
from swimcore.transports import (
    AnyioMember,
    AsyncioMember,
    BridgedMember,
    MemberOptions,
    ThreadMember,
)


class ThreadAsAsync:
    """A :class:`ThreadMember` with the async surface of the other drivers."""

    def __init__(self, config: Config | None = None, *args: Any, **options: Any) -> None:
        self.inner = ThreadMember(config, *args, **options)

    async def __aenter__(self) -> ThreadAsAsync:
        await anyio.to_thread.run_sync(self.inner.start)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await anyio.to_thread.run_sync(self.inner.close)

    async def send(self, name: str, payload: bytes, *, reliable: bool = False) -> None:
        call = functools.partial(self.inner.send, name, payload, reliable=reliable)
        await anyio.to_thread.run_sync(call)

    async def leave(self) -> None:
        await anyio.to_thread.run_sync(self.inner.leave)

    async def close(self, *, leave: bool | None = None) -> None:
        await anyio.to_thread.run_sync(functools.partial(self.inner.close, leave=leave))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@attrs.frozen
class Driver:
    """One driver class on one backend; :meth:`member` opens one of its members."""

    id: str
    backend: str
    factory: Callable[..., Any]

    def member(self, config: Config, **options: Any) -> AbstractAsyncContextManager[Any]:
        """A member of this driver (``async with``); ``options`` are MemberOptions fields."""
        member: AbstractAsyncContextManager[Any] = self.factory(config, **options)
        return member

    def run(self, scenario: Callable[[Driver], Awaitable[object]]) -> None:
        """Run ``scenario(self)`` to completion on this driver's backend."""
        anyio.run(scenario, self, backend=self.backend)


DRIVERS = (
    Driver("asyncio", "asyncio", AsyncioMember),
    Driver("anyio-asyncio", "asyncio", AnyioMember),
    Driver("anyio-trio", "trio", AnyioMember),
    Driver("thread", "asyncio", ThreadAsAsync),
    Driver("bridged", "asyncio", BridgedMember),
)

__all__ = ["DRIVERS", "Driver", "MemberOptions", "ThreadAsAsync"]
