"""A finished broadcast's recording becomes a video: stored as the video's source in the blob
store, created in the catalog (the stream's owner, title, description and visibility) and queued
for the normal transcode pipeline, then named on the stream (recording_video).

Every step is idempotent, keyed by the stream: the video id derives from the stream id, the
catalog returns the owner's video that exists, and the transcode job's request id is the
stream's name, so a retry after a crash queues nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from vidmesh.catalog.v1 import resources_pb2 as catalog_pb2
from vidmesh.live.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from ..catalog.client import CatalogClient
from ..storage.blobs import BlobStore, source_key
from ..transcode.client import TranscodeClient
from .store import StreamStore

log = logging.getLogger("vidmesh.live.vod")
PART_SIZE = 8 * 1024 * 1024


def recording_video_id(stream_id: str) -> str:
    return f"{stream_id}-rec"


def recording_video_id_of(key: str) -> str:
    return key.split("/")[1]  # raw/{video}/source


class RecordingPublisher:
    def __init__(self, store: StreamStore, blobs: BlobStore, catalog: CatalogClient, transcode: TranscodeClient):
        self._store = store
        self._blobs = blobs
        self._catalog = catalog
        self._transcode = transcode

    async def publish(self, stream_id: str, path: Path, media: media_pb2.MediaInfo) -> str | None:
        """Turns the recording at path into the stream's video; returns its name (None if the
        stream is gone). The file is removed once the blob store holds it."""
        from .broadcast import change_stream  # (broadcast imports this module)

        stored = await self._store.get_stream(stream_id)
        if stored is None:
            return None
        stream = stored.stream
        video_id = recording_video_id(stream_id)
        key = source_key(video_id)
        await asyncio.to_thread(self._put_file, key, path)
        fields = catalog_pb2.Video(title=stream.title, description=stream.description, visibility=stream.visibility)
        await self._catalog.create_video(video_id, stream.owner, fields, media)
        await self._transcode.submit_job(video_id, stream.owner, key, request_id=f"streams/{stream_id}/recording")
        name = f"videos/{video_id}"

        def named(changed: resources_pb2.LiveStream) -> bool:
            changed.recording_video = name
            return True

        await change_stream(self._store, stream_id, named)
        await asyncio.to_thread(path.unlink, missing_ok=True)
        log.info("stream %s recorded as %s", stream_id, name)
        return name

    def _put_file(self, key: str, path: Path) -> None:
        size = path.stat().st_size
        name = f"live-recordings/{recording_video_id_of(key)}"
        self._blobs.begin_multipart(name, key, size=size, part_size=PART_SIZE)
        with path.open("rb") as source:
            index = 0
            while chunk := source.read(PART_SIZE):
                self._blobs.write_part(name, index, chunk)
                index += 1
        self._blobs.complete_multipart(name)
        self._blobs.abort_multipart(name)  # the bookkeeping only: the source stays
