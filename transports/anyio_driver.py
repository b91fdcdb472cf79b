"""Deprecated: the old name of :mod:`swimcore.transports.anyio`, kept until 0.3.

Import AnyioMember and EventStream from ``swimcore.transports`` instead.
"""

import warnings

from swimcore.transports.anyio import AnyioMember
from swimcore.transports.events import EventStream

warnings.warn(
    "swimcore.transports.anyio_driver is deprecated (removed in 0.3): "
    "import AnyioMember and EventStream from swimcore.transports",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["AnyioMember", "EventStream"]
