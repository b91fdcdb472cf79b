"""The thread driver: a member whose protocol runs on an OS thread of its own.

* :class:`ThreadMember` (:mod:`.member`) is the blocking member, for programs without an event
  loop; its protocol thread drives the node, the sockets (:mod:`.exchange` for TCP) and the
  coroutines of :mod:`.tasks`; events reach readers through :mod:`.events`.
* :class:`BridgedMember` (:mod:`.bridge`) is the same member with the asyncio/trio surface of
  :class:`~swimcore.transports.AsyncioMember`, for loops that may block for a while.

:class:`BridgedMember` is loaded on first use (module ``__getattr__``): it needs ``asyncio``
(about 4 MiB resident), which a :class:`ThreadMember` does not.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from swimcore.transports.thread.events import EventQueue
from swimcore.transports.thread.member import ThreadMember

if TYPE_CHECKING:
    from swimcore.transports.thread.bridge import BridgedMember

__all__ = ["BridgedMember", "EventQueue", "ThreadMember"]


def __getattr__(name: str) -> Any:
    if name != "BridgedMember":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = importlib.import_module(f"{__name__}.bridge").BridgedMember
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
