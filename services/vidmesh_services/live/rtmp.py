"""RTMP ingest: a publisher (OBS, ffmpeg) connects, names its stream key, and streams FLV media.

One RtmpSession serves one TCP connection (asyncio.start_server's reader and writer):

    session = RtmpSession(reader, writer, authorize)
    publish = await session.accept()  # handshake, connect ... publish, then authorize(app, key)
    if publish is not None:
        out.write(flv_header())
        async with contextlib.aclosing(session.media()) as tags:
            async for tag in tags:
                out.write(tag.encode())
    session.end  # why it ended: SessionEnd(reason, detail)

Only what a publisher needs is spoken: the plain handshake, the chunk stream (message reassembly
across interleaved chunk streams, extended and 32-bit-wrapping timestamps), the protocol control
messages, and the commands of connect ... publish ... deleteStream. `play` is refused.

Everything a peer can make us hold is bounded: each handshake step and the commands up to publish
(handshake_timeout), the wait for media (idle_timeout), the chunk size, a message's size, the
chunk streams open and the bytes of partly received messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeAlias, TypeVar

from . import amf0

log = logging.getLogger(__name__)

MiB = 1024 * 1024
HANDSHAKE_SIZE = 1536
MAX_CHUNK_SIZE = 16 * MiB
# A keyframe at 8 Mbit/s is about 1 MB: eight times that is no stream's, only a peer's attack.
MAX_MESSAGE_SIZE = 8 * MiB
# Bytes of partly received messages across all chunk streams (each may be started and left).
MAX_PENDING_BYTES = 2 * MAX_MESSAGE_SIZE
# Publishers use a handful; each one open holds its state (and maybe a partial message).
MAX_CHUNK_STREAMS = 64
OUR_CHUNK_SIZE = 4096
# The acknowledgement window we announce, and the one we ack by until the peer announces its own.
WINDOW = 2_500_000
STREAM_ID = 1  # createStream's answer: one connection publishes one stream
# After an unpublish, how long we read to the publisher's own close (ffmpeg sends FCUnpublish,
# deleteStream, then closes: closing first would answer its last write with a reset).
UNPUBLISH_GRACE = 1.0
# How long a closing connection may take to flush what we wrote before it is aborted.
CLOSE_GRACE = 1.0

# Message types.
SET_CHUNK_SIZE, ABORT, ACK, USER_CONTROL, WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH = 1, 2, 3, 4, 5, 6
AUDIO, VIDEO, COMMAND_AMF3, DATA, COMMAND = 8, 9, 17, 18, 20
PING_REQUEST, PING_RESPONSE = 6, 7  # user control events
# Our chunk streams: protocol control, connection commands, stream status.
_CONTROL_CSID, _COMMAND_CSID, _STATUS_CSID = 2, 3, 5

_U32 = struct.Struct(">I")
_FLV_TAG = struct.Struct(">II3x")  # type and size; timestamp low 24 bits and high 8; stream id 0
# ffmpeg and OBS prefix the metadata with this string, an RTMP convention FLV files do not have.
_SET_DATA_FRAME = amf0.encode("@setDataFrame")
_HEADER_SIZES = (11, 7, 3, 0)  # message header by chunk format

T = TypeVar("T")


class ProtocolError(Exception):
    """The peer broke RTMP, or a bound of ours."""


class EndReason(StrEnum):
    UNPUBLISHED = "unpublished"  # the publisher said so (FCUnpublish, deleteStream, closeStream)
    DISCONNECTED = "disconnected"  # the connection closed or reset without an unpublish
    PROTOCOL_ERROR = "protocol_error"
    TIMEOUT = "timeout"  # a handshake step, the commands or the media did not come in time
    REFUSED = "refused"  # authorize said no, or the peer asked to play
    CLOSED = "closed"  # by us: close(), or the media iterator was closed


@dataclass(frozen=True)
class SessionEnd:
    reason: EndReason
    detail: str = ""


@dataclass(frozen=True)
class Accept(Generic[T]):
    """authorize's yes; `grant` (the stream's id, say) comes back as Publish.grant."""

    grant: T


@dataclass(frozen=True)
class Refuse:
    """authorize's no; the publisher is told `reason` (onStatus NetStream.Publish.BadName)."""

    reason: str


Decision: TypeAlias = Accept[T] | Refuse
Authorize: TypeAlias = Callable[[str, str], Awaitable[Decision[T]]]


@dataclass(frozen=True)
class Publish(Generic[T]):
    app: str
    key: str = field(repr=False)  # a secret: kept out of logs
    grant: T


@dataclass(frozen=True, slots=True)
class FlvTag:
    kind: int  # AUDIO, VIDEO or DATA: FLV's tag types are RTMP's message types
    timestamp: int  # ms, from the chunk stream's running 64-bit clock; FLV keeps the low 32 bits
    data: bytes

    def encode(self) -> bytes:
        """The tag and its previous-tag-size trailer."""
        ts = self.timestamp & 0xFFFFFFFF
        size = len(self.data)
        head = _FLV_TAG.pack((self.kind << 24) | size, ((ts & 0xFFFFFF) << 8) | (ts >> 24))
        return b"".join((head, self.data, _U32.pack(len(head) + size)))


def flv_header() -> bytes:
    """FLV version 1 with audio and video, then the first (zero) previous-tag size."""
    return b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"


@dataclass(slots=True)
class _Message:
    type_id: int
    stream_id: int
    timestamp: int
    payload: bytes


class _ChunkStream:
    """What a chunk stream's later headers leave out, and its message being reassembled."""

    __slots__ = ("delta", "extended", "length", "partial", "stream_id", "timestamp", "type_id")

    def __init__(self) -> None:
        self.timestamp = 0  # of the latest message, 64-bit: fmt 0 gives 32 bits, deltas add up
        self.delta = 0  # what a fmt 3 chunk that starts a message adds (after fmt 0: its timestamp)
        self.extended = False  # the last header had an extended timestamp: fmt 3 chunks repeat it
        self.length = 0
        self.type_id = 0
        self.stream_id = 0
        self.partial: bytearray | None = None


def _unwrap(previous: int, ts32: int) -> int:
    """The 64-bit timestamp nearest `previous` whose low 32 bits are ts32 (a wrap goes forward)."""
    step = (ts32 - previous) & 0xFFFFFFFF
    value = previous + step if step < 1 << 31 else previous + step - (1 << 32)
    return value if value >= 0 else ts32


class _ChunkReader:
    """Reads chunks and returns whole messages; handles Set Chunk Size and Abort itself."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._streams: dict[int, _ChunkStream] = {}
        self._pending = 0
        self.chunk_size = 128
        self.received = 0  # every byte read, for acknowledgements

    async def read(self, size: int) -> bytes:
        data = await self._reader.readexactly(size)
        self.received += size
        return data

    async def message(self) -> _Message:
        while True:
            message = await self._chunk()
            if message is None:
                continue
            if message.type_id == SET_CHUNK_SIZE:
                size = _u32(message.payload)
                if not 1 <= size <= MAX_CHUNK_SIZE:
                    raise ProtocolError(f"chunk size {size} is outside 1..{MAX_CHUNK_SIZE}")
                self.chunk_size = size
            elif message.type_id == ABORT:
                stream = self._streams.get(_u32(message.payload))
                if stream is not None:
                    self._drop_partial(stream)
            else:
                return message

    def _drop_partial(self, stream: _ChunkStream) -> None:
        if stream.partial is not None:
            self._pending -= len(stream.partial)
            stream.partial = None

    async def _chunk(self) -> _Message | None:
        """One chunk; the message it completes, if it does."""
        first = (await self.read(1))[0]
        fmt, csid = first >> 6, first & 0x3F
        if csid == 0:
            csid = 64 + (await self.read(1))[0]
        elif csid == 1:
            extra = await self.read(2)
            csid = 64 + extra[0] + (extra[1] << 8)
        stream = self._streams.get(csid)
        if stream is None:
            # fmt 1 carries all but the stream id (0 then): lenient, as other servers are.
            if fmt > 1:
                raise ProtocolError(f"chunk stream {csid} starts with a type {fmt} header")
            if len(self._streams) >= MAX_CHUNK_STREAMS:
                raise ProtocolError(f"more than {MAX_CHUNK_STREAMS} chunk streams")
            stream = self._streams[csid] = _ChunkStream()
        if fmt < 3:
            await self._header(stream, fmt)
        else:
            if stream.extended:
                await self.read(4)  # the header's extended timestamp again
            if stream.partial is None:
                stream.timestamp += stream.delta
        return await self._payload(stream)

    async def _header(self, stream: _ChunkStream, fmt: int) -> None:
        header = await self.read(_HEADER_SIZES[fmt])
        value = int.from_bytes(header[:3])
        stream.extended = value == 0xFFFFFF
        if stream.extended:
            value = int.from_bytes(await self.read(4))
        if fmt < 2:
            stream.length = int.from_bytes(header[3:6])
            stream.type_id = header[6]
            if stream.length > MAX_MESSAGE_SIZE:
                raise ProtocolError(f"a {stream.length}-byte message (at most {MAX_MESSAGE_SIZE})")
        if fmt == 0:
            stream.stream_id = int.from_bytes(header[7:11], "little")
            stream.timestamp = _unwrap(stream.timestamp, value)
        else:
            stream.timestamp += value
        stream.delta = value
        if stream.partial is not None:
            # A new header mid-message: the sender gave the message up (as after an Abort).
            log.debug("rtmp: a message left incomplete on a chunk stream")
            self._drop_partial(stream)

    async def _payload(self, stream: _ChunkStream) -> _Message | None:
        if stream.partial is None:
            if stream.length <= self.chunk_size:  # the usual audio message: no buffer needed
                return _Message(stream.type_id, stream.stream_id, stream.timestamp, await self.read(stream.length))
            stream.partial = bytearray()
        size = min(self.chunk_size, stream.length - len(stream.partial))
        stream.partial += await self.read(size)
        self._pending += size
        if self._pending > MAX_PENDING_BYTES:
            raise ProtocolError(f"more than {MAX_PENDING_BYTES} bytes of incomplete messages")
        if len(stream.partial) < stream.length:
            return None
        payload = bytes(stream.partial)
        self._drop_partial(stream)
        return _Message(stream.type_id, stream.stream_id, stream.timestamp, payload)


def _u32(payload: bytes) -> int:
    if len(payload) < 4:
        raise ProtocolError("a control message shorter than 4 bytes")
    return int(_U32.unpack_from(payload)[0])


class _Ended(Exception):
    def __init__(self, end: SessionEnd) -> None:
        super().__init__(end.reason, end.detail)
        self.end = end


def _end_for(exc: BaseException) -> SessionEnd:
    if isinstance(exc, _Ended):
        return exc.end
    if isinstance(exc, asyncio.IncompleteReadError):
        return SessionEnd(EndReason.DISCONNECTED, "the peer closed the connection")
    if isinstance(exc, OSError):  # a reset, a broken pipe (timeouts are _Ended by then)
        return SessionEnd(EndReason.DISCONNECTED, str(exc) or type(exc).__name__)
    return SessionEnd(EndReason.PROTOCOL_ERROR, str(exc))


_ENDINGS = (_Ended, ProtocolError, amf0.AmfError, asyncio.IncompleteReadError, OSError)


class RtmpSession(Generic[T]):
    """One publisher's connection: accept() once, then media() if it returned a Publish."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        authorize: Authorize[T],
        *,
        handshake_timeout: float = 5.0,
        idle_timeout: float = 10.0,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._authorize = authorize
        self._handshake_timeout = handshake_timeout
        self._idle_timeout = idle_timeout
        self._chunks = _ChunkReader(reader)
        self._out_chunk_size = 128
        self._ack_window = WINDOW
        self._acked = 0
        self._app: str | None = None
        self._publish: Publish[T] | None = None
        self._started = False
        self._end: SessionEnd | None = None
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    @property
    def end(self) -> SessionEnd | None:
        """Why the session ended; None while it lasts."""
        return self._end

    async def accept(self) -> Publish[T] | None:
        """Handshake and commands up to publish, then authorize(app, key). None: refused or failed
        (see `end`); the connection is closed then. An exception from authorize closes it too."""
        if self._started:
            raise RuntimeError("accept() runs once per session")
        self._started = True
        try:
            await self._handshake()
            deadline = asyncio.get_running_loop().time() + self._handshake_timeout
            while self._publish is None and self._end is None:
                message = await self._message(deadline, "publish command")
                if message.type_id in (COMMAND, COMMAND_AMF3):
                    await self._command(message)
                else:
                    self._control(message)
            if self._end is None:
                await self._drain()  # Publish.Start goes out before media() is awaited
        except _ENDINGS as exc:
            self._stop(_end_for(exc))
        except BaseException as exc:  # authorize failed, or we were cancelled
            self._end = self._end or SessionEnd(EndReason.CLOSED, f"accept() failed: {exc!r}")
            self._writer.transport.abort()
            raise
        if self._end is not None:
            await self._closed()
            return None
        return self._publish

    async def media(self) -> AsyncGenerator[FlvTag, None]:
        """The published media as FLV tags, until the session ends (then `end` says why). Leaving
        the loop early ends the session only once the generator is closed (contextlib.aclosing)."""
        if self._publish is None or self._end is not None:
            raise RuntimeError("media() follows an accepted publish")
        loop = asyncio.get_running_loop()
        try:
            while self._end is None:
                tag = await self._next_tag(loop.time() + self._idle_timeout)
                if tag is None:
                    break
                yield tag
        finally:
            self._stop(SessionEnd(EndReason.CLOSED, "the media iterator was closed"))
            await self._closed()

    def close(self, reason: str = "closed by the server") -> None:
        """Ends the session from outside (the stream was ended, its key rotated): a publishing peer
        is sent an error status with `reason`, the connection is closed, and media() ends."""
        if self._end is None and self._publish is not None:
            self._send_status("error", "NetStream.Failed", reason)
        self._stop(SessionEnd(EndReason.CLOSED, reason))

    # Reading.

    async def _read_within(self, size: int, deadline: float, what: str) -> bytes:
        try:
            async with asyncio.timeout_at(deadline):
                return await self._chunks.read(size)
        except TimeoutError:
            raise _Ended(SessionEnd(EndReason.TIMEOUT, f"no {what} in time")) from None

    async def _message(self, deadline: float, what: str) -> _Message:
        try:
            async with asyncio.timeout_at(deadline):
                message = await self._chunks.message()
        except TimeoutError:
            raise _Ended(SessionEnd(EndReason.TIMEOUT, f"no {what} in time")) from None
        if self._chunks.received - self._acked >= self._ack_window:
            self._acked = self._chunks.received
            self._send(_CONTROL_CSID, ACK, _U32.pack(self._acked & 0xFFFFFFFF))
        return message

    async def _handshake(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._handshake_timeout
        c0 = await self._read_within(1, deadline, "handshake")
        if c0[0] != 3:  # read alone first: a stray HTTP or TLS client is told off at once
            raise ProtocolError(f"RTMP version {c0[0]}: only 3 (plain) is spoken")
        c1 = await self._read_within(HANDSHAKE_SIZE, deadline, "handshake")
        # S1: time 0 and zero version bytes, which tell FFmpeg and librtmp (OBS) to skip the
        # digest handshake; S2 echoes C1.
        self._writer.write(b"\x03" + bytes(8) + os.urandom(HANDSHAKE_SIZE - 8) + c1)
        await self._drain()
        await self._read_within(HANDSHAKE_SIZE, loop.time() + self._handshake_timeout, "handshake")  # C2

    async def _next_tag(self, deadline: float) -> FlvTag | None:
        try:
            while self._end is None:
                message = await self._message(deadline, "media")
                if message.type_id in (AUDIO, VIDEO):
                    return FlvTag(message.type_id, message.timestamp, message.payload)
                if message.type_id == DATA:
                    data = message.payload
                    if data.startswith(_SET_DATA_FRAME):
                        data = data[len(_SET_DATA_FRAME) :]
                    return FlvTag(DATA, message.timestamp, data)
                if message.type_id in (COMMAND, COMMAND_AMF3):
                    await self._command(message)
                else:
                    self._control(message)
        except _ENDINGS as exc:
            end = _end_for(exc)
            if end.reason is EndReason.UNPUBLISHED:
                await self._read_to_close()
            self._stop(end)
        return None

    async def _read_to_close(self) -> None:
        with contextlib.suppress(OSError):  # TimeoutError included
            async with asyncio.timeout(UNPUBLISH_GRACE):
                while await self._reader.read(64 * 1024):
                    pass

    def _control(self, message: _Message) -> None:
        if message.type_id == WINDOW_ACK_SIZE:
            self._ack_window = max(1, _u32(message.payload))
        elif message.type_id == USER_CONTROL:
            payload = message.payload
            if len(payload) >= 6 and int.from_bytes(payload[:2]) == PING_REQUEST:
                self._send(_CONTROL_CSID, USER_CONTROL, PING_RESPONSE.to_bytes(2) + payload[2:6])
        elif message.type_id not in (ACK, SET_PEER_BANDWIDTH, AUDIO, VIDEO, DATA):
            log.debug("rtmp %s: ignoring a type %d message", self.peer, message.type_id)

    # Commands.

    async def _command(self, message: _Message) -> None:
        payload = message.payload
        if message.type_id == COMMAND_AMF3:
            # An AMF3 command starts with a format byte; 0 means the rest is AMF0.
            if not payload or payload[0] != 0:
                raise ProtocolError("an AMF3-encoded command")
            payload = payload[1:]
        values = amf0.decode_all(payload)
        if len(values) < 2 or not isinstance(values[0], str):
            raise ProtocolError("a command without a name")
        name, txn, args = values[0], values[1], values[2:]
        transaction = txn if isinstance(txn, float) else 0.0
        log.debug("rtmp %s: %s", self.peer, name)
        if name == "connect":
            self._connect(transaction, args)
        elif name in ("releaseStream", "FCPublish"):
            # ffmpeg and OBS wait for neither reply; they are what other servers send.
            self._send_command("_result", transaction, None, amf0.UNDEFINED)
            if name == "FCPublish":
                self._send_command("onFCPublish", 0, None, {"code": "NetStream.Publish.Start", "description": ""})
        elif name == "createStream":
            self._send_command("_result", transaction, None, STREAM_ID)
        elif name == "publish":
            await self._on_publish(message.stream_id, args)
        elif name in ("FCUnpublish", "deleteStream", "closeStream"):
            if self._publish is not None:
                raise _Ended(SessionEnd(EndReason.UNPUBLISHED, name))
        elif name == "play":
            self._send_status("error", "NetStream.Play.Failed", "this server only accepts publishers", message.stream_id)
            raise _Ended(SessionEnd(EndReason.REFUSED, "the peer asked to play"))
        else:
            log.debug("rtmp %s: ignoring the command %r", self.peer, name)

    def _connect(self, transaction: float, args: list[amf0.AmfValue]) -> None:
        if self._app is not None:
            raise ProtocolError("connect sent twice")
        properties = args[0] if args and isinstance(args[0], dict) else {}
        app = properties.get("app")
        if not isinstance(app, str):
            raise ProtocolError("connect names no app")
        # A server URL typed with a trailing slash (rtmp://host/live/) names the same app.
        self._app = app.split("?", 1)[0].strip("/")
        encoding = properties.get("objectEncoding", 0.0)
        self._send(_CONTROL_CSID, WINDOW_ACK_SIZE, _U32.pack(WINDOW))
        self._send(_CONTROL_CSID, SET_PEER_BANDWIDTH, _U32.pack(WINDOW) + b"\x02")  # dynamic
        self._send(_CONTROL_CSID, SET_CHUNK_SIZE, _U32.pack(OUR_CHUNK_SIZE))
        self._out_chunk_size = OUR_CHUNK_SIZE
        self._send_command(
            "_result",
            transaction,
            {"fmsVer": "FMS/3,0,1,123", "capabilities": 31},
            {
                "level": "status",
                "code": "NetConnection.Connect.Success",
                "description": "Connection succeeded.",
                "objectEncoding": encoding if isinstance(encoding, float) else 0.0,
            },
        )

    async def _on_publish(self, stream_id: int, args: list[amf0.AmfValue]) -> None:
        if self._app is None:
            raise ProtocolError("publish before connect")
        if self._publish is not None:
            raise ProtocolError("publish sent twice")
        name = args[1] if len(args) > 1 else None
        if not isinstance(name, str):
            raise ProtocolError("publish names no stream")
        key = name.split("?", 1)[0]  # OBS and ffmpeg users append ?parameters to the key
        await self._drain()  # our earlier replies go out before a slow authorize
        decision = await self._authorize(self._app, key)
        if self._end is not None:  # close() while authorize ran
            return
        if isinstance(decision, Refuse):
            self._send_status("error", "NetStream.Publish.BadName", decision.reason, stream_id)
            raise _Ended(SessionEnd(EndReason.REFUSED, decision.reason))
        self._send_status("status", "NetStream.Publish.Start", "Publishing.", stream_id)
        self._publish = Publish(self._app, key, decision.grant)
        log.info("rtmp %s: publishing to app %r", self.peer, self._app)

    # Writing.

    def _send(self, csid: int, type_id: int, payload: bytes, stream_id: int = 0) -> None:
        """One message, fmt 0 then fmt 3 chunks; timestamp 0: nothing of ours needs a clock."""
        out = bytearray((csid, 0, 0, 0))
        out += len(payload).to_bytes(3)
        out.append(type_id)
        out += stream_id.to_bytes(4, "little")
        size = self._out_chunk_size
        for offset in range(0, len(payload), size):
            if offset:
                out.append(0xC0 | csid)
            out += payload[offset : offset + size]
        self._writer.write(out)

    def _send_command(self, *values: amf0.AmfValue) -> None:
        self._send(_COMMAND_CSID, COMMAND, amf0.encode(*values))

    def _send_status(self, level: str, code: str, description: str, stream_id: int = STREAM_ID) -> None:
        info: dict[str, amf0.AmfValue] = {"level": level, "code": code, "description": description}
        self._send(_STATUS_CSID, COMMAND, amf0.encode("onStatus", 0, None, info), stream_id)

    async def _drain(self) -> None:
        try:
            async with asyncio.timeout(self._handshake_timeout):
                await self._writer.drain()
        except TimeoutError:
            raise _Ended(SessionEnd(EndReason.TIMEOUT, "the peer does not read")) from None

    def _stop(self, end: SessionEnd) -> None:
        if self._end is None:
            self._end = end
            log.info("rtmp %s: session ended: %s %s", self.peer, end.reason, end.detail)
        if not self._writer.is_closing():
            self._writer.close()  # flushes what we wrote (a refusal's status), then closes
            asyncio.get_running_loop().call_later(CLOSE_GRACE, self._writer.transport.abort)

    async def _closed(self) -> None:
        with contextlib.suppress(OSError):  # TimeoutError included
            async with asyncio.timeout(2 * CLOSE_GRACE):
                await self._writer.wait_closed()
