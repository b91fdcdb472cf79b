"""Drivers that run :class:`swimcore.Node` over a network: real sockets and a simulator.

The member classes and their options are importable from here::

    from swimcore.transports import AsyncioMember, MemberOptions

Each driver module is loaded on first use, so ``import swimcore.transports`` costs little and
:class:`AnyioMember` needs the ``anyio`` extra only when it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swimcore.transports.anyio import AnyioMember
    from swimcore.transports.asyncio import AsyncioMember
    from swimcore.transports.discovery import DiscoveryStore
    from swimcore.transports.discovery.loop import DiscoveryOptions
    from swimcore.transports.events import EventStream
    from swimcore.transports.logs import MemberLogger, describe_event
    from swimcore.transports.options import MemberOptions, MemberOverrides
    from swimcore.transports.thread.bridge import BridgedMember
    from swimcore.transports.thread.member import EventQueue, ThreadMember

__all__ = [
    "AnyioMember",
    "AsyncioMember",
    "BridgedMember",
    "DiscoveryOptions",
    "DiscoveryStore",
    "EventQueue",
    "EventStream",
    "MemberLogger",
    "MemberOptions",
    "MemberOverrides",
    "ThreadMember",
    "describe_event",
]

# public name -> (module, name in that module)
_LAZY: dict[str, tuple[str, str]] = {
    "AsyncioMember": ("asyncio", "AsyncioMember"),
    "EventStream": ("events", "EventStream"),
    "AnyioMember": ("anyio", "AnyioMember"),
    "ThreadMember": ("thread", "ThreadMember"),
    "EventQueue": ("thread", "EventQueue"),
    "BridgedMember": ("thread", "BridgedMember"),
    "DiscoveryOptions": ("discovery.loop", "DiscoveryOptions"),
    "DiscoveryStore": ("discovery.loop", "DiscoveryStore"),
    "MemberOptions": ("options", "MemberOptions"),
    "MemberOverrides": ("options", "MemberOverrides"),
    "MemberLogger": ("logs", "MemberLogger"),
    "describe_event": ("logs", "describe_event"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
