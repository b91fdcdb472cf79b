"""memberlist's msgpack values, on the ``msgpack`` package, with the bytes and the limits of Go's.

memberlist encodes with ``github.com/hashicorp/go-msgpack`` and a default ``MsgpackHandle``,
which writes the *old* MessagePack spec: strings and byte slices alike are "raw" (fixstr below
32 bytes, then str16/str32; never str8 and never the bin types), non-negative integers take the
smallest of positive fixnum, uint8, uint16, uint32 and uint64, negative ones the smallest signed
form, floats are float64, and structs are maps whose keys are the Go field names in the order
given (the callers sort them).  The ``msgpack`` package's packer with ``use_bin_type=False``
writes exactly these bytes (checked against the hand-written encoder it replaced, kept in
``tests/msgpack_reference.py``, and against the recorded Go captures).

The decoder reads what Go's does: also str8, bin8/16/32, signed integer forms and float32; raw
strings stay ``bytes`` (the schema decides what is text), map keys included.  It refuses what
the hand-written decoder refused, so decisions are unchanged: extension types (timestamps
included), map keys that are not UTF-8 raw strings, nesting deeper than :data:`MAX_DEPTH`, and
container or string lengths beyond the bytes the input can hold (or the caller's ``limit``, the
most a stream may carry), which are refused before anything is allocated.  Only
:class:`~swimcore.errors.DecodeError` is raised (or its subclass :class:`Truncated` when the input
ends inside a value, which stream readers use to wait for more bytes).

This module, and with it the ``msgpack`` package (the ``memberlist`` extra), is loaded only by
the memberlist wire profile: ``import swimcore`` and a native-wire node never load it.
"""

from __future__ import annotations

from collections.abc import Callable

import msgpack

from swimcore.errors import DecodeError

#: What a decoded value can be: raw strings, and map keys, stay bytes.
Value = None | bool | int | float | bytes | list["Value"] | dict[bytes, "Value"]

#: Deepest nesting accepted: the outermost value is at depth 0; nothing may sit deeper.
MAX_DEPTH = 8

#: The Go field names of every struct memberlist sends: a map keyed only by these, holding only
#: scalars (every message memberlist writes), needs no further check after decoding.
_FIELD_NAMES = frozenset(
    name.encode()
    for name in [
        "Addr",
        "Algo",
        "Buf",
        "DCur",
        "DMax",
        "DMin",
        "Error",
        "From",
        "Incarnation",
        "Join",
        "Meta",
        "Nack",
        "Name",
        "Node",
        "Nodes",
        "PCur",
        "PMax",
        "PMin",
        "Payload",
        "Port",
        "SeqNo",
        "SourceAddr",
        "SourceNode",
        "SourcePort",
        "State",
        "Target",
        "UserMsgLen",
        "UserStateLen",
        "Vsn",
    ]
)
_SCALARS = frozenset((type(None), bool, int, float, bytes))

#: Encodes a value as Go's codec does (a shared packer: ``pack`` returns fresh bytes each call).
pack: Callable[[object], bytes] = msgpack.Packer(use_bin_type=False).pack


class Truncated(DecodeError):
    """The input ended inside a value: a stream reader should wait for more bytes."""

    def __init__(self) -> None:
        super().__init__("truncated")


def _refuse_ext(code: int, data: bytes) -> object:
    raise ValueError(f"msgpack extension type {code} is not part of memberlist's wire")


def _check_deep(value: object, depth: int) -> None:
    """Refuse what the decoder must not return: see the module docstring (the slow path)."""
    if depth > MAX_DEPTH:
        raise DecodeError("msgpack nesting too deep")
    kind = type(value)
    if kind is list:
        for item in value:  # type: ignore[attr-defined]
            _check_deep(item, depth + 1)
    elif kind is dict:
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not bytes:
                raise DecodeError("msgpack map key is not a string")
            try:
                key.decode()
            except UnicodeDecodeError:
                raise DecodeError("msgpack map key is not UTF-8") from None
            _check_deep(item, depth + 1)
    elif kind not in _SCALARS:
        raise DecodeError(f"unsupported msgpack value {kind.__name__}")


def checked(value: object) -> Value:
    """``value`` as decoded, once it holds nothing the hand-written decoder refused."""
    kind = type(value)
    if kind is dict:
        # The common case, a flat struct of known fields, costs two set operations.
        if _FIELD_NAMES.issuperset(value) and _SCALARS.issuperset(  # type: ignore[arg-type]
            map(type, value.values())  # type: ignore[attr-defined]
        ):
            return value  # type: ignore[return-value]
    elif kind in _SCALARS:
        return value  # type: ignore[return-value]
    _check_deep(value, 0)
    return value  # type: ignore[return-value]


def _unpacker(bound: int) -> msgpack.Unpacker:
    bound = max(bound, 1)
    return msgpack.Unpacker(
        raw=True,
        strict_map_key=True,
        ext_hook=_refuse_ext,
        max_buffer_size=bound,
        read_size=min(bound, 16384),
        max_str_len=bound,
        max_bin_len=bound,
        max_array_len=bound,
        max_map_len=bound,
        max_ext_len=bound,
    )


#: Bytes of its input a :class:`Reader` hands the unpacker at a time: the unpacker keeps its own
#: copy of what it was given, so a large message is not held twice.
CHUNK = 64 * 1024


class Reader:
    """A cursor decoding one value after another from ``data`` (starting at ``pos``).

    Lengths are bounded by the larger of the bytes after ``pos`` and ``limit`` (a stream reader
    passes the most a message may hold, so that a value cut short waits for more bytes while a
    length no message could hold is refused at once).  The unpacker is given ``data`` a
    :data:`CHUNK` at a time, as values need it, so a large message is not copied whole;
    :attr:`pos` is where the next value starts (in ``data``, then in what :meth:`feed` added).
    """

    __slots__ = ("_next", "_start", "_unpacker", "data")

    def __init__(self, data: bytes, pos: int = 0, *, limit: int = 0) -> None:
        self.data = data
        self._start = pos
        self._next = pos  # the first byte of ``data`` not yet given to the unpacker
        self._unpacker = _unpacker(max(len(data) - pos, limit))

    def _give(self, everything: bool = False) -> bool:
        """Hand the unpacker the next chunk of ``data`` (or all of it); whether there was any."""
        start, size = self._next, len(self.data)
        if start >= size:
            return False
        end = size if everything else min(size, start + CHUNK)
        self._unpacker.feed(memoryview(self.data)[start:end])
        self._next = end
        return True

    @property
    def pos(self) -> int:
        """Where the next value starts in :attr:`data`."""
        return self._start + int(self._unpacker.tell())

    def feed(self, data: bytes) -> None:
        """Append bytes that follow those given so far (a stream decompressed piece by piece);
        a value that raised :class:`Truncated` is then read on from where it stopped."""
        self._give(everything=True)
        self._unpacker.feed(data)

    def read_bytes(self, n: int) -> bytes:
        """The next ``n`` raw bytes (fewer when the input ends first)."""
        self._give(everything=True)
        return bytes(self._unpacker.read_bytes(n))

    def value(self) -> Value:
        """Decode the next value."""
        unpack = self._unpacker.unpack
        while True:
            try:
                return checked(unpack())
            except msgpack.OutOfData:
                if not self._give():
                    raise Truncated from None
            except (ValueError, TypeError) as error:  # every other msgpack error is a ValueError
                raise DecodeError(f"malformed msgpack: {error}") from None


def decode_first(data: bytes) -> Value:
    """Decode the value at the start of ``data`` and ignore what follows it (as Go does)."""
    bound = len(data)
    try:
        value = msgpack.unpackb(
            data,
            raw=True,
            strict_map_key=True,
            ext_hook=_refuse_ext,
            max_str_len=bound,
            max_bin_len=bound,
            max_array_len=bound,
            max_map_len=bound,
            max_ext_len=bound,
        )
    except msgpack.ExtraData as extra:
        value = extra.unpacked
    except (ValueError, TypeError) as error:  # a value cut short included
        raise DecodeError(f"malformed msgpack: {error}") from None
    return checked(value)


def decode(data: bytes) -> Value:
    """Decode exactly one value that fills ``data``."""
    reader = Reader(data)
    value = reader.value()
    if reader.pos != len(data):
        raise DecodeError("trailing bytes after msgpack value")
    return value
