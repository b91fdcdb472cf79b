"""Deprecated: the old name of :mod:`swimcore.transports.anyio`, kept until 0.3.

Import AnyioMember and AnyioEventStream from ``swimcore.transports`` instead.
"""

import warnings

from swimcore.transports.anyio import AnyioEventStream as EventStream
from swimcore.transports.anyio import AnyioMember

warnings.warn(
    "swimcore.transports.anyio_driver is deprecated (removed in 0.3): "
    "import AnyioMember and AnyioEventStream from swimcore.transports",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["AnyioMember", "EventStream"]
