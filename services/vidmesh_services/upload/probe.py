"""Probing uploaded files with PyAV, in worker processes.

FFmpeg parses untrusted bytes here, so it runs outside the server process: a file that
crashes the demuxer takes down a worker, not the Upload service, and the GIL stays free.
PyAV (and so FFmpeg's libraries) is imported in the workers only, never in the server process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

from google.protobuf import duration_pb2
from vidmesh.type.v1 import media_pb2

from ..media import BadMediaError
from ..platform.pids import die_with_parent
from ..storage.blob_fs import FilesystemBlobStore

if TYPE_CHECKING:
    import av


def probe_blob(blob_root: str, key: str) -> bytes:
    """Reads container and stream facts and decodes one video frame. Returns a serialized MediaInfo."""
    import av  # here, in the worker process: the server process never loads FFmpeg

    store = FilesystemBlobStore(Path(blob_root))
    size = store.size(key) or 0
    with store.open_read(key) as handle:
        try:
            container = av.open(handle, mode="r")
        except av.FFmpegError as exc:
            raise BadMediaError("UNREADABLE_MEDIA", f"not a media file FFmpeg can read ({exc.strerror or exc})") from None
        with container:
            if not container.streams.video:
                raise BadMediaError("NO_VIDEO_STREAM", "the file has no video stream")
            video = container.streams.video[0]
            audio = container.streams.audio[0] if container.streams.audio else None
            first = _first_frame(container, video)
            seconds = _duration_seconds(container, video)
            rate = video.average_rate or video.guessed_rate
            info = media_pb2.MediaInfo(
                duration=duration_pb2.Duration(seconds=int(seconds), nanos=int((seconds % 1) * 1e9)),
                width=video.codec_context.width,
                height=video.codec_context.height,
                container=container.format.name,
                video_codec=video.codec_context.name,
                audio_codec=audio.codec_context.name if audio else "",
                frame_rate=float(rate) if rate else 0.0,
                rotation=-int(first.rotation or 0) % 360,  # PyAV counts counterclockwise; MediaInfo clockwise
                size_bytes=size,
                bit_rate=int(container.bit_rate or 0),
                pixel_format=video.codec_context.pix_fmt or "",
            )
    return info.SerializeToString()


def _first_frame(container: av.container.InputContainer, video: av.video.stream.VideoStream) -> av.VideoFrame:
    import av

    try:
        for frame in container.decode(video):
            return frame
    except av.FFmpegError as exc:
        raise BadMediaError("UNDECODABLE_VIDEO", f"the video stream cannot be decoded ({exc.strerror or exc})") from None
    raise BadMediaError("UNDECODABLE_VIDEO", "the video stream holds no decodable frame")


def _duration_seconds(container: av.container.InputContainer, video: av.video.stream.VideoStream) -> float:
    import av

    if container.duration:
        return container.duration / av.time_base
    if video.duration and video.time_base:
        return float(video.duration * video.time_base)
    return 0.0


class Prober:
    """A small pool of spawned probe processes (spawn, not fork: the server runs gRPC threads)."""

    def __init__(self, blob_root: Path, workers: int = 2):
        self._blob_root = str(blob_root)
        self._workers = workers
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # Workers are started from the event loop's thread (on submit), which lives as long as the
        # service, so they die with it: a SIGKILLed Upload service leaves no prober behind.
        return ProcessPoolExecutor(max_workers=self._workers, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent)

    async def probe(self, key: str) -> media_pb2.MediaInfo:
        loop = asyncio.get_running_loop()
        try:
            raw = await loop.run_in_executor(self._pool, probe_blob, self._blob_root, key)
        except BrokenProcessPool:
            self._pool = self._new_pool()  # the file crashed FFmpeg; refuse it and carry on
            raise BadMediaError("UNREADABLE_MEDIA", "the file crashed the media prober") from None
        return media_pb2.MediaInfo.FromString(raw)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
