"""Join-address discovery stores: where a node finds a member to join through.

Every store has the same two blocking methods (see :class:`DiscoveryStore`): ``lookup()``
returns addresses to join through, ``publish(address)`` records the leader's own address
(a no-op for read-only stores).  Drivers call them in a worker thread, keep retrying while the
node is alone, and publish when the node emits a :class:`~swimcore.JoinAddress` action.

* :class:`StaticStore`: a fixed list;
* :class:`FileStore`: a file with one address a line (written atomically when published);
* :class:`DnsStore`: A/AAAA records of a name plus a port, or SRV records (what a Kubernetes
  headless service gives);
* :class:`HttpStore`: a key-value store over HTTP, configured by URL templates;
* :class:`HostStore`: ``HOST:PORT`` names resolved by the system resolver at every lookup.

:func:`store_from_spec` builds one from the text a command line takes.

Importing the package loads none of the stores: each name is loaded on first use (module
``__getattr__``), so a member that discovers nothing does not load ``dnspython``, ``urllib`` and
``http.client`` (about 6 MiB of resident memory).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swimcore.transports.discovery._base import DiscoveryError
    from swimcore.transports.discovery.dns_store import DnsStore
    from swimcore.transports.discovery.file import FileStore
    from swimcore.transports.discovery.hosts import HostStore
    from swimcore.transports.discovery.http_store import HttpStore
    from swimcore.transports.discovery.loop import DiscoveryStore
    from swimcore.transports.discovery.spec import store_from_spec
    from swimcore.transports.discovery.static import StaticStore

__all__ = [
    "DiscoveryError",
    "DiscoveryStore",
    "DnsStore",
    "FileStore",
    "HostStore",
    "HttpStore",
    "StaticStore",
    "store_from_spec",
]

# public name -> module under this package that defines it
_LAZY: dict[str, str] = {
    "DiscoveryError": "_base",
    "DiscoveryStore": "loop",
    "DnsStore": "dns_store",
    "FileStore": "file",
    "HostStore": "hosts",
    "HttpStore": "http_store",
    "StaticStore": "static",
    "store_from_spec": "spec",
}


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
