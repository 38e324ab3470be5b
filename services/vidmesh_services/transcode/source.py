"""Reading the source: open it, probe it, stream its decoded frames, and say plainly what is wrong with it.

Every FFmpeg failure while reading becomes a BadMediaError with a reason the uploader can act
on. Failures while writing are not caught here: those are ours, and worth a retry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.video.stream import VideoStream

from ..media import BadMediaError
from .ladder import SourceFacts


@dataclass(frozen=True)
class Source:
    container: InputContainer
    video: VideoStream
    audio: AudioStream | None
    duration: float  # seconds, as the container declares it; 0 when it does not
    origin: Fraction  # the source time, in seconds, that becomes time 0 of the output


@contextlib.contextmanager
def open_source(path: Path) -> Iterator[Source]:
    """Opens a source with a decodable video stream, or raises BadMediaError saying why not."""
    try:
        container = av.open(str(path), mode="r")
    except av.FFmpegError as exc:
        raise BadMediaError("UNREADABLE_MEDIA", f"not a media file FFmpeg can read ({exc.strerror or exc})") from exc
    with container:
        if not container.streams.video:
            if container.streams.audio:
                # Audio-only uploads are refused like Upload's probe refuses them: a video
                # platform has no poster, storyboard or picture to offer for them.
                raise BadMediaError("NO_VIDEO_STREAM", "the file is audio only; vidmesh needs a video stream")
            raise BadMediaError("NO_VIDEO_STREAM", "the file has no video stream")
        video = container.streams.video[0]
        if video.codec_context is None:
            raise BadMediaError("UNDECODABLE_VIDEO", "the video stream's codec is not one FFmpeg can decode")
        video.thread_type = "AUTO"  # FFmpeg's own frame and slice threads: one decoder keeps up with the ladder
        audio = container.streams.audio[0] if container.streams.audio else None
        if audio is not None and audio.codec_context is None:
            audio = None  # an undecodable soundtrack is dropped, not fatal: the picture still plays
        start = container.start_time
        yield Source(
            container=container,
            video=video,
            audio=audio,
            duration=container.duration / av.time_base if container.duration else 0.0,
            origin=Fraction(start, av.time_base) if start is not None else Fraction(0),
        )


def probe_source(path: Path) -> SourceFacts:
    """The facts the ladder is planned from; decodes the first frame for its display rotation."""
    with open_source(path) as source:
        first = next((frame for frame in decoded_frames(source) if isinstance(frame, av.VideoFrame)), None)
        if first is None:
            raise BadMediaError("UNDECODABLE_VIDEO", "the video stream holds no decodable frame")
        rate = source.video.average_rate or source.video.guessed_rate
        return SourceFacts(
            width=first.width,
            height=first.height,
            rotation=first.rotation % 360,
            frame_rate=float(rate) if rate else 0.0,
            sample_aspect_ratio=source.video.sample_aspect_ratio or Fraction(1),
        )


def decoded_frames(source: Source) -> Iterator[av.VideoFrame | av.AudioFrame]:
    """Video and audio frames in file order, read once. Damage or truncation is a BadMediaError."""
    streams = [stream for stream in (source.video, source.audio) if stream is not None]
    position = 0.0  # seconds into the source, for telling the uploader where the damage is
    try:
        for packet in source.container.demux(streams):
            if packet.pts is not None and packet.time_base is not None:
                position = float(packet.pts * packet.time_base - source.origin)
            # FFmpeg marks a packet corrupt when the file ends inside it (a cut-short MP4 whose
            # index came first otherwise reads like a shorter video) or its container says so.
            if packet.is_corrupt:
                raise BadMediaError("CORRUPT_MEDIA", f"the file is damaged or cut short near {position:.1f} s")
            for frame in packet.decode():
                # Only video and audio streams are demuxed, so no subtitle frame ever comes out.
                if isinstance(frame, (av.VideoFrame, av.AudioFrame)):
                    yield frame
    except av.FFmpegError as exc:
        raise BadMediaError("CORRUPT_MEDIA", f"the file is damaged near {position:.1f} s") from exc
