"""LZW as Go's ``compress/lzw`` writes and reads it with ``LSB`` order and 8-bit literals.

memberlist compresses with ``lzw.NewWriter(w, lzw.LSB, 8)``.  The code stream starts with a
clear code (256), literals are 0..255, 257 ends the stream, new codes start at 258, codes are
packed least significant bit first and grow from 9 to 12 bits.  The writer widens the code one
step *after* it hands out code 2**width - 1 and, on reaching code 4095, emits a clear code and
starts over; the reader mirrors that, so the output here is byte-identical to Go's.  Written
from the format's description and Go's documented behaviour.
"""

from __future__ import annotations

from swimcore.errors import DecodeError

_LIT_WIDTH = 8
_CLEAR = 1 << _LIT_WIDTH  # 256
_EOF = _CLEAR + 1  # 257
_MAX_CODE = (1 << 12) - 1  # 4095
_MAX_WIDTH = 12


class _BitWriter:
    __slots__ = ("bits", "nbits", "out")

    def __init__(self) -> None:
        self.out = bytearray()
        self.bits = 0
        self.nbits = 0

    def write(self, code: int, width: int) -> None:
        self.bits |= code << self.nbits
        self.nbits += width
        while self.nbits >= 8:
            self.out.append(self.bits & 0xFF)
            self.bits >>= 8
            self.nbits -= 8

    def finish(self) -> bytes:
        if self.nbits > 0:
            self.out.append(self.bits & 0xFF)
        return bytes(self.out)


def compress(data: bytes) -> bytes:
    """Compress ``data`` exactly as Go's ``lzw.NewWriter(w, lzw.LSB, 8)`` followed by Close."""
    out = _BitWriter()
    width, hi, overflow = _LIT_WIDTH + 1, _EOF, 1 << (_LIT_WIDTH + 1)
    table: dict[int, int] = {}

    def inc_hi() -> bool:
        """Advance the next free code; False when the table was full and has been cleared."""
        nonlocal width, hi, overflow
        hi += 1
        if hi == overflow:
            width += 1
            overflow <<= 1
        if hi == _MAX_CODE:
            out.write(_CLEAR, width)
            width, hi, overflow = _LIT_WIDTH + 1, _EOF, 1 << (_LIT_WIDTH + 1)
            table.clear()
            return False
        return True

    if not data:
        out.write(_CLEAR, width)
        out.write(_EOF, width)
        return out.finish()
    out.write(_CLEAR, width)
    code = data[0]
    for literal in data[1:]:
        key = (code << 8) | literal
        found = table.get(key)
        if found is not None:
            code = found
            continue
        out.write(code, width)
        code = literal
        if inc_hi():
            table[key] = hi
    out.write(code, width)
    inc_hi()
    out.write(_EOF, width)
    return out.finish()


def decompress(data: bytes, max_size: int) -> bytes:
    """Decompress a Go LZW stream; :class:`DecodeError` when malformed or beyond ``max_size``.

    As Go's reader does, the stream must end with the end code; bytes after it are ignored.
    """
    reader = Decompressor(data, max_size)
    reader.run()
    return bytes(reader.out)


class Decompressor:
    """The same decompression, a bounded amount at a time (a large stream in slices).

    :meth:`run` appends what it decodes to :attr:`out` (the caller may take bytes from its
    front) until :attr:`done`; :attr:`produced` counts every byte made, against ``max_size``.
    """

    __slots__ = (
        "_bits",
        "_data",
        "_entries",
        "_hi",
        "_last",
        "_max",
        "_nbits",
        "_overflow",
        "_pos",
        "_width",
        "done",
        "out",
        "produced",
    )

    def __init__(self, data: bytes, max_size: int) -> None:
        self._data = data
        self._max = max_size
        self.out = bytearray()
        self.produced = 0
        self.done = False
        self._entries: dict[int, bytes] = {}
        self._width, self._hi, self._overflow = _LIT_WIDTH + 1, _EOF, 1 << (_LIT_WIDTH + 1)
        self._last: bytes | None = None
        self._bits = self._nbits = self._pos = 0

    @property
    def size(self) -> int:
        """Bytes of the compressed stream."""
        return len(self._data)

    def run(self, until: int | None = None) -> bool:
        """Decode until :attr:`out` holds at least ``until`` bytes (``None``: to the end) or
        the stream ends; returns :attr:`done`.  Raises :class:`DecodeError` when malformed."""
        if self.done:
            return True
        data, out, entries, max_size = self._data, self.out, self._entries, self._max
        width, hi, overflow, last = self._width, self._hi, self._overflow, self._last
        bits, nbits, pos = self._bits, self._nbits, self._pos
        size = len(data)
        limit = -1 if until is None else until
        base = self.produced - len(out)  # bytes made before those in ``out``
        try:
            while limit < 0 or len(out) < limit:
                while nbits < width:
                    if pos >= size:
                        raise DecodeError("lzw stream ends without its end code")
                    bits |= data[pos] << nbits
                    pos += 1
                    nbits += 8
                code = bits & ((1 << width) - 1)
                bits >>= width
                nbits -= width
                if code < _CLEAR:
                    chunk = bytes((code,))
                elif code == _CLEAR:
                    width, hi, overflow = _LIT_WIDTH + 1, _EOF, 1 << (_LIT_WIDTH + 1)
                    entries.clear()
                    last = None
                    continue
                elif code == _EOF:
                    self.done = True
                    break
                elif code == hi and last is not None:
                    chunk = last + last[:1]
                elif code < hi and code in entries:
                    chunk = entries[code]
                else:
                    raise DecodeError(f"lzw: invalid code {code}")
                if last is not None:
                    entries[hi] = last + chunk[:1]
                out += chunk
                if base + len(out) > max_size:
                    raise DecodeError(f"lzw output exceeds {max_size} bytes")
                last = chunk
                hi += 1
                if hi >= overflow:
                    if width == _MAX_WIDTH:
                        last = None
                        hi -= 1
                    else:
                        width += 1
                        overflow <<= 1
        finally:
            self._width, self._hi, self._overflow, self._last = width, hi, overflow, last
            self._bits, self._nbits, self._pos = bits, nbits, pos
            self.produced = base + len(out)
        return self.done
