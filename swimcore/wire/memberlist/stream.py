"""memberlist's stream (TCP) messages: push-pull state, the fallback ping, reliable user data.

A stream carries one message each way, with no length prefix of its own: its end follows from
the msgpack values it is made of.  Layers, outermost first::

    label        244 | length u8 | label                       when the label is not empty
    encrypt      10 | length u32 | version | nonce | ciphertext+tag
                 (associated data: the five bytes 10 | length, then the label)
    compress     9 | {Algo: 0, Buf: LZW(message)}             when compression is on
    message      6 | {Join, Nodes, UserStateLen} | Nodes rows | user state      push-pull
                 0 | ping      2 | ack      13 | {Error}      8 | {UserMsgLen} | payload

:func:`read_stream` parses a buffer and says whether the message in it is complete; a driver
reading a stream piece by piece uses :class:`~swimcore.wire.memberlist.framing.FrameReader`,
which keeps its place (re-parsing from the start on every piece would cost quadratic time).
:func:`open_stream` takes a whole message and leaves a push-pull's rows to decode on demand
(:class:`PushPullStream`), so that a node can decode a large one a slice at a time.
Everything malformed raises :class:`~swimcore.errors.DecodeError`; sizes are checked before
anything is allocated.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Mapping, Sequence

from swimcore.errors import DecodeError
from swimcore.wire.memberlist import bodies, lzw, packing
from swimcore.wire.memberlist.messages import (
    MlAck,
    MlErr,
    MlPing,
    MlPushNodeState,
    MlPushPull,
    MlStreamMessage,
    MlUserStream,
    MsgType,
)
from swimcore.wire.memberlist.packet import (
    LabelMismatch,
    compress_command,
    label_header,
    split_label,
)
from swimcore.wire.memberlist.security import AuthFailed, encrypted_length, open_sealed, seal

#: memberlist's limit on a push-pull payload (``maxPushStateBytes``).
MAX_STREAM_BYTES = 20 * 1024 * 1024
#: Rows one push-pull may announce.
MAX_NODES = 1024 * 1024

_U32 = struct.Struct(">I")


class NeedMore(Exception):
    """Internal: the message is not complete yet."""


# Encoding -----------------------------------------------------------------------------------


def encode_stream_message(message: MlStreamMessage) -> bytes:
    """The plain message (type byte and body) before compression and encryption."""
    if isinstance(message, MlPushPull):
        header = bodies.encode_header(
            [
                ("Nodes", len(message.nodes)),
                ("UserStateLen", len(message.user_state)),
                ("Join", message.join),
            ]
        )
        rows = b"".join(bodies.encode_fields(n) for n in message.nodes)
        return bytes((MsgType.PUSH_PULL,)) + header + rows + message.user_state
    if isinstance(message, MlUserStream):
        header = bodies.encode_header([("UserMsgLen", len(message.payload))])
        return bytes((MsgType.USER,)) + header + message.payload
    return bodies.encode_message(message)


class PushPullWriter:
    """A push-pull written a slice of rows at a time, each row the map
    :func:`bodies.encode_fields` writes for a :class:`MlPushNodeState` (same keys in the same
    order, same values): the same bytes as :func:`encode_stream` of the whole
    :class:`MlPushPull`, with the rows packed a slice per call of the C packer (one
    ``MlPushNodeState`` and one packing per row cost about 20 us a row) and compressed as they
    come (compressing 4 MB at once held a node's loop for seconds).

    :meth:`add` the ``count`` rows, then :meth:`finish` (once).
    """

    __slots__ = ("_added", "_compressor", "_count", "_keys", "_label", "_parts", "_rng", "_user")

    def __init__(
        self,
        join: bool,
        count: int,
        user_state: bytes,
        *,
        label: str = "",
        keys: Sequence[bytes] = (),
        compress: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        self._count, self._added, self._user = count, 0, user_state
        self._label, self._keys, self._rng = label, keys, rng
        self._compressor = lzw.Compressor() if compress else None
        self._parts: list[bytes] = []
        header = bodies.encode_header(
            [("Nodes", count), ("UserStateLen", len(user_state)), ("Join", join)]
        )
        self._put(bytes((MsgType.PUSH_PULL,)) + header)

    def _put(self, data: bytes) -> None:
        if self._compressor is not None:
            self._compressor.feed(data)
        else:
            self._parts.append(data)

    def add(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Write the next rows."""
        if rows:
            self._added += len(rows)
            self._put(concat_maps(rows))

    def finish(self) -> bytes:
        """Everything one side writes for the push-pull; ``ValueError`` unless exactly
        ``count`` rows were added."""
        if self._added != self._count:
            raise ValueError(f"a push-pull of {self._count} rows was given {self._added}")
        self._put(self._user)
        if self._compressor is not None:
            payload = bodies.encode_compress(self._compressor.finish())
        else:
            payload = b"".join(self._parts)
        return wrap_stream(payload, label=self._label, keys=self._keys, rng=self._rng)


def concat_maps(maps: Sequence[Mapping[str, object]]) -> bytes:
    """The msgpack maps of ``maps`` one after the other (packed as one array, whose header is
    cut off: 1, 3 or 5 bytes by its length)."""
    packed = packing.pack(maps)
    n = len(maps)
    return packed[1 if n < 16 else 3 if n <= 0xFFFF else 5 :]


def wrap_stream(
    payload: bytes,
    *,
    label: str = "",
    keys: Sequence[bytes] = (),
    compress: bool = False,
    rng: random.Random | None = None,
) -> bytes:
    """Compress (always, when on: memberlist does on streams), encrypt and label a message."""
    if compress:
        payload = compress_command(payload)
    if keys:
        if rng is None:
            raise ValueError("encryption needs a random source for nonces")
        header = bytes((MsgType.ENCRYPT,)) + _U32.pack(encrypted_length(len(payload)))
        payload = header + seal(keys[0], payload, header + label.encode(), rng)
    return label_header(label) + payload


def encode_stream(
    message: MlStreamMessage,
    *,
    label: str = "",
    keys: Sequence[bytes] = (),
    compress: bool = False,
    rng: random.Random | None = None,
) -> bytes:
    """Everything one side writes on a stream for ``message``."""
    return wrap_stream(
        encode_stream_message(message), label=label, keys=keys, compress=compress, rng=rng
    )


# Decoding -----------------------------------------------------------------------------------


def _need(buf: bytes, end: int) -> None:
    if len(buf) < end:
        raise NeedMore


def _parse_message(buf: bytes, pos: int, max_size: int) -> tuple[MlStreamMessage, int]:
    """One plain message starting at ``pos``; raises :class:`NeedMore` when it is incomplete."""
    _need(buf, pos + 1)
    kind = buf[pos]
    reader = packing.Reader(buf, pos + 1, limit=max_size)
    try:
        if kind == MsgType.PUSH_PULL:
            head = bodies.read_struct(reader, "push-pull header")
            count = head.int(b"Nodes")
            user_len = head.int(b"UserStateLen")
            if not 0 <= count <= MAX_NODES:
                raise DecodeError(f"push-pull announces {count} nodes")
            if not 0 <= user_len <= max_size:
                raise DecodeError(f"push-pull announces {user_len} bytes of user state")
            rows = tuple(bodies.decode_node_state(reader) for _ in range(count))
            end = reader.pos + user_len
            _need(buf, end)
            return MlPushPull(head.flag(b"Join"), rows, buf[reader.pos : end]), end
        if kind == MsgType.USER:
            size = bodies.read_struct(reader, "user message header").int(b"UserMsgLen")
            if not 0 <= size <= max_size:
                raise DecodeError(f"user message announces {size} bytes")
            end = reader.pos + size
            _need(buf, end)
            return MlUserStream(buf[reader.pos : end]), end
        if kind == MsgType.PING:
            f = bodies.read_struct(reader, "ping")
            ping = MlPing(
                f.uint(b"SeqNo", bodies.U32),
                f.text(b"Node"),
                f.raw(b"SourceAddr"),
                f.uint(b"SourcePort", bodies.U16),
                f.text(b"SourceNode"),
            )
            return ping, reader.pos
        if kind == MsgType.ACK:
            f = bodies.read_struct(reader, "ack")
            return MlAck(f.uint(b"SeqNo", bodies.U32), f.raw(b"Payload")), reader.pos
        if kind == MsgType.ERR:
            return MlErr(bodies.read_struct(reader, "err").text(b"Error")), reader.pos
    except packing.Truncated:
        raise NeedMore from None
    raise DecodeError(f"unexpected stream message type {kind}")


def _parse_plain(buf: bytes, pos: int, max_size: int) -> tuple[MlStreamMessage, int]:
    """A message that may be compressed, starting at ``pos``."""
    _need(buf, pos + 1)
    if buf[pos] != MsgType.COMPRESS:
        return _parse_message(buf, pos, max_size)
    reader = packing.Reader(buf, pos + 1, limit=max_size)
    try:
        value = reader.value()
    except packing.Truncated:
        raise NeedMore from None
    packed = bodies.compressed_buf(value)
    inner = lzw.decompress(packed, max_size)
    if inner[:1] in (bytes((MsgType.COMPRESS,)), bytes((MsgType.ENCRYPT,))):
        raise DecodeError("nested compression or encryption in a stream")
    message, _ = _complete(inner, 0, max_size)
    return message, reader.pos


def _complete(buf: bytes, pos: int, max_size: int) -> tuple[MlStreamMessage, int]:
    """Parse a message that must be whole (decrypted or decompressed bytes)."""
    try:
        return _parse_plain(buf, pos, max_size)
    except NeedMore:
        raise DecodeError("truncated stream message") from None


def _after_label(buf: bytes, label: str) -> int:
    """Where the message starts after the label header, once the label is ``label``."""
    pos = 0
    found = ""
    _need(buf, 1)
    if buf[0] == MsgType.HAS_LABEL:
        _need(buf, 2)
        size = buf[1]
        if size < 1:
            raise DecodeError("empty label header")
        _need(buf, 2 + size)
        try:
            found = buf[2 : 2 + size].decode()
        except UnicodeDecodeError:
            raise DecodeError("label is not UTF-8") from None
        pos = 2 + size
    if found != label:
        raise LabelMismatch(found)
    return pos


def read_stream(
    buf: bytes,
    *,
    label: str = "",
    keys: Sequence[bytes] = (),
    max_size: int = MAX_STREAM_BYTES,
) -> tuple[MlStreamMessage, int] | None:
    """The message at the start of ``buf`` and the bytes it took, or ``None`` while incomplete.

    Raises :class:`~swimcore.wire.memberlist.packet.LabelMismatch` for another cluster's
    stream, :class:`~swimcore.wire.memberlist.security.AuthFailed` when no key opens it (and
    for an unencrypted stream when encryption is on, or the reverse, as memberlist refuses
    those too), and :class:`DecodeError` for anything else that is wrong.
    """
    try:
        plain, pos, end = _envelope(buf, label, keys, max_size, exact=False)
        if plain is not None:
            message, _ = _complete(plain, 0, max_size)
            return message, end
        return _parse_plain(buf, pos, max_size)
    except NeedMore:
        if len(buf) >= max_size:
            raise DecodeError(f"stream message exceeds {max_size} bytes") from None
        return None


#: Largest reply :func:`read_error` looks into (an ``errResp`` is short: a large push-pull is
#: never decoded twice).
MAX_ERROR_STREAM = 2048


def error_stream(
    request: bytes, text: str, *, keys: Sequence[bytes] = (), rng: random.Random | None = None
) -> bytes | None:
    """memberlist's ``errResp`` answering ``request``, framed so that its sender can read it:
    under the request's label, encrypted (with ``keys[0]``) only when the request was and
    there is a key.  ``None`` when the request's label header is malformed (no answer)."""
    try:
        label, rest = split_label(request)
    except DecodeError:
        return None
    sealed = bool(keys) and rest[:1] == bytes((MsgType.ENCRYPT,))
    return encode_stream(MlErr(text), label=label, keys=keys if sealed else (), rng=rng)


def read_error(buf: bytes, *, keys: Sequence[bytes] = ()) -> str | None:
    """The text of an ``errResp`` reply, plain or sealed with one of ``keys``, under any label
    (it is only ever shown); ``None`` when ``buf`` is not one."""
    if len(buf) > MAX_ERROR_STREAM:
        return None
    try:
        label, rest = split_label(buf)
        kind = rest[:1]
        if kind not in (
            bytes((MsgType.ERR,)),
            bytes((MsgType.ENCRYPT,)),
            bytes((MsgType.COMPRESS,)),
        ):
            return None
        encrypted = kind == bytes((MsgType.ENCRYPT,))
        if encrypted and not keys:
            return None
        message = decode_stream(
            buf, label=label, keys=keys if encrypted else (), max_size=4 * MAX_ERROR_STREAM
        )
    except DecodeError:
        return None
    return message.error if isinstance(message, MlErr) else None


def decode_stream(
    buf: bytes, *, label: str = "", keys: Sequence[bytes] = (), max_size: int = MAX_STREAM_BYTES
) -> MlStreamMessage:
    """Decode a whole stream message; incomplete or trailing bytes are a :class:`DecodeError`."""
    result = read_stream(buf, label=label, keys=keys, max_size=max_size)
    if result is None:
        raise DecodeError("truncated stream message")
    message, used = result
    if used != len(buf):
        raise DecodeError("trailing bytes after the stream message")
    return message


#: Decompressed bytes a compressed push-pull keeps ready for its rows (made a piece at a time),
#: and what is decompressed at once to read its kind and header.
_READY = 64 * 1024
_HEAD_READY = 8 * 1024


class PushPullStream:
    """A push-pull whose rows are decoded on demand, from where the last :meth:`take` stopped.

    The header (row count, user state length, join flag) is checked when it is made; each
    :meth:`take` decodes the next rows from a cursor into the message.  A compressed message
    is decompressed along the way (``more``), about :data:`_READY` bytes ahead of the rows, so
    that neither step holds the caller for long.  A malformed row ends the reading:
    :meth:`take` returns the rows before it and sets :attr:`error`.
    """

    __slots__ = (
        "_exact",
        "_fed",
        "_more",
        "_reader",
        "_starved",
        "count",
        "error",
        "join",
        "left",
        "user_len",
    )

    def __init__(
        self,
        reader: packing.Reader,
        count: int,
        user_len: int,
        join: bool,
        *,
        exact: bool,
        more: lzw.Decompressor | None = None,
    ) -> None:
        self._reader = reader
        #: Whether the message must end with its user state (else bytes may follow, as in a
        #: decrypted or decompressed message, where the old decoder ignored them too).
        self._exact = exact
        #: The rest of a compressed message, and where the bytes fed to the reader end.
        self._more = more
        self._fed = len(reader.data)
        self._starved = False
        self.count = count
        self.left = count
        self.user_len = user_len
        self.join = join
        self.error: DecodeError | None = None

    @property
    def nbytes(self) -> int:
        """Bytes of the message held."""
        return len(self._reader.data) + (self._more.size if self._more is not None else 0)

    def _refill(self) -> None:
        """Decompress the next piece when few bytes are ready (or a row needs more)."""
        more = self._more
        if more is None or more.done:
            return
        if not self._starved and self._fed - self._reader.pos >= _READY:
            return
        more.run(_READY)
        self._reader.feed(bytes(more.out))
        self._fed += len(more.out)
        more.out.clear()
        self._starved = False

    def take(self, n: int) -> list[MlPushNodeState]:
        """The next (up to) ``n`` rows; fewer, and :attr:`error` set, at a malformed one.

        A compressed message may give fewer (none, even) while it is being decompressed.
        """
        rows: list[MlPushNodeState] = []
        if self.error is not None:
            return rows
        reader = self._reader
        try:
            self._refill()
            for _ in range(min(n, self.left)):
                try:
                    rows.append(bodies.decode_node_state(reader))
                except packing.Truncated:
                    if self._more is None or self._more.done:
                        raise
                    # The rest is still compressed: the row is read on from here next time.
                    self._starved = True
                    break
        except DecodeError as error:  # Truncated included once the message is whole
            self.error = error
        self.left -= len(rows)
        return rows

    def user_state(self) -> bytes:
        """The delegate's state after the last row (:class:`DecodeError` when malformed)."""
        if self.left or self.error is not None:
            raise DecodeError("rows left unread")
        more = self._more
        if more is not None:
            if not more.done:
                more.run()
                self._reader.feed(bytes(more.out))
                more.out.clear()
            state = self._reader.read_bytes(self.user_len)
            if len(state) != self.user_len:
                raise DecodeError("truncated stream message")
            return state  # bytes may follow a decompressed message
        data, start = self._reader.data, self._reader.pos
        end = start + self.user_len
        if end > len(data):
            raise DecodeError("truncated stream message")
        if self._exact and end != len(data):
            raise DecodeError("trailing bytes after the stream message")
        return data[start:end]


def open_stream(
    buf: bytes, *, label: str = "", keys: Sequence[bytes] = (), max_size: int = MAX_STREAM_BYTES
) -> MlStreamMessage | PushPullStream:
    """Like :func:`decode_stream`, but a push-pull's rows are left to decode on demand.

    Everything but the rows is checked at once: the label, the authentication (decryption),
    the decompression, the push-pull header and its announced sizes.
    """
    try:
        plain, pos, _ = _envelope(buf, label, keys, max_size, exact=True)
        if plain is not None:
            return _open_plain(plain, 0, max_size, False)
        return _open_plain(buf, pos, max_size, True)
    except NeedMore:
        raise DecodeError("truncated stream message") from None


def _open_plain(
    buf: bytes, pos: int, max_size: int, exact: bool
) -> MlStreamMessage | PushPullStream:
    """The message at ``pos`` of a whole buffer, possibly compressed (see :func:`open_stream`)."""
    _need(buf, pos + 1)
    kind = buf[pos]
    reader = packing.Reader(buf, pos + 1)
    if kind == MsgType.COMPRESS:
        value = reader.value()
        if exact and reader.pos != len(buf):
            raise DecodeError("trailing bytes after the stream message")
        more = lzw.Decompressor(bodies.compressed_buf(value), max_size)
        more.run(_HEAD_READY)  # enough for the kind and a push-pull's header
        first = bytes(more.out[:1])
        if first in (bytes((MsgType.COMPRESS,)), bytes((MsgType.ENCRYPT,))):
            raise DecodeError("nested compression or encryption in a stream")
        if first == bytes((MsgType.PUSH_PULL,)) and not more.done:
            start = bytes(more.out)
            more.out.clear()
            inner = packing.Reader(start, 1, limit=max_size)
            try:
                count, user_len, join = _push_pull_head(inner, max_size)
            except packing.Truncated:
                raise DecodeError("push-pull header too long") from None
            return PushPullStream(inner, count, user_len, join, exact=False, more=more)
        more.run()  # anything else (or a small push-pull) is decompressed whole
        return _open_plain(bytes(more.out), 0, max_size, False)
    if kind == MsgType.PUSH_PULL:
        count, user_len, join = _push_pull_head(reader, max_size)
        if count + user_len > len(buf) - reader.pos:  # every row takes a byte at least
            raise DecodeError("push-pull announces more than its bytes hold")
        return PushPullStream(reader, count, user_len, join, exact=exact)
    message, end = _parse_message(buf, pos, max_size)
    if exact and end != len(buf):
        raise DecodeError("trailing bytes after the stream message")
    return message


def _push_pull_head(reader: packing.Reader, max_size: int) -> tuple[int, int, bool]:
    """A push-pull header's row count, user state length and join flag, checked."""
    head = bodies.read_struct(reader, "push-pull header")
    count = head.int(b"Nodes")
    user_len = head.int(b"UserStateLen")
    if not 0 <= count <= MAX_NODES:
        raise DecodeError(f"push-pull announces {count} nodes")
    if not 0 <= user_len <= max_size:
        raise DecodeError(f"push-pull announces {user_len} bytes of user state")
    return count, user_len, head.flag(b"Join")


def _envelope(
    buf: bytes, label: str, keys: Sequence[bytes], max_size: int, *, exact: bool
) -> tuple[bytes | None, int, int]:
    """The stream's label and encryption: ``(plaintext, pos, end)`` of an encrypted message
    (``exact``: it must end the buffer), ``(None, pos, 0)`` with ``pos`` at a plain one.

    Raises :class:`AuthFailed` when one side encrypts and the other does not or the keys do not
    open it, :class:`DecodeError` when it is malformed, ``NeedMore`` when it is cut short.
    """
    pos = _after_label(buf, label)
    _need(buf, pos + 1)
    if buf[pos] != MsgType.ENCRYPT:
        if keys:
            raise AuthFailed(
                "encryption is configured but the stream is not encrypted", mismatch=True
            )
        return None, pos, 0
    if not keys:
        raise AuthFailed("stream is encrypted and encryption is not configured", mismatch=True)
    _need(buf, pos + 5)
    (size,) = _U32.unpack_from(buf, pos + 1)
    if size > max_size:
        raise DecodeError(f"encrypted stream of {size} bytes exceeds {max_size}")
    end = pos + 5 + size
    _need(buf, end)
    if exact and end != len(buf):
        raise DecodeError("trailing bytes after the stream message")
    aad = buf[pos : pos + 5] + label.encode()
    return open_sealed(keys, buf[pos + 5 : end], aad), pos, end
