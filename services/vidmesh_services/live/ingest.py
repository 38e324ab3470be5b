"""The RTMP ingest (`vidmesh up` runs one): every encoder publishes to one port, rtmp://host:1935/
live/{stream key}. The key is checked before anything starts: a wrong, rotated or ended key is
refused (the encoder sees an error status and the connection closes) and nothing is written.
An accepted session feeds its stream's packager (broadcast.py), one process per stream.

The ingest keeps which streams are on air in memory. When it restarts, the streams it had on
air are left RECONNECTING with a fresh window: their encoders reconnect to the new process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from prometheus_client import Counter, Gauge
from vidmesh.live.v1 import resources_pb2

from ..catalog.client import CatalogClient
from ..runtime.auth import hash_key
from ..runtime.calls import ServiceChannels
from ..runtime.config import Config, load_config
from ..runtime.logs import setup_logging
from ..runtime.metrics import serve_metrics
from ..storage.open import open_blob_store, open_stream_store
from ..storage.redis_client import open_redis
from ..transcode.client import TranscodeClient
from .broadcast import Broadcast, change_stream
from .chat import Chat
from .onair import OnAir
from .rtmp import Accept, Decision, Refuse, RtmpSession
from .store import StoredStream, StreamStore
from .streams import now
from .vod import RecordingPublisher

log = logging.getLogger("vidmesh.live.ingest")
APP = "live"
SESSIONS = Counter("vidmesh_live_ingest_sessions_total", "Encoder connections, by outcome", ["outcome"])
ON_AIR = Gauge("vidmesh_live_streams_on_air", "Streams this ingest packages now")


class Ingest:
    def __init__(self, config: Config, store: StreamStore, on_air: OnAir, chat: Chat, recordings: RecordingPublisher):
        self._config = config
        self._settings = config.live
        self._store = store
        self._on_air = on_air
        self._chat = chat
        self._recordings = recordings
        self._broadcasts: dict[str, Broadcast] = {}
        self._connections: set[asyncio.Task[None]] = set()

    async def serve(self, stop: asyncio.Event) -> None:
        await self._store.wait_ready()
        await self._adopt_orphans()
        server = await asyncio.start_server(self._connection, self._config.host, self._config.ports.rtmp)
        log.info("RTMP ingest on rtmp://%s:%d/%s", self._config.host, self._config.ports.rtmp, APP)
        async with server:
            await stop.wait()
        for broadcast in list(self._broadcasts.values()):
            await broadcast.leave()

    async def _adopt_orphans(self) -> None:
        """Streams a previous ingest left on air: RECONNECTING, with a window from now."""
        for stream_id in await self._on_air.on_air(offset=0, count=10_000):
            broadcast = self._broadcast(stream_id)
            await broadcast.await_encoder()

    def _broadcast(self, stream_id: str) -> Broadcast:
        found = self._broadcasts.get(stream_id)
        if found is None or found.finished:
            found = self._broadcasts[stream_id] = Broadcast(
                stream_id, self._store, self._on_air, self._chat, self._recordings, self._settings, self._finished
            )
            ON_AIR.set(len(self._broadcasts))
        return found

    def _finished(self, stream_id: str) -> None:
        self._broadcasts.pop(stream_id, None)
        ON_AIR.set(len(self._broadcasts))

    async def _authorize(self, app: str, key: str) -> Decision[StoredStream]:
        if app != APP:
            return self._refused("bad_app", f"unknown application {app[:40]!r}: publish to /{APP}/<stream key>")
        stored = await self._store.stream_for_key(hash_key(key))
        if stored is None:
            return self._refused("bad_key", "unknown stream key")
        stream = stored.stream
        if stream.state == resources_pb2.LIVE_STREAM_STATE_ENDED:
            return self._refused("ended", "the stream has ended: create a new one")
        existing = self._broadcasts.get(stream.id)
        if existing is not None and existing.publishing:
            return self._refused("busy", "another encoder is publishing on this stream")
        if existing is None and len(self._broadcasts) >= self._settings.max_streams:
            await self._record_refusal(stream.id, resources_pb2.INGEST_ERROR_AT_CAPACITY, "the ingest server is at capacity")
            return self._refused("capacity", "the ingest server runs as many streams as it may; try again later")
        self._broadcast(stream.id).reserve()  # before any await: a second encoder now finds it busy
        SESSIONS.labels("accepted").inc()
        return Accept(stored)

    def _refused(self, outcome: str, reason: str) -> Refuse:
        SESSIONS.labels(outcome).inc()
        return Refuse(reason)

    async def _record_refusal(self, stream_id: str, error: resources_pb2.IngestError, detail: str) -> None:
        def refused(stream: resources_pb2.LiveStream) -> bool:
            stream.last_ingest_end.CopyFrom(resources_pb2.IngestEnd(error=error, detail=detail, time=now()))
            return True

        await change_stream(self._store, stream_id, refused)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            session = RtmpSession(reader, writer, self._authorize, idle_timeout=self._settings.stall_timeout_seconds)
            publish = await session.accept()
            if publish is None:
                return
            await self._broadcast(publish.grant.stream.id).publish(session, publish.grant)
        except Exception:
            log.exception("ingest session failed")
        finally:
            self._connections.discard(task)


async def run(config: Config, stop: asyncio.Event) -> None:
    client = open_redis(config.effective_redis_url)
    store = open_stream_store(config)
    channels = ServiceChannels(config)
    try:
        chat = Chat(client, config.live.chat_burst, config.live.chat_refill_seconds)
        recordings = RecordingPublisher(store, open_blob_store(config), CatalogClient(channels), TranscodeClient(channels))
        await Ingest(config, store, OnAir(client), chat, recordings).serve(stop)
    finally:
        await channels.close()
        await store.close()
        await client.aclose()


def main() -> None:
    config = load_config()
    setup_logging("live-ingest", config.log_level)
    serve_metrics(config, "live_ingest")

    async def start() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(config, stop)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(start())


if __name__ == "__main__":
    main()
