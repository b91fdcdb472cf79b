"""Authenticated encryption of every packet and exchange: AES-GCM with a rotating keyring.

A sealed payload is ``version (1 byte) | nonce (12 bytes) | ciphertext and tag``, with the
cluster label as associated data, so a packet sealed for one group never opens in another.
The keyring holds one primary key, used to seal, and any number of other accepted keys, tried
when opening; keys rotate with no downtime: install the new key everywhere, make it primary
everywhere, then remove the old one.

AES-GCM comes from the ``cryptography`` package (the ``crypto`` extra), imported only when a
keyring is built; nonces come from the node's injected random source, so runs stay
deterministic in the simulator.
"""

from __future__ import annotations

import random
from typing import Any

from swimcore.errors import ConfigError, StateError

VERSION = 1
NONCE_SIZE = 12
TAG_SIZE = 16
OVERHEAD = 1 + NONCE_SIZE + TAG_SIZE
KEY_SIZES = (16, 24, 32)


def _aesgcm() -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415
    except ImportError:
        raise ConfigError(
            "encryption needs the 'cryptography' package: pip install 'swimcore[crypto]'"
        ) from None
    return AESGCM


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) not in KEY_SIZES:
        raise ConfigError("an AES key must be 16, 24 or 32 bytes (AES-128, -192 or -256)")
    return bytes(key)


class Keyring:
    """The keys a node seals with (``primary``) and accepts (``keys``, primary first)."""

    __slots__ = ("_aesgcm", "_ciphers", "_keys")

    def __init__(self, primary: bytes, *others: bytes) -> None:
        self._aesgcm = _aesgcm()
        self._keys: list[bytes] = []
        self._ciphers: dict[bytes, Any] = {}
        for key in (primary, *others):
            self.install(key)

    @property
    def primary(self) -> bytes:
        return self._keys[0]

    @property
    def keys(self) -> tuple[bytes, ...]:
        """Every accepted key, the primary first."""
        return tuple(self._keys)

    def install(self, key: bytes) -> None:
        """Accept ``key`` as well (it does not become primary)."""
        key = _check_key(key)
        if key not in self._ciphers:
            self._ciphers[key] = self._aesgcm(key)
            self._keys.append(key)

    def use(self, key: bytes) -> None:
        """Make an installed ``key`` the primary one."""
        key = _check_key(key)
        if key not in self._ciphers:
            raise StateError("install the key before making it primary")
        self._keys.remove(key)
        self._keys.insert(0, key)

    def remove(self, key: bytes) -> None:
        """Stop accepting ``key``; the primary key cannot be removed."""
        key = _check_key(key)
        if key == self._keys[0]:
            raise StateError("cannot remove the primary key: make another key primary first")
        if key in self._ciphers:
            del self._ciphers[key]
            self._keys.remove(key)

    def seal(self, data: bytes, label: str, rng: random.Random) -> bytes:
        """Encrypt and authenticate ``data`` under the primary key."""
        nonce = rng.getrandbits(NONCE_SIZE * 8).to_bytes(NONCE_SIZE, "big")
        sealed: bytes = self._ciphers[self._keys[0]].encrypt(nonce, data, label.encode())
        return bytes((VERSION,)) + nonce + sealed

    def open(self, data: bytes, label: str) -> bytes | None:
        """The plaintext of ``data``, or ``None`` when no accepted key authenticates it."""
        if len(data) < OVERHEAD or data[0] != VERSION:
            return None
        nonce, sealed, aad = data[1 : 1 + NONCE_SIZE], data[1 + NONCE_SIZE :], label.encode()
        for key in self._keys:
            try:
                plain: bytes = self._ciphers[key].decrypt(nonce, sealed, aad)
            except Exception:  # cryptography's InvalidTag: not this key, or forged
                continue
            return plain
        return None
