"""Where one memberlist stream message ends, found in time linear in its size.

memberlist's stream messages carry no length prefix: a reader finds the end by walking the
msgpack values.  Re-parsing the whole buffer each time a piece arrives costs time quadratic in
the message (1.35 MB in 4 KiB pieces took 20 s of CPU), so :class:`FrameReader` keeps its place
between pieces: it walks each push-pull row once, and the end of an encrypted, compressed or
user message follows from its header alone.

Framing only delimits; it neither decrypts nor validates rows (the node decodes the whole
message once, and counts what fails, an authentication failure included).  The grammar walked
is the one memberlist writes: flat maps of scalars and raw strings, so one row costs O(1) to
re-walk however the bytes are cut.
"""

from __future__ import annotations

import contextlib

from swimcore.errors import DecodeError
from swimcore.wire.memberlist import bodies, packing
from swimcore.wire.memberlist.messages import MsgType

#: Entries a map in a stream message may have (memberlist's have at most seven).
MAX_FIELDS = 32
#: A message header (the map after the type byte) must fit this many bytes.
MAX_HEADER = 4096


class _More(Exception):
    """Internal: the bytes end before the value does."""


def _raw_len(buf: bytearray, pos: int, b: int) -> tuple[int, int]:
    """(length, header size) of a raw/bin value whose type byte ``b`` is at ``pos``."""
    if 0xA0 <= b <= 0xBF:
        return b & 0x1F, 1
    size = {0xD9: 1, 0xC4: 1, 0xDA: 2, 0xC5: 2, 0xDB: 4, 0xC6: 4}[b]
    if pos + 1 + size > len(buf):
        raise _More
    return int.from_bytes(buf[pos + 1 : pos + 1 + size], "big"), 1 + size


_FIXED = {0xC0: 1, 0xC2: 1, 0xC3: 1, 0xCA: 5, 0xCB: 9, 0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9}
_FIXED.update({0xD0: 2, 0xD1: 3, 0xD2: 5, 0xD3: 9})
_RAWS = frozenset((0xD9, 0xC4, 0xDA, 0xC5, 0xDB, 0xC6))


def _skip_scalar(buf: bytearray, pos: int) -> int:
    """The end of the scalar or raw value at ``pos`` (containers are refused)."""
    if pos >= len(buf):
        raise _More
    b = buf[pos]
    if b <= 0x7F or b >= 0xE0:
        return pos + 1
    if 0xA0 <= b <= 0xBF or b in _RAWS:
        size, head = _raw_len(buf, pos, b)
        return pos + head + size
    fixed = _FIXED.get(b)
    if fixed is None:
        raise DecodeError(f"unexpected msgpack type 0x{b:02x} in a stream message")
    return pos + fixed


def skip_flat_map(buf: bytearray, pos: int) -> int:
    """The end of the map of scalars at ``pos``; raises :class:`_More` while incomplete."""
    if pos >= len(buf):
        raise _More
    b = buf[pos]
    if 0x80 <= b <= 0x8F:
        count, pos = b & 0x0F, pos + 1
    elif b == 0xDE:
        if pos + 3 > len(buf):
            raise _More
        count, pos = int.from_bytes(buf[pos + 1 : pos + 3], "big"), pos + 3
    else:
        raise DecodeError(f"expected a map, found msgpack type 0x{b:02x}")
    if count > MAX_FIELDS:
        raise DecodeError(f"map of {count} entries in a stream message")
    for _ in range(2 * count):
        pos = _skip_scalar(buf, pos)
    if pos > len(buf):
        raise _More
    return pos


class FrameReader:
    """Feed a stream's bytes as they arrive; :meth:`feed` returns the whole message once there.

    ``limit`` bounds the message's bytes and ``max_rows`` the rows a push-pull may announce;
    beyond either, or for bytes that cannot start a memberlist message, :meth:`feed` raises
    :class:`DecodeError`.  A message under another cluster's label is read like any other (within
    the same bounds), so that the node can refuse it and tell its sender why.
    """

    __slots__ = ("_buf", "_end", "_label", "_limit", "_max_rows", "_pos", "_rows_left", "_user")

    def __init__(self, *, label: str, limit: int, max_rows: int) -> None:
        self._buf = bytearray()
        self._label = label  # the member's own (every label is framed alike: see above)
        self._limit = limit
        self._max_rows = max_rows
        self._end: int | None = None
        #: Push-pull rows: where the next row starts, how many are left, user state bytes.
        self._pos = -1
        self._rows_left = 0
        self._user = 0

    def feed(self, data: bytes) -> bytes | None:
        """Add ``data``; the whole message (its bytes from the start) once complete."""
        self._buf += data
        if self._end is None:
            with contextlib.suppress(_More):
                self._end = self._find_end()
            if self._end is not None and self._end > self._limit:
                raise DecodeError(f"stream message of {self._end} bytes exceeds {self._limit}")
        if self._end is not None and len(self._buf) >= self._end:
            return bytes(self._buf[: self._end])
        if len(self._buf) >= self._limit:
            raise DecodeError(f"stream message exceeds {self._limit} bytes")
        return None

    # --------------------------------------------------------------------------------

    def _find_end(self) -> int:
        if self._pos >= 0:
            return self._rows()
        buf = self._buf
        pos = self._after_label()
        if pos >= len(buf):
            raise _More
        kind = buf[pos]
        if kind == MsgType.ENCRYPT:
            if pos + 5 > len(buf):
                raise _More
            return pos + 5 + int.from_bytes(buf[pos + 1 : pos + 5], "big")
        if kind in (MsgType.COMPRESS, MsgType.PING, MsgType.ACK, MsgType.ERR):
            return skip_flat_map(buf, pos + 1)
        if kind == MsgType.USER:
            fields, end = self._header(pos + 1, "user message header")
            size = fields.int(b"UserMsgLen")
            if not 0 <= size <= self._limit:
                raise DecodeError(f"user message announces {size} bytes")
            return end + size
        if kind == MsgType.PUSH_PULL:
            fields, end = self._header(pos + 1, "push-pull header")
            count, user = fields.int(b"Nodes"), fields.int(b"UserStateLen")
            if not 0 <= count <= self._max_rows:
                raise DecodeError(f"push-pull announces {count} nodes (at most {self._max_rows})")
            if not 0 <= user <= self._limit:
                raise DecodeError(f"push-pull announces {user} bytes of user state")
            self._pos, self._rows_left, self._user = end, count, user
            return self._rows()
        raise DecodeError(f"unexpected stream message type {kind}")

    def _after_label(self) -> int:
        buf = self._buf
        if not buf:
            raise _More
        pos = 0
        if buf[0] == MsgType.HAS_LABEL:  # any label: the node checks it, and refuses with a reason
            if len(buf) < 2:
                raise _More
            size = buf[1]
            if size < 1:
                raise DecodeError("empty label header")
            if len(buf) < 2 + size:
                raise _More
            try:
                bytes(buf[2 : 2 + size]).decode()
            except UnicodeDecodeError:
                raise DecodeError("label is not UTF-8") from None
            pos = 2 + size
        return pos

    def _header(self, pos: int, what: str) -> tuple[bodies.Fields, int]:
        end = skip_flat_map(self._buf, pos)
        if end - pos > MAX_HEADER:
            raise DecodeError(f"{what} of {end - pos} bytes")
        try:
            return bodies.read_struct(packing.Reader(bytes(self._buf[pos:end])), what), end
        except packing.Truncated:
            raise DecodeError(f"malformed {what}") from None

    def _rows(self) -> int:
        buf, pos = self._buf, self._pos
        try:
            while self._rows_left:
                pos = skip_flat_map(buf, pos)
                self._rows_left -= 1
                self._pos = pos
        except _More:
            self._pos = pos
            raise
        return pos + self._user
