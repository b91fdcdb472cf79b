"""memberlist's AES-GCM envelope: a version byte, a 12-byte nonce, then ciphertext and tag.

Version 1 (spoken from protocol version 2 on) seals the plaintext as is; version 0 first pads it
to the AES block size with PKCS#7 and is accepted on input only.  Keys are 16, 24 or 32 bytes
(AES-128/192/256).  Packets are sealed with the cluster label as associated data; streams with
the 5-byte stream header (encrypt type byte and length) followed by the label.  AES-GCM comes
from the ``cryptography`` package (the ``crypto`` extra), imported only when used.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from swimcore.errors import AuthError, ConfigError

NONCE_SIZE = 12
TAG_SIZE = 16
BLOCK_SIZE = 16
#: Bytes version 1 adds to a message.
OVERHEAD = 1 + NONCE_SIZE + TAG_SIZE
KEY_SIZES = (16, 24, 32)
ENCRYPTION_VERSION = 1


class AuthFailed(AuthError):
    """No installed key opens the payload (wrong key, forged or damaged bytes)."""


def _aesgcm(key: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415
    except ImportError:
        raise ConfigError(
            "memberlist encryption needs the 'cryptography' package: pip install 'swimcore[crypto]'"
        ) from None
    if len(key) not in KEY_SIZES:
        raise ConfigError("an AES key must be 16, 24 or 32 bytes (AES-128, -192 or -256)")
    return AESGCM(key)


def encrypted_length(size: int, version: int = ENCRYPTION_VERSION) -> int:
    """Length of the sealed form of ``size`` plaintext bytes (memberlist's ``encryptedLength``)."""
    if version >= 1:
        return 1 + NONCE_SIZE + size + TAG_SIZE
    return 1 + NONCE_SIZE + size + (BLOCK_SIZE - size % BLOCK_SIZE) + TAG_SIZE


def seal(key: bytes, plain: bytes, aad: bytes, rng: random.Random, version: int = 1) -> bytes:
    """Encrypt ``plain`` under ``key`` with a nonce drawn from ``rng``."""
    nonce = rng.getrandbits(NONCE_SIZE * 8).to_bytes(NONCE_SIZE, "big")
    if version == 0:
        pad = BLOCK_SIZE - len(plain) % BLOCK_SIZE
        plain = plain + bytes((pad,)) * pad
    elif version != 1:
        raise ValueError(f"unknown encryption version {version}")
    sealed: bytes = _aesgcm(key).encrypt(nonce, plain, aad or None)
    return bytes((version,)) + nonce + sealed


def open_sealed(keys: Sequence[bytes], data: bytes, aad: bytes) -> bytes:
    """Decrypt ``data`` with the first of ``keys`` that authenticates it; :class:`AuthFailed`."""
    if not data:
        raise AuthFailed("cannot decrypt an empty payload")
    version = data[0]
    if version > 1:
        raise AuthFailed(f"unsupported encryption version {version}")
    if len(data) < encrypted_length(0, version):
        raise AuthFailed(f"payload too small to decrypt: {len(data)} bytes")
    nonce, sealed = data[1 : 1 + NONCE_SIZE], data[1 + NONCE_SIZE :]
    for key in keys:
        try:
            plain: bytes = _aesgcm(key).decrypt(nonce, sealed, aad or None)
        except ConfigError:
            raise
        except Exception:  # cryptography's InvalidTag: not this key, or forged
            continue
        if version == 0:
            pad = plain[-1] if plain else 0
            if not 1 <= pad <= BLOCK_SIZE or pad > len(plain):
                raise AuthFailed("bad PKCS#7 padding")
            plain = plain[:-pad]
        return plain
    raise AuthFailed("no installed key could decrypt the message")
