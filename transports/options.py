"""How to run one member: every driver takes one :class:`MemberOptions`.

:class:`~swimcore.Config` says how the protocol behaves and is shared by a whole group;
:class:`MemberOptions` says where this one member binds, what it advertises, whom it joins and
how it leaves.  It is validated once, when built, with typed errors, so a driver's constructor
cannot fail halfway and ``swimcore run`` builds the same value from its command line.  Every
driver also takes these fields as keyword arguments, which build one::

    AsyncioMember(config, "127.0.0.1:0", seeds=["127.0.0.1:7946"])
    AsyncioMember(config, options=MemberOptions(bind="127.0.0.1:0", seeds=["127.0.0.1:7946"]))
"""

from __future__ import annotations

import ipaddress
import math
import random
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import attrs

from swimcore import Address, AddressError, Config, ConfigError, Keyring, MemberInfo
from swimcore._inputs import as_bytes, refuse_single_seed, require_callable

if TYPE_CHECKING:
    # Loaded when used (a host-name seed, a store): a member without discovery never needs
    # the discovery package (about 180 KiB resident with its loop and host resolver).
    from swimcore.transports.discovery.loop import DiscoveryOptions, DiscoveryStore

__all__ = ["MemberOptions", "MemberOverrides"]

_Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]
_LOOPBACK_ANY_PORT = Address.parse("127.0.0.1:0")


def _address(value: Address | str) -> Address:
    return value if isinstance(value, Address) else Address.parse(value)


def _optional_address(value: Address | str | None) -> Address | None:
    return None if value is None else _address(value)


def _seed(value: Address | str) -> Address | str:
    """An :class:`Address` for ``IP:PORT``, the text itself for ``HOST:PORT`` (resolved later)."""
    if isinstance(value, Address):
        return value
    if not isinstance(value, str):
        raise AddressError(f"a seed is IP:PORT or HOST:PORT text or an Address, got {value!r}")
    host, _port = _split(value)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return value.strip()
    return Address.parse(value.strip())


def _split(text: str) -> tuple[str, int]:
    from swimcore.transports.discovery.hosts import split_host_port  # noqa: PLC0415 (see above)

    try:
        return split_host_port(text)
    except ValueError as exc:
        raise AddressError(f"seed {text!r}: {exc}") from None


def _seeds(values: Iterable[Address | str]) -> tuple[Address | str, ...]:
    refuse_single_seed(values)
    return tuple(_seed(value) for value in values)


def _hook(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    require_callable(value, attribute.name, optional=True)


def _meta(value: object) -> bytes:
    return as_bytes(value, "meta")


def _timeout(name: str, *, zero_ok: bool) -> _Validator:
    def check(_instance: object, _attribute: object, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} is seconds (a number) or None, got {value!r}")
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
            limit = "0 or more" if zero_ok else "more than 0"
            raise ConfigError(f"{name} must be finite and {limit} seconds, got {value!r}")

    return check


def _bool(name: str) -> _Validator:
    def check(_instance: object, _attribute: object, value: object) -> None:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be True or False, got {value!r}")

    return check


@attrs.frozen(slots=True)
class MemberOptions:
    """Where one member binds and whom it joins; every field has a default.

    ``bind`` is ``"ip:port"`` (port 0 picks a free port for UDP and TCP alike); binding
    ``0.0.0.0`` or ``::`` needs ``advertise``, the address others reach this member at.
    ``seeds`` are join addresses, ``IP:PORT`` or ``HOST:PORT`` (a host name is resolved at every
    attempt and each of its addresses is tried, as memberlist's ``Join`` does); ``discovery`` is
    a store to find them in (and, when this member is leader and ``config.join_address_every``
    is set, to write its own address to), asked as ``discovery_options`` says.  ``name``
    defaults to the advertised address; ``meta`` is this member's metadata; ``incarnation``
    starts above what a previous life of the same name used.  ``seed`` makes the member's
    randomness reproducible (``None``: from the OS).  Closing the member leaves gracefully when
    ``leave_on_exit``, waiting at most ``leave_timeout`` for the news to spread (``None``: three
    protocol periods, at least 1 s); one TCP exchange may take ``exchange_timeout`` (``None``:
    five protocol periods, at least 2 s).  ``keyring`` seals every datagram and exchange
    (AES-GCM, see :class:`swimcore.Keyring`).  ``admit``, ``admit_merge``, ``local_state`` and
    ``merge_state`` are the application's hooks, handed to the :class:`~swimcore.Node` as they
    are (memberlist's alive, merge and state delegates: see :class:`~swimcore.Node`); on the
    thread driver they run on its protocol thread, so they must be quick and thread-safe.
    ``gc_freeze``: once the member has started, collect once and move every object then alive
    to the garbage collector's permanent generation (``gc.freeze()``; see
    ``swimcore.transports.gc_tuning``), so later collections no longer walk the program's
    and the member's long-lived objects; when the last such member of the process stops, the
    freeze is undone.  ``False`` leaves the collector alone (an application that manages
    ``gc`` itself).

    Raises :class:`~swimcore.AddressError` for an address that cannot be used and
    :class:`~swimcore.ConfigError` for any other bad value, naming the field.
    """

    bind: Address = attrs.field(default=_LOOPBACK_ANY_PORT, converter=_address)
    advertise: Address | None = attrs.field(default=None, converter=_optional_address)
    name: str | None = attrs.field(default=None)
    meta: bytes = attrs.field(default=b"", converter=_meta)
    seeds: tuple[Address | str, ...] = attrs.field(default=(), converter=_seeds)
    seed: int | random.Random | None = None
    incarnation: int = 0
    discovery: DiscoveryStore | None = None
    discovery_options: DiscoveryOptions | None = None
    leave_on_exit: bool = attrs.field(default=True, validator=_bool("leave_on_exit"))
    leave_timeout: float | None = attrs.field(
        default=None, validator=_timeout("leave_timeout", zero_ok=True)
    )
    exchange_timeout: float | None = attrs.field(
        default=None, validator=_timeout("exchange_timeout", zero_ok=False)
    )
    keyring: Keyring | None = None
    admit: Callable[[MemberInfo], bool] | None = attrs.field(default=None, validator=_hook)
    admit_merge: Callable[[Sequence[MemberInfo]], bool] | None = attrs.field(
        default=None, validator=_hook
    )
    local_state: Callable[[bool], bytes] | None = attrs.field(default=None, validator=_hook)
    merge_state: Callable[[bytes, bool], object] | None = attrs.field(default=None, validator=_hook)
    gc_freeze: bool = attrs.field(default=True, validator=_bool("gc_freeze"))

    def __attrs_post_init__(self) -> None:
        if self.advertise is None and self.bind.is_unspecified:
            raise AddressError(
                f"binding to {self.bind} needs advertise=: the address other members reach "
                "this node at (0.0.0.0 and :: are never advertised)"
            )
        if self.advertise is not None and self.advertise.is_unspecified:
            raise AddressError(f"cannot advertise {self.advertise}: give a routable address")
        for seed in self.addresses:
            if seed.port == 0 or seed.is_unspecified:
                raise AddressError(f"seed {seed}: give a member's address, not port 0 or {seed.ip}")
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise ConfigError(f"name must be a non-empty str or None, got {self.name!r}")
        if isinstance(self.incarnation, bool) or not isinstance(self.incarnation, int):
            raise ConfigError(f"incarnation must be an int, got {self.incarnation!r}")
        if self.host_names and self.discovery is not None:
            raise ConfigError(
                "give seeds as host names or a discovery store, not both (host names already "
                f"are one: {', '.join(self.host_names)})"
            )

    @property
    def addresses(self) -> tuple[Address, ...]:
        """The seeds given as ``IP:PORT``: joined at once, by the node itself."""
        return tuple(seed for seed in self.seeds if isinstance(seed, Address))

    @property
    def host_names(self) -> tuple[str, ...]:
        """The seeds given as ``HOST:PORT``: resolved at every attempt."""
        return tuple(seed for seed in self.seeds if isinstance(seed, str))

    def store(self) -> DiscoveryStore | None:
        """Where the member looks for seeds: ``discovery``, or the host-name seeds, or nothing."""
        if self.host_names:
            from swimcore.transports.discovery.hosts import HostStore  # noqa: PLC0415

            return HostStore(self.host_names)
        return self.discovery

    def discovery_settings(self, config: Config) -> DiscoveryOptions:
        """``discovery_options``, or by default the backoff ``config`` retries joins with."""
        if self.discovery_options is not None:
            return self.discovery_options
        from swimcore.transports.discovery.loop import DiscoveryOptions  # noqa: PLC0415

        return DiscoveryOptions(
            alone_initial=config.join_retry_interval, alone_max=8 * config.join_retry_interval
        )

    def leave_seconds(self, config: Config) -> float:
        """``leave_timeout``, or three protocol periods of ``config`` (at least 1 s)."""
        if self.leave_timeout is not None:
            return self.leave_timeout
        return max(1.0, 3 * config.probe_interval)

    def exchange_seconds(self, config: Config) -> float:
        """``exchange_timeout``, or five protocol periods of ``config`` (at least 2 s)."""
        if self.exchange_timeout is not None:
            return self.exchange_timeout
        return max(2.0, 5 * config.probe_interval)

    @classmethod
    def build(
        cls, options: MemberOptions | None, bind: Address | str | None, overrides: MemberOverrides
    ) -> MemberOptions:
        """What a driver's constructor was given: ``options`` with ``bind`` and ``overrides``."""
        changes: dict[str, object] = dict(overrides)
        if bind is not None:
            changes["bind"] = bind
        if options is None:
            return cls(**changes)  # type: ignore[arg-type]
        return attrs.evolve(options, **changes)  # type: ignore[arg-type]


class MemberOverrides(TypedDict, total=False):
    """The fields of :class:`MemberOptions` that drivers also take as keyword arguments."""

    advertise: Address | str | None
    name: str | None
    meta: bytes
    seeds: Iterable[Address | str]
    seed: int | random.Random | None
    incarnation: int
    discovery: DiscoveryStore | None
    discovery_options: DiscoveryOptions | None
    leave_on_exit: bool
    leave_timeout: float | None
    exchange_timeout: float | None
    keyring: Keyring | None
    admit: Callable[[MemberInfo], bool] | None
    admit_merge: Callable[[Sequence[MemberInfo]], bool] | None
    local_state: Callable[[bool], bytes] | None
    merge_state: Callable[[bytes, bool], object] | None
    gc_freeze: bool
