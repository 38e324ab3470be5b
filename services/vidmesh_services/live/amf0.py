"""AMF0, the value encoding of RTMP commands and FLV script tags.

Python values stand for AMF0 ones: float (number; an int encodes as one), bool, str (string, or
long string past 65535 bytes), None (null), UNDEFINED, dict (object), EcmaArray (ECMA array: a
dict that encodes with the array marker) and list (strict array). A date decodes as its number
of milliseconds since the epoch (its time zone is ignored, as the spec says it should be).

Decoding reads what a peer sent, so it is bounded: at most MAX_DEPTH nested containers and
MAX_ENTRIES entries in all the containers of one decode call; anything else is an AmfError.
"""

from __future__ import annotations

import enum
import struct
from typing import TypeAlias

MAX_DEPTH = 16
MAX_ENTRIES = 1024

NUMBER, BOOLEAN, STRING, OBJECT, NULL, UNDEFINED_MARKER = 0x00, 0x01, 0x02, 0x03, 0x05, 0x06
ECMA_ARRAY, OBJECT_END, STRICT_ARRAY, DATE, LONG_STRING = 0x08, 0x09, 0x0A, 0x0B, 0x0C

_DOUBLE = struct.Struct(">d")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_DATE = struct.Struct(">dh")


class Undefined(enum.Enum):
    UNDEFINED = "undefined"


UNDEFINED = Undefined.UNDEFINED


class EcmaArray(dict[str, "AmfValue"]):
    """An associative array: what onMetaData carries. Encodes with marker 0x08."""


AmfValue: TypeAlias = bool | float | str | Undefined | dict[str, "AmfValue"] | list["AmfValue"] | None


class AmfError(ValueError):
    """The bytes are not AMF0 this decoder accepts, or a value cannot be encoded."""


def encode(*values: AmfValue) -> bytes:
    out = bytearray()
    for value in values:
        _encode(out, value, 0)
    return bytes(out)


def decode(data: bytes, offset: int = 0) -> tuple[AmfValue, int]:
    """One value at offset, and the offset just past it."""
    return _Decoder(data).value(offset, 0)


def decode_all(data: bytes, offset: int = 0) -> list[AmfValue]:
    """Every value from offset to the end (a command: name, transaction id, arguments)."""
    decoder = _Decoder(data)
    values = []
    while offset < len(data):
        value, offset = decoder.value(offset, 0)
        values.append(value)
    return values


def _encode_key(out: bytearray, key: str) -> None:
    raw = key.encode()
    if len(raw) > 0xFFFF:
        raise AmfError("an object key is longer than 65535 bytes")
    out += _U16.pack(len(raw))
    out += raw


def _encode(out: bytearray, value: AmfValue, depth: int) -> None:
    # bool before float: bool is an int, and an int is accepted as a number.
    if value is None:
        out.append(NULL)
    elif value is UNDEFINED:
        out.append(UNDEFINED_MARKER)
    elif isinstance(value, bool):
        out += bytes((BOOLEAN, value))
    elif isinstance(value, int | float):
        out.append(NUMBER)
        out += _DOUBLE.pack(value)
    elif isinstance(value, str):
        raw = value.encode()
        if len(raw) <= 0xFFFF:
            out.append(STRING)
            out += _U16.pack(len(raw))
        else:
            out.append(LONG_STRING)
            out += _U32.pack(len(raw))
        out += raw
    elif isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            raise AmfError(f"values nest deeper than {MAX_DEPTH}")
        if isinstance(value, list):
            out.append(STRICT_ARRAY)
            out += _U32.pack(len(value))
            for item in value:
                _encode(out, item, depth + 1)
            return
        if isinstance(value, EcmaArray):
            out.append(ECMA_ARRAY)
            out += _U32.pack(len(value))
        else:
            out.append(OBJECT)
        for key, item in value.items():
            _encode_key(out, key)
            _encode(out, item, depth + 1)
        out += b"\x00\x00\x09"
    else:
        raise AmfError(f"cannot encode {type(value).__name__} as AMF0")


class _Decoder:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.entries = 0

    def _need(self, offset: int, size: int) -> None:
        if offset + size > len(self.data):
            raise AmfError(f"truncated AMF0 at byte {offset}")

    def _count(self, entries: int) -> None:
        self.entries += entries
        if self.entries > MAX_ENTRIES:
            raise AmfError(f"more than {MAX_ENTRIES} entries")

    def _text(self, offset: int, size: int) -> tuple[str, int]:
        self._need(offset, size)
        try:
            return self.data[offset : offset + size].decode(), offset + size
        except UnicodeDecodeError as exc:
            raise AmfError(f"a string at byte {offset} is not UTF-8") from exc

    def _short_text(self, offset: int) -> tuple[str, int]:
        self._need(offset, 2)
        return self._text(offset + 2, _U16.unpack_from(self.data, offset)[0])

    def value(self, offset: int, depth: int) -> tuple[AmfValue, int]:
        self._need(offset, 1)
        marker = self.data[offset]
        offset += 1
        if marker == NUMBER:
            self._need(offset, 8)
            return _DOUBLE.unpack_from(self.data, offset)[0], offset + 8
        if marker == BOOLEAN:
            self._need(offset, 1)
            return self.data[offset] != 0, offset + 1
        if marker == STRING:
            return self._short_text(offset)
        if marker == LONG_STRING:
            self._need(offset, 4)
            return self._text(offset + 4, _U32.unpack_from(self.data, offset)[0])
        if marker == NULL:
            return None, offset
        if marker == UNDEFINED_MARKER:
            return UNDEFINED, offset
        if marker == DATE:
            self._need(offset, 10)
            return _DATE.unpack_from(self.data, offset)[0], offset + 10
        if marker in (OBJECT, ECMA_ARRAY, STRICT_ARRAY):
            if depth >= MAX_DEPTH:
                raise AmfError(f"values nest deeper than {MAX_DEPTH}")
            if marker == STRICT_ARRAY:
                return self._strict_array(offset, depth + 1)
            if marker == ECMA_ARRAY:
                # The count is a hint (encoders often write 0): the end marker is what ends it.
                self._need(offset, 4)
                return self._members(EcmaArray(), offset + 4, depth + 1)
            return self._members({}, offset, depth + 1)
        raise AmfError(f"unsupported AMF0 marker 0x{marker:02x} at byte {offset - 1}")

    def _strict_array(self, offset: int, depth: int) -> tuple[AmfValue, int]:
        self._need(offset, 4)
        count = _U32.unpack_from(self.data, offset)[0]
        self._count(count)  # before reading any: a count of 2**32 must not be believed
        offset += 4
        items: list[AmfValue] = []
        for _ in range(count):
            item, offset = self.value(offset, depth)
            items.append(item)
        return items, offset

    def _members(self, members: dict[str, AmfValue], offset: int, depth: int) -> tuple[AmfValue, int]:
        while True:
            key, offset = self._short_text(offset)
            self._need(offset, 1)
            if not key and self.data[offset] == OBJECT_END:
                return members, offset + 1
            self._count(1)
            members[key], offset = self.value(offset, depth)
