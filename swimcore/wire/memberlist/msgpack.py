"""The subset of MessagePack that memberlist speaks, encoded exactly as Go's codec encodes it.

memberlist encodes with ``github.com/hashicorp/go-msgpack`` and a default ``MsgpackHandle``,
which writes the *old* MessagePack spec: strings and byte slices alike are "raw" (fixstr below
32 bytes, then str16/str32; never str8 and never the bin types), unsigned and non-negative
integers take the smallest of positive fixnum, uint8, uint16, uint32 and uint64, and structs are
maps whose keys are the Go field names in sorted order (omitempty fields left out when zero).
A nil slice is encoded as nil, an empty one as a zero-length raw.

The decoder is more lenient than the encoder, as Go's is: it also reads str8, bin8/16/32 and
signed integer forms.  It raises only :class:`~swimcore.errors.DecodeError` (or its subclass
:class:`Truncated` when the input ends inside a value, which stream readers use to wait for more
bytes).  Nesting depth and container sizes are bounded before anything is allocated.
"""

from __future__ import annotations

import struct

from swimcore.errors import DecodeError

#: What a decoded value can be: raw strings stay bytes (the schema decides what is text).
Value = None | bool | int | float | bytes | list["Value"] | dict[str, "Value"]

MAX_DEPTH = 8

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")


class Truncated(DecodeError):
    """The input ended inside a value: a stream reader should wait for more bytes."""

    def __init__(self) -> None:
        super().__init__("truncated")


# Encoding -----------------------------------------------------------------------------------


def encode_uint(value: int) -> bytes:
    """A non-negative integer in the smallest form Go's codec picks."""
    if value < 0:
        raise ValueError(f"not an unsigned integer: {value}")
    if value <= 0x7F:
        return bytes((value,))
    if value <= 0xFF:
        return bytes((0xCC, value))
    if value <= 0xFFFF:
        return b"\xcd" + _U16.pack(value)
    if value <= 0xFFFFFFFF:
        return b"\xce" + _U32.pack(value)
    if value <= 0xFFFFFFFFFFFFFFFF:
        return b"\xcf" + _U64.pack(value)
    raise ValueError(f"integer does not fit 64 bits: {value}")


def encode_int(value: int) -> bytes:
    """A signed integer: non-negative ones as unsigned (as Go's codec does), negative signed."""
    if value >= 0:
        return encode_uint(value)
    if value >= -32:
        return bytes((value & 0xFF,))
    if value >= -(2**7):
        return b"\xd0" + struct.pack(">b", value)
    if value >= -(2**15):
        return b"\xd1" + struct.pack(">h", value)
    if value >= -(2**31):
        return b"\xd2" + struct.pack(">i", value)
    if value >= -(2**63):
        return b"\xd3" + struct.pack(">q", value)
    raise ValueError(f"integer does not fit 64 bits: {value}")


def encode_raw(data: bytes) -> bytes:
    """A string or byte slice as an old-spec raw: fixstr, str16 or str32 (never str8 or bin)."""
    n = len(data)
    if n < 32:
        return bytes((0xA0 | n,)) + data
    if n < 65536:
        return b"\xda" + _U16.pack(n) + data
    if n <= 0xFFFFFFFF:
        return b"\xdb" + _U32.pack(n) + data
    raise ValueError(f"raw of {n} bytes is too long")


def _container(n: int, fix: int, b16: int, b32: int) -> bytes:
    if n < 16:
        return bytes((fix | n,))
    if n < 65536:
        return bytes((b16,)) + _U16.pack(n)
    return bytes((b32,)) + _U32.pack(n)


def encode_map_header(n: int) -> bytes:
    """The prefix of a map of ``n`` pairs."""
    return _container(n, 0x80, 0xDE, 0xDF)


def encode_array_header(n: int) -> bytes:
    """The prefix of an array of ``n`` values."""
    return _container(n, 0x90, 0xDC, 0xDD)


def encode(value: Value | str) -> bytes:
    """Encode a plain value (``str`` is written as UTF-8 raw, like Go strings)."""
    if value is None:
        return b"\xc0"
    if value is True:
        return b"\xc3"
    if value is False:
        return b"\xc2"
    if isinstance(value, int):
        return encode_int(value)
    if isinstance(value, float):
        return b"\xcb" + _F64.pack(value)
    if isinstance(value, str):
        return encode_raw(value.encode())
    if isinstance(value, bytes):
        return encode_raw(value)
    if isinstance(value, list):
        return encode_array_header(len(value)) + b"".join(encode(v) for v in value)
    if isinstance(value, dict):
        return encode_map_header(len(value)) + b"".join(
            encode_raw(k.encode()) + encode(v) for k, v in value.items()
        )
    raise TypeError(f"cannot encode {type(value).__name__}")


# Decoding -----------------------------------------------------------------------------------


class Reader:
    """A cursor decoding one value after another from ``data`` (starting at ``pos``)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise Truncated
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            raise Truncated
        value = self.data[self.pos]
        self.pos += 1
        return value

    def _len(self, size: int) -> int:
        raw = self._take(size)
        return raw[0] if size == 1 else int.from_bytes(raw, "big")

    def _count(self, n: int) -> int:
        # Every element takes at least one byte: a count beyond what is left is a lie, or the
        # rest has not arrived yet.
        if n > len(self.data) - self.pos:
            raise Truncated
        return n

    def value(self, depth: int = 0) -> Value:
        """Decode the next value."""
        if depth > MAX_DEPTH:
            raise DecodeError("msgpack nesting too deep")
        data, pos = self.data, self.pos
        if pos >= len(data):
            raise Truncated
        b = data[pos]
        pos += 1
        self.pos = pos
        # The forms memberlist's messages are made of, first.
        if b <= 0x7F:
            return b
        if 0xA0 <= b <= 0xBF:
            end = pos + (b & 0x1F)
            if end > len(data):
                raise Truncated
            self.pos = end
            return data[pos:end]
        if 0x80 <= b <= 0x8F:
            return self._map(b & 0x0F, depth)
        if b == 0xC0:
            return None
        if b == 0xC2:
            return False
        if b == 0xC3:
            return True
        if b >= 0xE0:
            return b - 0x100
        if 0x90 <= b <= 0x9F:
            return self._array(b & 0x0F, depth)
        if b in (0xCC, 0xCD, 0xCE, 0xCF):
            return int.from_bytes(self._take(1 << (b - 0xCC)), "big")
        if b in (0xD0, 0xD1, 0xD2, 0xD3):
            return int.from_bytes(self._take(1 << (b - 0xD0)), "big", signed=True)
        if b in (0xD9, 0xC4):  # str8, bin8
            return self._take(self._len(1))
        if b in (0xDA, 0xC5):  # str16, bin16
            return self._take(self._len(2))
        if b in (0xDB, 0xC6):  # str32, bin32
            return self._take(self._len(4))
        if b == 0xDC:
            return self._array(self._len(2), depth)
        if b == 0xDD:
            return self._array(self._len(4), depth)
        if b == 0xDE:
            return self._map(self._len(2), depth)
        if b == 0xDF:
            return self._map(self._len(4), depth)
        if b == 0xCA:
            return float(_F32.unpack(self._take(4))[0])
        if b == 0xCB:
            return float(_F64.unpack(self._take(8))[0])
        raise DecodeError(f"unsupported msgpack type byte 0x{b:02x}")

    def _array(self, n: int, depth: int) -> list[Value]:
        return [self.value(depth + 1) for _ in range(self._count(n))]

    def _map(self, n: int, depth: int) -> dict[str, Value]:
        out: dict[str, Value] = {}
        data = self.data
        for _ in range(self._count(n)):
            pos = self.pos
            if pos < len(data) and 0xA0 <= data[pos] <= 0xBF:  # the usual short key
                end = pos + 1 + (data[pos] & 0x1F)
                if end > len(data):
                    raise Truncated
                self.pos = end
                key: Value = data[pos + 1 : end]
            else:
                key = self.value(depth + 1)
            if not isinstance(key, bytes):
                raise DecodeError("msgpack map key is not a string")
            try:
                name = key.decode()
            except UnicodeDecodeError:
                raise DecodeError("msgpack map key is not UTF-8") from None
            out[name] = self.value(depth + 1)
        return out


def decode(data: bytes) -> Value:
    """Decode exactly one value that fills ``data``."""
    reader = Reader(data)
    value = reader.value()
    if reader.pos != len(data):
        raise DecodeError("trailing bytes after msgpack value")
    return value
