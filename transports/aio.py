"""Deprecated: the old name of :mod:`swimcore.transports.asyncio`, kept until 0.3.

Import AsyncioMember and EventStream from ``swimcore.transports`` instead.
"""

import warnings

from swimcore.transports.asyncio import AsyncioMember
from swimcore.transports.events import EventStream

warnings.warn(
    "swimcore.transports.aio is deprecated (removed in 0.3): "
    "import AsyncioMember and EventStream from swimcore.transports",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["AsyncioMember", "EventStream"]
