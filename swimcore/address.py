"""Network addresses of members: parsing, formatting and the leader ordering."""

from __future__ import annotations

import ipaddress

import attrs

from swimcore.errors import AddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _to_ip(value: object) -> IPAddress:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value  # already parsed (the decoder's hot path): do not format and re-parse
    try:
        return ipaddress.ip_address(value)  # type: ignore[arg-type]
    except ValueError:
        raise AddressError(f"{value!r} is not an IP address") from None


def _check_port(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 65535:
        raise AddressError(f"port must be within 0..65535, got {value}")


@attrs.frozen(slots=True, order=False)
class Address:
    """An IP address and a UDP/TCP port.

    Only literal IPv4 or IPv6 addresses are accepted: a member advertises where it can be reached,
    so names must be resolved before they get here.
    """

    ip: IPAddress = attrs.field(converter=_to_ip)
    port: int = attrs.field(validator=_check_port)

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse ``"1.2.3.4:7946"`` or ``"[::1]:7946"``.

        Raises :class:`AddressError` with the reason when the text is not such an address.
        """
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise AddressError(f"expected IP:PORT or [IPv6]:PORT, got {text!r}")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        elif ":" in host:
            raise AddressError(f"put an IPv6 address in brackets, as [{host}]:{port_text}")
        try:
            port = int(port_text)
        except ValueError:
            raise AddressError(f"port {port_text!r} in {text!r} is not a number") from None
        try:
            return cls(host, port)
        except ValueError as exc:
            if isinstance(exc, AddressError):
                raise
            raise AddressError(f"{host!r} in {text!r} is not an IP address") from None

    @property
    def is_unspecified(self) -> bool:
        """True for ``0.0.0.0`` and ``::``, which must never be advertised."""
        return self.ip.is_unspecified

    def leader_key(self) -> tuple[int, int, int]:
        """Sort key for the join-address rule: IP as a big-endian integer, then port.

        IPv6 addresses rank above IPv4 ones; within a family, ``10.0.1.1`` beats ``10.0.0.2``
        (zgroup compared little-endian and got this wrong).
        """
        return (self.ip.version, int(self.ip), self.port)

    def __str__(self) -> str:
        if self.ip.version == 6:
            return f"[{self.ip}]:{self.port}"
        return f"{self.ip}:{self.port}"
