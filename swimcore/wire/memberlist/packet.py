"""memberlist datagrams: compound messages, compression, the CRC prefix, encryption, labels.

A datagram is built from the inside out, as memberlist sends it::

    command      one message (type byte + body), or a compound of several:
                 7 | count u8 | count x length u16 | the messages
    compress     9 | {Algo: 0, Buf: LZW(command)}     only when that is shorter
    crc          12 | CRC-32 (IEEE) of the rest u32 | rest      for peers of protocol 5
    encrypt      version | nonce | ciphertext+tag     with the label as associated data
    label        244 | length u8 | label                        when the label is not empty

Integers are big-endian.  Decoding strips the layers in the opposite order and flattens
compound and compressed commands into a list of messages.  It is stricter than memberlist: one
malformed part drops the whole datagram (memberlist skips just that part), so nothing of a
damaged datagram is ever applied.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Sequence

from swimcore.errors import DecodeError, LabelError
from swimcore.wire.memberlist import bodies, lzw
from swimcore.wire.memberlist.messages import MlMessage, MsgType
from swimcore.wire.memberlist.security import open_sealed, seal

MAX_LABEL_BYTES = 255
#: Messages one compound can hold (the count is one byte).
MAX_PARTS = 255
#: Nesting of compound and compress layers accepted on input.
MAX_NESTING = 4
#: Largest decompressed command accepted from a datagram.
MAX_DECOMPRESSED = 64 * 1024

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class LabelMismatch(LabelError):
    """The datagram or stream belongs to a cluster with another label (or none)."""


# Labels ---------------------------------------------------------------------------------------


def label_header(label: str) -> bytes:
    """The prefix a labelled cluster puts on every datagram and stream (empty: none)."""
    if not label:
        return b""
    raw = label.encode()
    if len(raw) > MAX_LABEL_BYTES:
        raise ValueError(f"label of {len(raw)} bytes exceeds {MAX_LABEL_BYTES}")
    return bytes((MsgType.HAS_LABEL, len(raw))) + raw


def split_label(data: bytes) -> tuple[str, bytes]:
    """The label of a datagram (``""`` when it has none) and the rest of it."""
    if not data or data[0] != MsgType.HAS_LABEL:
        return "", data
    if len(data) < 2:
        raise DecodeError("truncated label header")
    size = data[1]
    if size < 1:
        raise DecodeError("empty label header")
    if len(data) < 2 + size:
        raise DecodeError("truncated label header")
    try:
        label = data[2 : 2 + size].decode()
    except UnicodeDecodeError:
        raise DecodeError("label is not UTF-8") from None
    return label, data[2 + size :]


# Compound messages ----------------------------------------------------------------------------


def make_compound(parts: Sequence[bytes]) -> bytes:
    """Several encoded messages as one compound message."""
    if len(parts) > MAX_PARTS:
        raise ValueError(f"at most {MAX_PARTS} messages fit a compound, got {len(parts)}")
    lengths = b"".join(_U16.pack(len(p)) for p in parts)
    return bytes((MsgType.COMPOUND, len(parts))) + lengths + b"".join(parts)


def split_compound(body: bytes) -> list[bytes]:
    """The messages of a compound body (what follows its type byte)."""
    if not body:
        raise DecodeError("missing compound length byte")
    count = body[0]
    pos = 1 + 2 * count
    if len(body) < pos:
        raise DecodeError("truncated compound lengths")
    parts = []
    for i in range(count):
        (size,) = _U16.unpack_from(body, 1 + 2 * i)
        if pos + size > len(body):
            raise DecodeError("truncated compound message")
        parts.append(body[pos : pos + size])
        pos += size
    return parts


# Outgoing -------------------------------------------------------------------------------------


def compress_command(command: bytes) -> bytes:
    """The ``compress`` message wrapping ``command`` (Go's ``compressPayload``)."""
    return bodies.encode_compress(lzw.compress(command))


def add_crc(command: bytes) -> bytes:
    """Prefix the CRC-32 of ``command``, which peers of protocol version 5 check."""
    return bytes((MsgType.HAS_CRC,)) + _U32.pack(zlib.crc32(command)) + command


def wrap(
    command: bytes,
    *,
    label: str = "",
    keys: Sequence[bytes] = (),
    compress: bool = False,
    crc: bool = True,
    rng: random.Random | None = None,
) -> bytes:
    """Turn a command into a datagram: compress (if shorter), CRC, encrypt, label."""
    if compress:
        packed = compress_command(command)
        if len(packed) < len(command):
            command = packed
    if crc:
        command = add_crc(command)
    if keys:
        if rng is None:
            raise ValueError("encryption needs a random source for nonces")
        command = seal(keys[0], command, label.encode(), rng)
    return label_header(label) + command


def encode_datagram(
    messages: Sequence[MlMessage],
    *,
    label: str = "",
    keys: Sequence[bytes] = (),
    compress: bool = False,
    crc: bool = True,
    rng: random.Random | None = None,
) -> bytes:
    """One datagram carrying ``messages`` (a compound when there are several)."""
    if not messages:
        raise ValueError("a datagram carries at least one message")
    parts = [bodies.encode_message(m) for m in messages]
    command = parts[0] if len(parts) == 1 else make_compound(parts)
    return wrap(command, label=label, keys=keys, compress=compress, crc=crc, rng=rng)


# Incoming -------------------------------------------------------------------------------------


def unwrap(data: bytes, *, label: str = "", keys: Sequence[bytes] = ()) -> bytes:
    """Strip label, encryption and CRC from a datagram and return its command.

    Raises :class:`LabelMismatch` for another cluster's datagram,
    :class:`~swimcore.wire.memberlist.security.AuthFailed` when encryption is on and no key
    opens it, and :class:`DecodeError` for everything else that is wrong.
    """
    found, data = split_label(data)
    if found != label:
        raise LabelMismatch(found)
    if keys:
        data = open_sealed(keys, data, label.encode())
    if len(data) >= 5 and data[0] == MsgType.HAS_CRC:
        (expected,) = _U32.unpack_from(data, 1)
        data = data[5:]
        if zlib.crc32(data) != expected:
            raise DecodeError("bad CRC")
    if not data:
        raise DecodeError("empty datagram")
    return data


def decode_command(command: bytes, depth: int = 0) -> list[MlMessage]:
    """Every message in ``command``, compound and compressed layers flattened, in order."""
    out: list[MlMessage] = []
    _flatten(command, depth, out)
    return out


def _flatten(command: bytes, depth: int, out: list[MlMessage]) -> bool:
    """Append the messages in ``command`` to ``out``; whether a compound layer was seen."""
    if depth > MAX_NESTING:
        raise DecodeError("compound or compressed messages nested too deep")
    if not command:
        raise DecodeError("empty message")
    kind, body = command[0], command[1:]
    if kind == MsgType.COMPOUND:
        for part in split_compound(body):
            _flatten(part, depth + 1, out)
        return True
    if kind == MsgType.COMPRESS:
        inner = lzw.decompress(bodies.decode_compress(body), MAX_DECOMPRESSED)
        return _flatten(inner, depth + 1, out)
    out.append(bodies.decode_body(kind, body))
    return False


def decode_datagram(data: bytes, *, label: str = "", keys: Sequence[bytes] = ()) -> list[MlMessage]:
    """Every message a datagram carries; raises only :class:`DecodeError` (and subclasses)."""
    return decode_command(unwrap(data, label=label, keys=keys))


def decode_datagram_parts(
    data: bytes, *, label: str = "", keys: Sequence[bytes] = ()
) -> tuple[list[MlMessage], bool]:
    """Every message a datagram carries, and whether they came in a compound message.

    memberlist sends a best-effort user message alone and broadcasts in compounds: the shape
    is what tells one from the other.
    """
    out: list[MlMessage] = []
    compound = _flatten(unwrap(data, label=label, keys=keys), 0, out)
    return out, compound
