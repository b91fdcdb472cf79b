"""The thread driver: a member whose protocol runs on an OS thread of its own.

* :class:`ThreadMember` (:mod:`.member`) is the blocking member, for programs without an event
  loop; its protocol thread drives the node, the sockets (:mod:`.exchange` for TCP) and the
  coroutines of :mod:`.tasks`; events reach readers through :mod:`.events`.
* :class:`BridgedMember` (:mod:`.bridge`) is the same member with the asyncio/trio surface of
  :class:`~swimcore.transports.AsyncioMember`, for loops that may block for a while.
"""

from swimcore.transports.thread.bridge import BridgedMember
from swimcore.transports.thread.events import EventQueue
from swimcore.transports.thread.member import ThreadMember

__all__ = ["BridgedMember", "EventQueue", "ThreadMember"]
