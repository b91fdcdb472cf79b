"""Deprecated: the old name of :mod:`swimcore.transports.thread`, kept until 0.3.

Import ThreadMember and EventQueue from ``swimcore.transports`` instead.
"""

import warnings

from swimcore.transports.thread import EventQueue, ThreadMember

warnings.warn(
    "swimcore.transports.threaded is deprecated (removed in 0.3): "
    "import ThreadMember and EventQueue from swimcore.transports",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["EventQueue", "ThreadMember"]
