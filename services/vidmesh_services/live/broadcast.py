"""One stream on air at the ingest: its packager process, the encoder session feeding it, and the
stream's life written to the store (LIVE, RECONNECTING with a deadline, ENDED).

The packager lives as long as the broadcast, across encoder reconnects; each encoder session
is framed into its stdin (session.py). Sessions and the reconnect window are decided here; the
media work happens in the packager, so nothing an encoder sends can stop this process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from vidmesh.live.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from ..runtime.config import LiveSettings
from .chat import Chat
from .health import HealthMeter, IngestRefused
from .onair import OnAir
from .rtmp import EndReason, RtmpSession, flv_header
from .session import Frame, encode
from .store import StaleStream, StoredStream, StreamStore
from .streams import now
from .vod import RecordingPublisher

log = logging.getLogger("vidmesh.live.ingest")
LiveStream = resources_pb2.LiveStream
LIVE, RECONNECTING, ENDED = (
    resources_pb2.LIVE_STREAM_STATE_LIVE,
    resources_pb2.LIVE_STREAM_STATE_RECONNECTING,
    resources_pb2.LIVE_STREAM_STATE_ENDED,
)
IngestError = resources_pb2.IngestError
# The packager joins the recording before it exits: minutes for hours of video.
PACKAGER_EXIT_SECONDS = 600.0
STATUS_EVERY_SECONDS = 1.0
# How a session's RTMP end reads on the stream resource.
# How the packager's refusals read on the stream resource.
PACKAGER_ERRORS: dict[str, IngestError] = {
    "NO_VIDEO": resources_pb2.INGEST_ERROR_NO_VIDEO,
    "UNSUPPORTED_CODEC": resources_pb2.INGEST_ERROR_UNSUPPORTED_CODEC,
}
SESSION_ERRORS: dict[EndReason, IngestError] = {
    EndReason.UNPUBLISHED: resources_pb2.INGEST_ERROR_UNSPECIFIED,
    EndReason.DISCONNECTED: resources_pb2.INGEST_ERROR_DISCONNECTED,
    EndReason.TIMEOUT: resources_pb2.INGEST_ERROR_STALLED,
    EndReason.PROTOCOL_ERROR: resources_pb2.INGEST_ERROR_PROTOCOL,
}


async def change_stream(store: StreamStore, stream_id: str, change: Callable[[LiveStream], bool]) -> StoredStream | None:
    """Applies change to a fresh copy of the stream until the write lands (change returns False:
    nothing to write). None if the stream is gone."""
    while True:
        stored = await store.get_stream(stream_id)
        if stored is None:
            return None
        stream = LiveStream()
        stream.CopyFrom(stored.stream)
        if not change(stream):
            return stored
        stream.update_time.CopyFrom(now())
        try:
            etag = await store.replace_stream(StoredStream(stream, stored.key_hash, stored.etag))
        except StaleStream:
            continue
        return StoredStream(stream, stored.key_hash, etag)


class Broadcast:
    """A stream between its first publish and its end."""

    def __init__(
        self,
        stream_id: str,
        store: StreamStore,
        on_air: OnAir,
        chat: Chat,
        recordings: RecordingPublisher | None,
        settings: LiveSettings,
        on_finished: Callable[[str], None],
    ):
        self.stream_id = stream_id
        self._store = store
        self._on_air = on_air
        self._chat = chat
        self._recordings = recordings
        self._record = False
        self._ladder: list[media_pb2.Rendition] = []
        self._settings = settings
        self._on_finished = on_finished
        self._packager: asyncio.subprocess.Process | None = None
        self._events: asyncio.Task[None] | None = None
        self._session: RtmpSession[StoredStream] | None = None
        self._deadline: asyncio.Task[None] | None = None
        self._failure: tuple[IngestError, str] | None = None
        self._reserved = False
        self.dropped_frames = 0
        self.finished = False

    @property
    def publishing(self) -> bool:
        return self._reserved or self._session is not None

    def reserve(self) -> None:
        """Taken by an accepted encoder until its session runs (so a second one is refused)."""
        self._reserved = True

    async def await_encoder(self) -> None:
        """For a stream a previous ingest left on air: RECONNECTING, with a window from now."""
        await self._encoder_gone(resources_pb2.INGEST_ERROR_DISCONNECTED, "the ingest restarted")

    async def _start_packager(self) -> asyncio.subprocess.Process:
        if self._packager is None or self._packager.returncode is not None:
            record = ["--record"] if self._record else []
            self._packager = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "vidmesh_services.live.packager",
                self.stream_id,
                *record,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            self._events = asyncio.create_task(self._read_events(self._packager))
        return self._packager

    async def _read_events(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            kind = event.get("event")
            if kind == "session_failed" and self._session is not None:
                error = PACKAGER_ERRORS.get(str(event.get("error")), resources_pb2.INGEST_ERROR_PACKAGER_FAILED)
                self._failure = (error, str(event.get("detail", "")))
                self._session.close("the packager refused the stream")
            elif kind == "health":
                self.dropped_frames = int(event.get("dropped_frames", 0))
            elif kind == "ladder":
                self._ladder = [
                    media_pb2.Rendition(
                        name=r["name"],
                        width=r["width"],
                        height=r["height"],
                        bandwidth=r["bandwidth"],
                        playlist_path=f"{r['name']}/index.m3u8",
                    )
                    for r in event.get("renditions", [])
                ]
            elif kind == "recording" and self._recordings is not None:
                media = media_pb2.MediaInfo.FromString(base64.b64decode(str(event["media"])))
                try:
                    await self._recordings.publish(self.stream_id, Path(str(event["path"])), media)
                except Exception:  # the file stays on disk; the log says why
                    log.exception("stream %s: publishing the recording failed", self.stream_id)
        if self._session is not None and process.returncode not in (None, 0):
            self._failure = (resources_pb2.INGEST_ERROR_PACKAGER_FAILED, f"the packager exited ({process.returncode})")
            self._session.close("the packager failed")

    async def _send(self, kind: Frame, data: bytes = b"") -> None:
        process = self._packager
        if process is None or process.stdin is None or process.returncode is not None:
            raise BrokenPipeError("the packager is gone")
        process.stdin.write(encode(kind, data))
        await process.stdin.drain()

    async def publish(self, session: RtmpSession[StoredStream], stored: StoredStream) -> None:
        """Runs one encoder session to its end, then leaves the stream RECONNECTING (or ENDED)."""
        if self._deadline is not None:
            self._deadline.cancel()
        self._session, self._failure, self._reserved = session, None, False
        self._record = stored.stream.record
        meter = HealthMeter()
        watchers: list[asyncio.Task[None]] = []
        try:
            await self._went_live()
            await self._start_packager()
            await self._send(Frame.SESSION_START)
            await self._send(Frame.DATA, flv_header())
            watchers = [
                asyncio.create_task(self._watch_control(session, stored.key_hash)),
                asyncio.create_task(self._report(meter)),
            ]
            async with contextlib.aclosing(session.media()) as tags:
                async for tag in tags:
                    meter.observe(tag)
                    await self._send(Frame.DATA, tag.encode())
        except IngestRefused as refused:
            self._failure = (refused.error, refused.detail)
            session.close(refused.detail)
        except (BrokenPipeError, ConnectionResetError):
            self._failure = self._failure or (resources_pb2.INGEST_ERROR_PACKAGER_FAILED, "the packager exited")
            session.close("the packager failed")
        finally:
            for task in watchers:
                task.cancel()
            self._session = None
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await self._send(Frame.SESSION_END)
        await self._session_ended(session)

    async def _went_live(self) -> None:
        def live(stream: LiveStream) -> bool:
            stream.state = LIVE
            stream.ClearField("reconnect_deadline")
            if not stream.HasField("start_time"):
                stream.start_time.CopyFrom(now())
            return True

        stored = await change_stream(self._store, self.stream_id, live)
        if stored is not None:
            start = stored.stream.start_time
            await self._on_air.went_on_air(self.stream_id, start.seconds * 1000 + start.nanos // 1_000_000)

    async def _watch_control(self, session: RtmpSession[StoredStream], key_hash: str) -> None:
        """Disconnects the encoder once its stream ends, is deleted or gets a new key."""
        while True:
            await asyncio.sleep(self._settings.control_poll_seconds)
            stored = await self._store.get_stream(self.stream_id)
            if stored is None or stored.stream.state == ENDED or stored.key_hash != key_hash:
                session.close("the stream ended or its key changed")
                return

    async def _report(self, meter: HealthMeter) -> None:
        while True:
            if not meter.last_media:  # nothing measured yet: no figures rather than zeros
                await asyncio.sleep(0.1)
                continue
            figures = LiveStream(health=meter.health(self.dropped_frames), ingest=meter.media_info(), renditions=self._ladder)
            with contextlib.suppress(Exception):  # Valkey briefly away: the next report catches up
                await self._on_air.publish_status(self.stream_id, figures)
            await asyncio.sleep(STATUS_EVERY_SECONDS)

    async def _session_ended(self, session: RtmpSession[StoredStream]) -> None:
        end = session.end
        error: IngestError = resources_pb2.INGEST_ERROR_UNSPECIFIED
        detail = end.detail if end else ""
        if self._failure is not None:
            error, detail = self._failure
        elif end is not None:
            error = SESSION_ERRORS.get(end.reason, resources_pb2.INGEST_ERROR_UNSPECIFIED)
        await self._encoder_gone(error, detail)

    async def _encoder_gone(self, error: IngestError, detail: str) -> None:
        window = self._settings.reconnect_window_seconds
        deadline = now()
        deadline.FromMilliseconds(int((time.time() + window) * 1000))

        def reconnecting(stream: LiveStream) -> bool:
            stream.last_ingest_end.CopyFrom(resources_pb2.IngestEnd(error=error, detail=detail[:500], time=now()))
            if stream.state == ENDED:
                return True
            stream.state = RECONNECTING
            stream.reconnect_deadline.CopyFrom(deadline)
            return True

        stored = await change_stream(self._store, self.stream_id, reconnecting)
        if stored is None or stored.stream.state == ENDED:
            await self.finish()
            return
        log.info("stream %s: encoder gone (%s); reconnect window %.0f s", self.stream_id, detail or error, window)
        self._deadline = asyncio.create_task(self._wait_for_encoder(window))

    async def _wait_for_encoder(self, window: float) -> None:
        """Ends the stream when the window passes with no encoder back, or at once when its owner
        ends (or deletes) it meanwhile."""
        until = time.monotonic() + window
        while time.monotonic() < until:
            await asyncio.sleep(min(self._settings.control_poll_seconds, max(until - time.monotonic(), 0)))
            stored = await self._store.get_stream(self.stream_id)
            if stored is None or stored.stream.state == ENDED:
                await self.finish()
                return

        def gone(stream: LiveStream) -> bool:
            if stream.state != RECONNECTING:
                return False
            stream.state = ENDED
            stream.end_reason = resources_pb2.END_REASON_ENCODER_GONE
            stream.end_time.CopyFrom(now())
            stream.ClearField("reconnect_deadline")
            return True

        if (ended := await change_stream(self._store, self.stream_id, gone)) is not None and ended.stream.state == ENDED:
            await self._chat.end(self.stream_id)  # viewers of the chat are told
        await self.finish()

    async def finish(self) -> None:
        """Ends the stream's packaging: ENDLIST for viewers, the packager stopped, off air."""
        if self.finished:
            return
        self.finished = True
        if self._session is not None:
            self._session.close("the stream ended")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await self._send(Frame.STREAM_END)
        await self._stop_packager()
        await self._on_air.went_off_air(self.stream_id)
        self._on_finished(self.stream_id)

    async def leave(self) -> None:
        """The ingest stops: the encoder is let go and the packager stopped without ending the
        stream, which stays on air for the next ingest to adopt."""
        if self._deadline is not None:
            self._deadline.cancel()
        if self._session is not None:
            self._session.close("the ingest server is stopping")
        await self._stop_packager()

    async def _stop_packager(self) -> None:
        process = self._packager
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), PACKAGER_EXIT_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
        if self._events is not None:
            await self._events
