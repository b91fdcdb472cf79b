"""Framing of the reliable exchange on a byte stream (TCP), shared by every socket driver.

A request and its reply are each one frame: a 4-byte big-endian length, then that many bytes.
The length is checked against the node's ``max_exchange_bytes`` before anything is read, so a
hostile peer cannot make a driver allocate more than the configured bound.
"""

from __future__ import annotations

import struct

HEADER = struct.Struct(">I")
HEADER_SIZE = HEADER.size


class FrameError(Exception):
    """A frame header announced a length outside the accepted bound."""


def frame(payload: bytes) -> bytes:
    """``payload`` with its length prefix."""
    return HEADER.pack(len(payload)) + payload


def frame_length(header: bytes, limit: int) -> int:
    """The length a 4-byte ``header`` announces; :class:`FrameError` if over ``limit``."""
    (length,) = HEADER.unpack(header)
    if length > limit:
        raise FrameError(f"frame of {length} bytes exceeds the limit of {limit}")
    return int(length)
