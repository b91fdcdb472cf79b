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


def compress(data: bytes) -> bytes:
    """Compress ``data`` exactly as Go's ``lzw.NewWriter(w, lzw.LSB, 8)`` followed by Close."""
    compressor = Compressor()
    compressor.feed(data)
    return compressor.finish()


class Compressor:
    """The same compression fed a piece at a time (a large message compressed in slices, so
    that no one step holds the protocol loop: pure-Python LZW costs about 0.2-0.35 us a byte).

    Pieces fed one after the other compress to the same bytes as their concatenation at once.
    """

    __slots__ = ("_bits", "_code", "_hi", "_nbits", "_out", "_overflow", "_table", "_width")

    def __init__(self) -> None:
        self._out = bytearray()
        self._table: dict[int, int] = {}
        self._width, self._hi, self._overflow = _LIT_WIDTH + 1, _EOF, 1 << (_LIT_WIDTH + 1)
        #: The code of the longest match so far (-1: nothing fed yet).
        self._code = -1
        # Codes are packed least significant bit first: ``_nbits`` bits wait in ``_bits``.
        self._bits, self._nbits = _CLEAR, self._width

    def feed(self, data: bytes) -> None:
        """Compress ``data``, the next piece of the message."""
        if not data:
            return
        out, table = self._out, self._table
        width, hi, overflow = self._width, self._hi, self._overflow
        bits, nbits, code = self._bits, self._nbits, self._code
        pieces = iter(data)
        if code < 0:
            code = next(pieces)
        for literal in pieces:
            key = (code << 8) | literal
            found = table.get(key)
            if found is not None:
                code = found
                continue
            bits |= code << nbits
            nbits += width
            while nbits >= 8:
                out.append(bits & 0xFF)
                bits >>= 8
                nbits -= 8
            code = literal
            # The next free code; the writer widens after handing out 2**width - 1 and clears
            # the table on reaching the last code.
            hi += 1
            if hi == overflow:
                width += 1
                overflow <<= 1
            if hi == _MAX_CODE:
                bits |= _CLEAR << nbits
                nbits += width
                width, hi, overflow = _LIT_WIDTH + 1, _EOF, 1 << (_LIT_WIDTH + 1)
                table.clear()
            else:
                table[key] = hi
        self._width, self._hi, self._overflow = width, hi, overflow
        self._bits, self._nbits, self._code = bits, nbits, code

    def finish(self) -> bytes:
        """The compressed message: what was fed, then the end code."""
        codes = [(_EOF, self._width)]
        if self._code >= 0:
            codes = [(self._code, self._width)]
            hi, width = self._hi + 1, self._width
            if hi == self._overflow:
                width += 1
            if hi == _MAX_CODE:
                codes.append((_CLEAR, width))
                width = _LIT_WIDTH + 1
            codes.append((_EOF, width))
        out, bits, nbits = bytearray(self._out), self._bits, self._nbits
        for code, width in codes:
            bits |= code << nbits
            nbits += width
        while nbits > 0:
            out.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8
        return bytes(out)


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
