"""RTMP ingest on a real socket: Debian's ffmpeg CLI publishes as OBS would, and a hand-built
client sends the chunk layouts ffmpeg never does (extended and wrapping timestamps, aborts).

ffmpeg's clean end on the wire (ffmpeg 5.1, at av_write_trailer): the command FCUnpublish, then
deleteStream (stream 1) right behind it, then FIN. The session ends at the FCUnpublish: reason
`unpublished`, detail "FCUnpublish"; ffmpeg exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import pytest

from vidmesh_services.live import amf0
from vidmesh_services.live.rtmp import (
    AUDIO,
    DATA,
    VIDEO,
    Accept,
    Decision,
    EndReason,
    FlvTag,
    Publish,
    Refuse,
    RtmpSession,
    SessionEnd,
    flv_header,
)
from vidmesh_services.platform.pids import die_with_parent

KEYS = {"key-a", "key-b"}
# Generous: two ffmpeg encoders share a loaded 2-core machine with the test.
PUBLISH_TIMEOUT = 60.0


@dataclass
class Connection:
    session: RtmpSession[str]
    arrived: float  # time.monotonic() when the TCP connection was accepted
    progress: asyncio.Condition  # notified at each tag and at the end
    path: Path | None = None
    publish: Publish[str] | None = None
    tags: list[FlvTag] = field(default_factory=list)
    ended: bool = False

    async def end(self) -> SessionEnd:
        async with asyncio.timeout(10), self.progress:
            await self.progress.wait_for(lambda: self.ended)
        assert self.session.end is not None
        return self.session.end

    async def wait_for_tags(self, count: int) -> None:
        async with asyncio.timeout(PUBLISH_TIMEOUT), self.progress:
            await self.progress.wait_for(lambda: len(self.tags) >= count or self.ended)
        assert len(self.tags) >= count, self.session.end


@dataclass
class Ingest:
    """The server under test: accepts KEYS, writes each publish to <folder>/<key>-<n>.flv."""

    folder: Path
    port: int = 0
    handshake_timeout: float = 5.0
    idle_timeout: float = 10.0
    asked: list[tuple[str, str]] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    progress: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def authorize(self, app: str, key: str) -> Decision[str]:
        self.asked.append((app, key))
        return Accept(key) if app == "live" and key in KEYS else Refuse("unknown stream key")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = RtmpSession(reader, writer, self.authorize, handshake_timeout=self.handshake_timeout, idle_timeout=self.idle_timeout)
        connection = Connection(session, time.monotonic(), self.progress)
        async with self.progress:
            self.connections.append(connection)
            self.progress.notify_all()
        try:
            connection.publish = await session.accept()
            if connection.publish is None:
                return
            connection.path = self.folder / f"{connection.publish.key}-{len(self.connections)}.flv"
            with connection.path.open("wb") as out:
                out.write(flv_header())
                async with contextlib.aclosing(session.media()) as tags:
                    async for tag in tags:
                        out.write(tag.encode())
                        async with self.progress:
                            connection.tags.append(tag)
                            self.progress.notify_all()
        finally:
            async with self.progress:
                connection.ended = True
                self.progress.notify_all()

    async def next_connection(self, index: int) -> Connection:
        async with asyncio.timeout(PUBLISH_TIMEOUT), self.progress:
            await self.progress.wait_for(lambda: len(self.connections) > index)
        return self.connections[index]


@pytest.fixture
async def ingest(tmp_path: Path) -> AsyncIterator[Ingest]:
    ingest = Ingest(tmp_path)
    server = await asyncio.start_server(ingest.handle, "127.0.0.1", 0)
    ingest.port = server.sockets[0].getsockname()[1]
    try:
        yield ingest
    finally:
        server.close()
        for connection in ingest.connections:
            connection.session.close("the test is over")
        for connection in ingest.connections:
            await connection.end()
        await server.wait_closed()


@dataclass
class Ffmpeg:
    process: asyncio.subprocess.Process
    stderr: str = ""

    async def exit(self, within: float = PUBLISH_TIMEOUT) -> int:
        async with asyncio.timeout(within):
            _, err = await self.process.communicate()
        self.stderr = err.decode(errors="replace")
        assert self.process.returncode is not None
        return self.process.returncode


async def publish(port: int, key: str, seconds: float, size: str = "640x360") -> Ffmpeg:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "Debian's ffmpeg CLI is needed on PATH: run 'make ffmpeg'"
    # The command line OBS users are told to test with: x264 at 2.5 Mbit/s, a 2 s GOP, AAC.
    argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-re"]
    argv += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    argv += ["-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "60", "-b:v", "2500k"]
    argv += ["-c:a", "aac", "-b:a", "128k", "-f", "flv", f"rtmp://127.0.0.1:{port}/live/{key}"]
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=die_with_parent,
    )
    return Ffmpeg(process)


@dataclass
class Probe:
    codecs: list[str]
    video_size: tuple[int, int]
    video_frames: int
    audio_packets: int
    monotonic: bool


def probe(path: Path) -> Probe:
    """What a player's demuxer makes of the FLV: every packet is read, so a broken tag fails."""
    with av.open(str(path)) as container:
        codecs = sorted(stream.codec_context.name for stream in container.streams)
        video = container.streams.video[0]
        counts = {"video": 0, "audio": 0}
        last: dict[str, int] = {}
        monotonic = True
        for packet in container.demux():
            if packet.dts is None:  # the flush packet at the end
                continue
            kind = packet.stream.type
            monotonic &= packet.dts > last.get(kind, -1)
            last[kind] = packet.dts
            counts[kind] += 1
        return Probe(codecs, (video.codec_context.width, video.codec_context.height), counts["video"], counts["audio"], monotonic)


# -- ffmpeg publishing ---------------------------------------------------------------------------


async def test_a_publish_with_a_valid_key_becomes_a_playable_flv(ingest: Ingest) -> None:
    ffmpeg = await publish(ingest.port, "key-a", seconds=4)
    assert await ffmpeg.exit() == 0, ffmpeg.stderr
    connection = await ingest.next_connection(0)
    assert await connection.end() == SessionEnd(EndReason.UNPUBLISHED, "FCUnpublish")
    assert ingest.asked == [("live", "key-a")]
    assert connection.publish == Publish("live", "key-a", "key-a")
    assert connection.path is not None
    found = probe(connection.path)
    assert found.codecs == ["aac", "h264"]
    assert found.video_size == (640, 360)
    assert abs(found.video_frames - 120) <= 5, found
    assert found.audio_packets > 150, found  # 4 s of 1024-sample frames at 48 kHz: 188
    assert found.monotonic
    # The metadata is a plain FLV script tag: the RTMP-only @setDataFrame prefix is gone.
    assert connection.tags[0].kind == DATA
    assert connection.tags[0].data.startswith(amf0.encode("onMetaData"))


async def test_a_wrong_key_is_refused_within_a_second(ingest: Ingest) -> None:
    ffmpeg = await publish(ingest.port, "not-a-key", seconds=4)
    connection = await ingest.next_connection(0)
    code = await ffmpeg.exit()
    exited = time.monotonic()
    assert code != 0
    # From the TCP connection to ffmpeg's exit: the handshake, the commands and the refusal.
    assert exited - connection.arrived < 1.0, ffmpeg.stderr
    assert "Server error: unknown stream key" in ffmpeg.stderr  # the reason reaches the publisher
    assert await connection.end() == SessionEnd(EndReason.REFUSED, "unknown stream key")
    assert ingest.asked == [("live", "not-a-key")]
    assert connection.publish is None and not connection.tags
    assert not list(ingest.folder.iterdir())


async def test_garbage_and_silence_are_dropped_and_the_server_keeps_serving(ingest: Ingest) -> None:
    ingest.handshake_timeout = 1.0
    reader, writer = await asyncio.open_connection("127.0.0.1", ingest.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await until_closed(reader, writer, within=5)
    end = await (await ingest.next_connection(0)).end()
    assert end == SessionEnd(EndReason.PROTOCOL_ERROR, "RTMP version 71: only 3 (plain) is spoken")

    reader, writer = await asyncio.open_connection("127.0.0.1", ingest.port)
    started = time.monotonic()
    await until_closed(reader, writer, within=5)
    assert 0.8 <= time.monotonic() - started < 4
    assert await (await ingest.next_connection(1)).end() == SessionEnd(EndReason.TIMEOUT, "no handshake in time")

    ffmpeg = await publish(ingest.port, "key-b", seconds=2)
    assert await ffmpeg.exit() == 0, ffmpeg.stderr
    connection = await ingest.next_connection(2)
    assert (await connection.end()).reason is EndReason.UNPUBLISHED
    assert connection.path is not None and abs(probe(connection.path).video_frames - 60) <= 5


async def test_two_publishers_at_once_get_independent_sessions(ingest: Ingest) -> None:
    a, b = await asyncio.gather(publish(ingest.port, "key-a", 3, "640x360"), publish(ingest.port, "key-b", 3, "320x240"))
    assert list(await asyncio.gather(a.exit(), b.exit())) == [0, 0], (a.stderr, b.stderr)
    connections = [await ingest.next_connection(0), await ingest.next_connection(1)]
    assert [(await c.end()).reason for c in connections] == [EndReason.UNPUBLISHED] * 2
    sizes = {}
    for connection in connections:
        assert connection.publish is not None and connection.path is not None
        found = probe(connection.path)
        assert abs(found.video_frames - 90) <= 5 and found.monotonic, found
        sizes[connection.publish.key] = found.video_size
    assert sizes == {"key-a": (640, 360), "key-b": (320, 240)}  # each file has its own publisher's video
    assert sorted(ingest.asked) == [("live", "key-a"), ("live", "key-b")]


async def test_closing_a_session_from_outside_stops_the_publisher(ingest: Ingest) -> None:
    ffmpeg = await publish(ingest.port, "key-a", seconds=30)
    connection = await ingest.next_connection(0)
    await connection.wait_for_tags(30)  # a second of media
    connection.session.close("the stream was ended by its owner")
    closed = time.monotonic()
    assert await ffmpeg.exit(within=10) != 0
    assert time.monotonic() - closed < 3, ffmpeg.stderr
    assert await connection.end() == SessionEnd(EndReason.CLOSED, "the stream was ended by its owner")


async def test_a_killed_publisher_leaves_a_readable_flv(ingest: Ingest) -> None:
    ffmpeg = await publish(ingest.port, "key-a", seconds=30)
    connection = await ingest.next_connection(0)
    await connection.wait_for_tags(60)
    ffmpeg.process.send_signal(signal.SIGKILL)
    await ffmpeg.exit()
    # A FIN ("the peer closed the connection"), or a reset if ffmpeg left some of ours unread.
    assert (await connection.end()).reason is EndReason.DISCONNECTED
    assert connection.path is not None
    found = probe(connection.path)
    assert found.codecs == ["aac", "h264"]
    assert found.video_frames >= 20 and found.monotonic, found


async def test_a_stalled_publisher_times_out(ingest: Ingest) -> None:
    ingest.idle_timeout = 1.0
    ffmpeg = await publish(ingest.port, "key-a", seconds=30)
    connection = await ingest.next_connection(0)
    await connection.wait_for_tags(10)
    ffmpeg.process.send_signal(signal.SIGSTOP)  # the socket stays open, nothing more comes
    try:
        stopped = time.monotonic()
        assert await connection.end() == SessionEnd(EndReason.TIMEOUT, "no media in time")
        assert time.monotonic() - stopped < 5
    finally:
        ffmpeg.process.send_signal(signal.SIGKILL)  # stopped or not
        await ffmpeg.exit()


# -- a hand-built client ------------------------------------------------------------------------


def chunk(
    fmt: int, csid: int, body: bytes = b"", *, ts: int = 0, length: int = 0, type_id: int = 0, stream_id: int = 0, ext: int | None = None
) -> bytes:
    """One chunk as a sender lays it out. A header timestamp past 24 bits moves to the extended
    field by itself; a fmt 3 chunk carries one only when `ext` is given."""
    if csid < 64:
        out = bytes([fmt << 6 | csid])
    elif csid < 320:
        out = bytes([fmt << 6, csid - 64])
    else:
        out = bytes([fmt << 6 | 1]) + (csid - 64).to_bytes(2, "little")
    if fmt < 3:
        out += min(ts, 0xFFFFFF).to_bytes(3, "big")
        if fmt < 2:
            out += length.to_bytes(3, "big") + bytes([type_id])
        if fmt == 0:
            out += stream_id.to_bytes(4, "little")
        if ts >= 0xFFFFFF:
            ext = ts
    if ext is not None:
        out += ext.to_bytes(4, "big")
    return out + body


def message(csid: int, type_id: int, payload: bytes, *, stream_id: int = 0, ts: int = 0, chunk_size: int = 128) -> bytes:
    """A whole message: fmt 0, then fmt 3 chunks (repeating an extended timestamp)."""
    out = chunk(0, csid, payload[:chunk_size], ts=ts, length=len(payload), type_id=type_id, stream_id=stream_id)
    for offset in range(chunk_size, len(payload), chunk_size):
        out += chunk(3, csid, payload[offset : offset + chunk_size], ext=ts if ts >= 0xFFFFFF else None)
    return out


def command(*values: amf0.AmfValue, stream_id: int = 0) -> bytes:
    return message(3, 20, amf0.encode(*values), stream_id=stream_id)


def u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


async def until_closed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, within: float) -> bytes:
    """What the server sends until it closes the connection (an unread request makes it a reset)."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        async with asyncio.timeout(within):
            while data := await reader.read(65536):
                received += data
    writer.close()
    return received


async def read_server_message(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The server's messages are small, single fmt 0 chunks on chunk streams below 64."""
    header = await reader.readexactly(12)
    assert header[0] >> 6 == 0, header
    return header[7], await reader.readexactly(int.from_bytes(header[4:7], "big"))


async def read_until_closed(reader: asyncio.StreamReader) -> list[tuple[int, bytes]]:
    messages = []
    with contextlib.suppress(asyncio.IncompleteReadError):
        async with asyncio.timeout(5):
            while True:
                messages.append(await read_server_message(reader))
    return messages


async def handshake(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    c1 = bytes(8) + os.urandom(1528)
    writer.write(b"\x03" + c1)
    s0, s1, s2 = await reader.readexactly(1), await reader.readexactly(1536), await reader.readexactly(1536)
    assert s0 == b"\x03" and s1[4:8] == bytes(4)  # zero version bytes: the plain handshake
    assert s2 == c1
    writer.write(s1)
    return reader, writer


async def connect_and_publish(port: int, key: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await handshake(port)
    writer.write(command("connect", 1, {"app": "live", "type": "nonprivate", "tcUrl": f"rtmp://127.0.0.1:{port}/live"}))
    replies = [await read_server_message(reader) for _ in range(4)]
    assert replies[:3] == [(5, u32(2_500_000)), (6, u32(2_500_000) + b"\x02"), (1, u32(4096))]
    name, txn, _, info = amf0.decode_all(replies[3][1])
    assert (replies[3][0], name, txn) == (20, "_result", 1.0)
    assert isinstance(info, dict) and info["code"] == "NetConnection.Connect.Success"
    writer.write(command("createStream", 2, None))
    assert amf0.decode_all((await read_server_message(reader))[1]) == ["_result", 2.0, None, 1.0]
    writer.write(command("publish", 3, None, key, "live", stream_id=1))
    return reader, writer


async def test_a_hand_built_stream_of_every_chunk_layout(ingest: Ingest) -> None:
    reader, writer = await connect_and_publish(ingest.port, "key-b?token=ignored")
    name, _, _, info = amf0.decode_all((await read_server_message(reader))[1])
    assert name == "onStatus" and isinstance(info, dict) and info["code"] == "NetStream.Publish.Start"
    video = (bytes(range(256)) * 20)[:5000]  # chunks of 128 bytes, then of 4096
    audio = b"\xaf\x01" + bytes(8)
    metadata = amf0.encode("@setDataFrame", "onMetaData", amf0.EcmaArray(width=640.0))
    sent = [
        message(2, 5, u32(4000)),  # our window: the server acks every 4000 bytes
        message(7, DATA, metadata, stream_id=1),
        # A video message split over three chunks, two audio messages interleaved with it.
        chunk(0, 6, video[:128], ts=1000, length=300, type_id=VIDEO, stream_id=1),
        chunk(0, 4, audio, ts=1000, length=10, type_id=AUDIO, stream_id=1),
        chunk(3, 6, video[128:256]),
        chunk(2, 4, audio, ts=20),  # a delta: 1020
        chunk(3, 6, video[256:300]),
        # fmt 3 starting a message after fmt 0: the delta is the fmt 0 timestamp (RTMP 5.3.1.2.4).
        chunk(3, 6, video[:128]),
        chunk(3, 6, video[128:256]),
        chunk(3, 6, video[256:300]),
        message(2, 1, u32(4096)),  # Set Chunk Size
        chunk(1, 6, video[:4096], ts=33, length=5000, type_id=VIDEO),
        chunk(3, 6, video[4096:5000]),
        # A message begun on chunk stream 320 (a 3-byte basic header), then aborted.
        chunk(0, 320, video[:4096], ts=2040, length=5000, type_id=VIDEO, stream_id=1),
        message(2, 2, u32(320)),
        chunk(0, 320, audio, ts=2050, length=10, type_id=AUDIO, stream_id=1),
        # An extended timestamp, repeated on the fmt 3 continuation; then a plain delta again.
        chunk(0, 6, video[:4096], ts=0x1000000, length=5000, type_id=VIDEO, stream_id=1),
        chunk(3, 6, video[4096:5000], ext=0x1000000),
        chunk(2, 6, video[:4096], ts=40),
        chunk(3, 6, video[4096:5000]),
        # Past 32 bits: fmt 0 near the top, a delta across the wrap, fmt 0 after the wrap.
        chunk(0, 100, audio, ts=0xFFFFFFF0, length=10, type_id=AUDIO, stream_id=1),
        chunk(2, 100, audio, ts=0x20),
        chunk(0, 100, audio, ts=0x30, length=10, type_id=AUDIO, stream_id=1),
        message(2, 4, b"\x00\x06" + u32(12345)),  # ping request
        command("FCUnpublish", 4, None, "key-b"),
    ]
    writer.write(b"".join(sent))
    writer.write_eof()  # as ffmpeg closes after its unpublish
    replies = await read_until_closed(reader)
    writer.close()
    connection = await ingest.next_connection(0)
    assert await connection.end() == SessionEnd(EndReason.UNPUBLISHED, "FCUnpublish")
    assert ingest.asked == [("live", "key-b")]  # the query string is not part of the key
    assert [(t.kind, t.timestamp, t.data) for t in connection.tags] == [
        (DATA, 0, amf0.encode("onMetaData", amf0.EcmaArray(width=640.0))),
        (AUDIO, 1000, audio),
        (AUDIO, 1020, audio),
        (VIDEO, 1000, video[:300]),
        (VIDEO, 2000, video[:300]),
        (VIDEO, 2033, video),
        (AUDIO, 2050, audio),
        (VIDEO, 0x1000000, video),
        (VIDEO, 0x1000028, video),
        (AUDIO, 0xFFFFFFF0, audio),
        (AUDIO, 0x100000010, audio),
        (AUDIO, 0x100000030, audio),
    ]
    # FLV keeps 32 bits: the low 24, then the high 8 in the extended byte.
    assert FlvTag(AUDIO, 0x1FFABCDEF, b"").encode() == b"\x08\x00\x00\x00\xab\xcd\xef\xff\x00\x00\x00" + u32(11)
    # The ping answered, and the bytes received acknowledged every 4000 (our window).
    assert (4, b"\x00\x07" + u32(12345)) in replies
    acks = [int.from_bytes(payload, "big") for kind, payload in replies if kind == 3]
    assert len(acks) >= 5 and acks[0] >= 4000, replies
    assert all(later - earlier >= 4000 for earlier, later in itertools.pairwise(acks)), acks


@pytest.mark.parametrize(
    ("sent", "detail"),
    [
        (chunk(2, 9, ts=5), "chunk stream 9 starts with a type 2 header"),
        (message(2, 1, u32(0x7FFFFFFF)), "chunk size 2147483647 is outside 1..16777216"),
        (chunk(0, 6, length=9 * 1024 * 1024, type_id=VIDEO), "a 9437184-byte message (at most 8388608)"),
        (b"".join(chunk(0, csid, bytes(128), length=200, type_id=VIDEO) for csid in range(10, 80)), "more than 64 chunk streams"),
        (message(3, 20, b"\x02\x00\x07conn"), "truncated AMF0 at byte 3"),
        (message(3, 20, amf0.encode("publish", 2, None, "key-a")), "publish before connect"),
    ],
    ids=["fmt-2-first", "chunk-size", "message-size", "chunk-streams", "bad-amf0", "publish-first"],
)
async def test_protocol_errors_end_the_session(ingest: Ingest, sent: bytes, detail: str) -> None:
    reader, writer = await handshake(ingest.port)
    writer.write(sent)
    await until_closed(reader, writer, within=5)
    assert await (await ingest.next_connection(0)).end() == SessionEnd(EndReason.PROTOCOL_ERROR, detail)
    assert not ingest.asked


async def test_a_player_is_refused(ingest: Ingest) -> None:
    reader, writer = await handshake(ingest.port)
    writer.write(command("connect", 1, {"app": "live"}) + command("createStream", 2, None) + command("play", 3, None, "key-a", stream_id=1))
    received = await until_closed(reader, writer, within=5)
    assert b"NetStream.Play.Failed" in received
    assert await (await ingest.next_connection(0)).end() == SessionEnd(EndReason.REFUSED, "the peer asked to play")


async def test_a_client_stalling_mid_handshake_or_before_publish_times_out(ingest: Ingest) -> None:
    ingest.handshake_timeout = 1.0
    reader, writer = await asyncio.open_connection("127.0.0.1", ingest.port)
    writer.write(b"\x03" + bytes(1000))  # C1 cut short
    await until_closed(reader, writer, within=5)
    assert await (await ingest.next_connection(0)).end() == SessionEnd(EndReason.TIMEOUT, "no handshake in time")

    reader, writer = await handshake(ingest.port)
    writer.write(command("connect", 1, {"app": "live"}))
    started = time.monotonic()
    await until_closed(reader, writer, within=5)
    assert time.monotonic() - started < 4
    assert await (await ingest.next_connection(1)).end() == SessionEnd(EndReason.TIMEOUT, "no publish command in time")


def test_flv_header() -> None:
    assert flv_header() == b"FLV\x01\x05" + struct.pack(">I", 9) + bytes(4)
