"""UploadChunksRequest off the wire without copying the chunk.

The generated parser copies a chunk twice (into the message, then out as `bytes` when `.data`
is read): 20 MiB of copying and page faults per 10 MiB chunk, on the thread that also runs the
event loop. This reads the four fields of the message straight from the buffer gRPC hands over
and leaves `data` as a Window into it. Anything it does not expect (a group, a field with the
wrong wire type, a malformed message) goes to the generated parser, so the result is always
what protobuf would have made of the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidmesh.upload.v1 import upload_service_pb2 as pb2

from .checksum import Window

_NAME, _INDEX, _DATA, _CRC32C = 1, 2, 3, 4
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class _Unexpected(Exception):
    pass


@dataclass(frozen=True)
class ChunkRequest:
    """The fields of one UploadChunksRequest; data is a Window into the received message."""

    name: str
    index: int
    data: Window
    crc32c: int


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _Unexpected
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF  # protobuf keeps the low 32 bits of an int32's varint
    return value - (1 << 32) if value >= 1 << 31 else value


def parse_chunk_request(raw: bytes) -> ChunkRequest:
    """Deserializer for UploadChunksRequest: the same result as the generated FromString."""
    try:
        return _parse(raw)
    except _Unexpected:
        message = pb2.UploadChunksRequest.FromString(raw)  # raises DecodeError if it is malformed
        data = message.data
        return ChunkRequest(message.name, message.index, Window(data, 0, len(data)), message.crc32c)


def _parse(raw: bytes) -> ChunkRequest:
    name, index, crc = "", 0, 0
    data_start = data_stop = 0
    pos, end = 0, len(raw)
    while pos < end:
        key, pos = _varint(raw, pos)
        field, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(raw, pos)
            if field == _INDEX:
                index = _int32(value)
            elif field == _CRC32C:
                crc = value & 0xFFFFFFFF
            elif field in (_NAME, _DATA) or field == 0:
                raise _Unexpected
        elif wire == _LEN:
            length, pos = _varint(raw, pos)
            stop = pos + length
            if stop > end:
                raise _Unexpected
            if field == _NAME:
                try:
                    name = raw[pos:stop].decode("utf-8")
                except UnicodeDecodeError:
                    raise _Unexpected from None
            elif field == _DATA:
                data_start, data_stop = pos, stop  # the last occurrence wins, as in protobuf
            elif field in (_INDEX, _CRC32C) or field == 0:
                raise _Unexpected  # packed or mistyped: leave it to protobuf
            pos = stop
        elif wire == _I64 and field not in (_NAME, _INDEX, _DATA, _CRC32C, 0):
            pos += 8
        elif wire == _I32 and field not in (_NAME, _INDEX, _DATA, _CRC32C, 0):
            pos += 4
        else:
            raise _Unexpected  # groups, mistyped known fields, field 0
        if pos > end:
            raise _Unexpected
    return ChunkRequest(name, index, Window(raw, data_start, data_stop), crc)
