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
    from swimcore.transports._driver_common import DiscoveryOptions
    from swimcore.transports.aio import AsyncioMember, EventStream
    from swimcore.transports.anyio_driver import AnyioMember
    from swimcore.transports.anyio_driver import EventStream as AnyioEventStream
    from swimcore.transports.discovery import DiscoveryStore
    from swimcore.transports.thread_bridge import AsyncEventStream, BridgedMember
    from swimcore.transports.threaded import EventQueue, ThreadMember

__all__ = [
    "AnyioEventStream",
    "AnyioMember",
    "AsyncEventStream",
    "AsyncioMember",
    "BridgedMember",
    "DiscoveryOptions",
    "DiscoveryStore",
    "EventQueue",
    "EventStream",
    "ThreadMember",
]

# public name -> (module, name in that module)
_LAZY: dict[str, tuple[str, str]] = {
    "AsyncioMember": ("aio", "AsyncioMember"),
    "EventStream": ("aio", "EventStream"),
    "AnyioMember": ("anyio_driver", "AnyioMember"),
    "AnyioEventStream": ("anyio_driver", "EventStream"),
    "ThreadMember": ("threaded", "ThreadMember"),
    "EventQueue": ("threaded", "EventQueue"),
    "BridgedMember": ("thread_bridge", "BridgedMember"),
    "AsyncEventStream": ("thread_bridge", "AsyncEventStream"),
    "DiscoveryOptions": ("_driver_common", "DiscoveryOptions"),
    "DiscoveryStore": ("discovery", "DiscoveryStore"),
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
