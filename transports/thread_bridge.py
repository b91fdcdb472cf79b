"""Deprecated: the old name of :mod:`swimcore.transports.thread`, kept until 0.3.

Import BridgedMember and EventStream from ``swimcore.transports`` instead.
"""

import warnings

from swimcore.transports.events import EventStream as AsyncEventStream
from swimcore.transports.thread import BridgedMember

warnings.warn(
    "swimcore.transports.thread_bridge is deprecated (removed in 0.3): "
    "import BridgedMember and EventStream from swimcore.transports",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["AsyncEventStream", "BridgedMember"]
