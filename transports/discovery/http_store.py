"""Join address in an HTTP key-value store, configured by URL templates.

zgroup's sample kept the join address in a web key-value service under the group's name; this
store talks to any such service.  ``get_url`` and ``put_url`` are templates: ``{prefix}`` and
``{group}`` make the key, ``{value}`` (put only) is the address, URL-quoted, for services that
take the value in the path.  Otherwise the address is the request body.  A GET answering 404
(or an empty body) means no join address yet.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from swimcore import Address, ConfigError
from swimcore.transports.discovery._base import DiscoveryError, parse_addresses

#: Largest answer read from the store.
MAX_RESPONSE = 64 * 1024
_SCHEMES = ("http", "https")


class HttpStore:
    """GET the join address from ``get_url``; PUT (or ``put_method``) it to ``put_url``.

    ``HttpStore("http://kv:8080/v1/{prefix}/{group}", group="blue")`` reads and writes one
    key; ``put_url=None`` uses ``get_url`` for both.  ``headers`` go with every request (an API
    key, for example).
    """

    def __init__(
        self,
        get_url: str,
        *,
        group: str,
        prefix: str = "swimcore",
        put_url: str | None = None,
        put_method: str = "PUT",
        headers: Mapping[str, str] | None = None,
        timeout: float = 2.0,
    ) -> None:
        self.group = group
        self.prefix = prefix
        self.get_url = self._fill(get_url, None)
        self._put_template = put_url if put_url is not None else get_url
        self._fill(self._put_template, Address("127.0.0.1", 1))  # checks the template now
        self.put_method = put_method.upper()
        self.headers = dict(headers or {})
        self.timeout = timeout

    def _fill(self, template: str, value: Address | None) -> str:
        quote = urllib.parse.quote
        try:
            url = template.format(
                prefix=quote(self.prefix, safe=""),
                group=quote(self.group, safe=""),
                value=quote(str(value), safe="") if value is not None else "",
            )
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"bad URL template {template!r}: use {{prefix}}, {{group}} and {{value}} ({exc})"
            ) from None
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in _SCHEMES:
            raise ConfigError(f"the store URL must be http:// or https://, got {url!r}")
        return url

    def lookup(self) -> list[Address]:
        request = urllib.request.Request(self.get_url, headers=self.headers, method="GET")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read(MAX_RESPONSE)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404:
                return []
            raise DiscoveryError(f"GET {self.get_url}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DiscoveryError(f"GET {self.get_url}: {exc}") from exc
        return parse_addresses(body.decode("utf-8", errors="replace"))

    def publish(self, address: Address) -> None:
        url = self._fill(self._put_template, address)
        data = None if "{value}" in self._put_template else f"{address}".encode()
        headers = dict(self.headers)
        if data is not None:
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        request = urllib.request.Request(url, data=data, headers=headers, method=self.put_method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read(MAX_RESPONSE)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise DiscoveryError(f"{self.put_method} {url}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DiscoveryError(f"{self.put_method} {url}: {exc}") from exc

    def __repr__(self) -> str:
        return f"HttpStore({self.get_url!r})"
