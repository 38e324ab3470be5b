"""The pipe between the ingest and a stream's packager: framed, so that one packager process can
take the sessions of a stream one after the other (an encoder reconnecting) and learn whether the
stream ended or only its encoder dropped.

A frame is one kind byte, then for DATA a 4-byte big-endian length and that many bytes of FLV.
A session is SESSION_START, DATA..., SESSION_END; STREAM_END ends the stream.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import BinaryIO

MAX_DATA = 16 * 1024 * 1024  # far above any FLV tag the ingest passes on (it caps messages at 8 MiB)


class Frame(IntEnum):
    SESSION_START = ord("S")
    DATA = ord("D")
    SESSION_END = ord("E")
    STREAM_END = ord("Z")


@dataclass(frozen=True)
class Received:
    kind: Frame
    data: bytes = b""


def encode(kind: Frame, data: bytes = b"") -> bytes:
    if kind == Frame.DATA:
        return bytes([kind]) + struct.pack(">I", len(data)) + data
    return bytes([kind])


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO) -> Received | None:
    """The next frame; None when the pipe closed (or broke mid-frame)."""
    head = _read_exactly(stream, 1)
    if head is None:
        return None
    kind = Frame(head[0])
    if kind != Frame.DATA:
        return Received(kind)
    size = _read_exactly(stream, 4)
    if size is None:
        return None
    (length,) = struct.unpack(">I", size)
    if length > MAX_DATA:
        raise ValueError(f"a data frame of {length} bytes")
    data = _read_exactly(stream, length)
    return None if data is None else Received(kind, data)


class SessionInput(io.RawIOBase):
    """One session's FLV bytes as a file (what PyAV reads): EOF at SESSION_END, or when the pipe
    closes. What follows the session is left for the caller."""

    def __init__(self, stream: BinaryIO):
        super().__init__()
        self._stream = stream
        self._buffer = b""
        self._done = False
        self.pipe_closed = False
        self.stream_ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer and not self._done:
            frame = read_frame(self._stream)
            if frame is None:
                self._done = self.pipe_closed = True
            elif frame.kind == Frame.DATA:
                self._buffer = frame.data
            else:
                self._done = True
                self.stream_ended = frame.kind == Frame.STREAM_END
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size

    def drain(self) -> None:
        """Skips the rest of the session (after its packaging failed)."""
        while self.readinto(bytearray(65536)):
            pass
