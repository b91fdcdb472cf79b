"""Network addresses of members: parsing, formatting and the leader ordering."""

from __future__ import annotations

import ipaddress
import struct

import attrs

from swimcore.errors import AddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_PORT = struct.Struct(">H")


def _to_ip(value: object) -> IPAddress:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value  # already parsed (the decoder's hot path): do not format and re-parse
    try:
        return ipaddress.ip_address(value)  # type: ignore[arg-type]
    except ValueError:
        raise AddressError(f"{value!r} is not an IP address") from None


def _check_port(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise AddressError(f"port must be an integer within 0..65535, got {value!r}")


@attrs.frozen(slots=True, eq=False, order=False)
class Address:
    """An IP address and a UDP/TCP port.

    Only literal IPv4 or IPv6 addresses are accepted: a member advertises where it can be reached,
    so names must be resolved before they get here.  Addresses compare and hash by one packed
    key made when the address is (an ``ipaddress`` object formats itself as text to hash, and
    nodes compare addresses for every update they hear).
    """

    ip: IPAddress = attrs.field(converter=_to_ip)
    port: int = attrs.field(validator=_check_port)
    #: Family, packed IP and port: equal addresses, equal keys.
    _key: bytes = attrs.field(init=False, repr=False)
    _rank: tuple[int, int, int] = attrs.field(init=False, repr=False)
    #: True for ``0.0.0.0`` and ``::``, which must never be advertised.  (Kept, not computed
    #: on demand: a node asks it of every alive update it applies.)
    is_unspecified: bool = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        ip = self.ip
        number = int(ip)
        object.__setattr__(self, "_key", bytes((ip.version,)) + ip.packed + _PORT.pack(self.port))
        object.__setattr__(self, "_rank", (ip.version, number, self.port))
        object.__setattr__(self, "is_unspecified", number == 0)

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if other.__class__ is not Address:
            return NotImplemented
        return self._key == other._key

    def __ne__(self, other: object) -> bool:
        if self is other:
            return False
        if other.__class__ is not Address:
            return NotImplemented
        return self._key != other._key

    def __hash__(self) -> int:
        return hash(self._key)

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

    def leader_key(self) -> tuple[int, int, int]:
        """Sort key for the join-address rule: IP as a big-endian integer, then port.

        IPv6 addresses rank above IPv4 ones; within a family, ``10.0.1.1`` beats ``10.0.0.2``
        (zgroup compared little-endian and got this wrong).
        """
        return self._rank

    def __str__(self) -> str:
        if self.ip.version == 6:
            return f"[{self.ip}]:{self.port}"
        return f"{self.ip}:{self.port}"
