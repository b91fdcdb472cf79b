"""Building a node's wire profile: the one ``Config.wire`` names, its modules loaded then.

The memberlist profile (and the ``msgpack`` package under it) is imported only for a node that
speaks it, never with ``import swimcore``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from swimcore.address import Address
from swimcore.config import Config
from swimcore.keyring import Keyring
from swimcore.wire import PROFILES, Wire
from swimcore.wire.native.profile import NativeWire

__all__ = ["for_node"]


def _native(
    config: Config, name: str, address: Address, keyring: Keyring | None, rng: random.Random
) -> Wire:
    return NativeWire(config.label, keyring, rng)


def _memberlist(
    config: Config, name: str, address: Address, keyring: Keyring | None, rng: random.Random
) -> Wire:
    # Imported here: the memberlist wire (and the msgpack package under it) loads only for a
    # node that speaks it, never with ``import swimcore``.
    from swimcore.wire.memberlist.profile import MemberlistWire  # noqa: PLC0415

    return MemberlistWire(
        config,
        name,
        address,
        keyring=keyring,
        rng=rng,
        compress=config.wire == "memberlist+lzw",
    )


#: How each profile is built: name -> loader, which imports the profile's modules when called.
_LOADERS: dict[str, Callable[[Config, str, Address, Keyring | None, random.Random], Wire]] = {
    "native": _native,
    "memberlist": _memberlist,
    "memberlist+lzw": _memberlist,
}
assert tuple(_LOADERS) == PROFILES


def for_node(
    config: Config,
    name: str,
    address: Address,
    keyring: Keyring | None,
    rng: random.Random,
) -> Wire:
    """The profile ``config.wire`` names, for the node ``name`` at ``address``."""
    return _LOADERS[config.wire](config, name, address, keyring, rng)
