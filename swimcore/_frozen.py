"""Making the frozen attrs values the receive path makes for every datagram, a quarter cheaper.

attrs' ``__init__`` of a frozen class sets each field through ``object.__setattr__``, looked up
anew for every object and every field.  The decoder makes a :class:`~swimcore.messages.Ping`
for each probe it reads and an :class:`~swimcore.messages.Alive` for each fresh update, and
the node a :class:`~swimcore.actions.Send` for each datagram it sends: those set the slots
through the slots' own setters instead (about a quarter fewer instructions).  The objects are
the ones the classes' constructors make: equal, hashed and shown the same (the round-trip
tests compare them).  Only for slotted classes without defaults to fill in or validators.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

#: ``new(cls)``: an instance of ``cls`` whose slots are not set yet.
new = object.__new__


def slot_setters(cls: type, *fields: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of the slots ``fields`` of ``cls`` (``setter(instance, value)``); ``fields``
    must be all of the class's fields, in order (a field added later fails here, at import)."""
    if fields != tuple(field.name for field in attrs.fields(cls)):
        raise TypeError(f"{cls.__name__}'s fields are not {fields}")
    setters: tuple[Callable[[Any, Any], None], ...] = tuple(
        cls.__dict__[field].__set__ for field in fields
    )
    return setters
