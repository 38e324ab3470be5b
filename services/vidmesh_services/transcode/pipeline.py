"""The transcoding pipeline: one source file in, an adaptive HLS ladder out (no queue, no RPC).

    source ─ demux+decode (once) ─┬─ constant-rate clock ─┬─ thread: shape → x264 → HLS  (per rendition)
                                  │                       └─ poster, storyboard
                                  └─ AAC → HLS (one audio track shared by every rendition)

Packaging: fMP4 (CMAF) segments, not MPEG-TS. Every player vidmesh targets reads fMP4 (hls.js
through MSE, which cannot take TS without remuxing it in JavaScript; Safari and iOS since iOS
10; ExoPlayer); LL-HLS partial segments are fMP4, so live can share this packaging; fMP4 carries
less overhead than TS's 188-byte packets and PES headers, most at low bit rates; and the same
segments could also be listed in a DASH manifest. Audio is its own track (an EXT-X-MEDIA
group), as CMAF keeps one track per file: encoded and stored once, not once per rendition.

Parallelism, measured on this 2-core machine with a 1080p30 60 s source (7.6 Mb/s H.264 +
AAC), the default ladder up to 1080p (6 renditions) and up to 720p (5), preset veryfast:

    design                                                       1080p-topped   720p-topped
    one thread for everything (x264 frame threads)                   45 s           29 s
    decoder thread + one thread per rendition that scales,           44-49 s        26-30 s
      encodes and segments its own frames (this design)
    decoder process + one encoder process per rendition, frames      52 s           33 s
      handed over through a shared-memory ring
    Debian's ffmpeg 5.1, one command: split, scale, libx264, hls     48 s           31 s

Threads beat processes because PyAV releases the GIL inside FFmpeg and x264, so threads
already keep both cores busy (~90 CPU-seconds per minute of video, the same as ffmpeg's),
while processes spend ~12 more CPU-seconds copying every decoded frame in and out of shared
memory. Per-rendition threads beat one thread when the top rendition no longer dominates
(720p-topped) because scaling runs in parallel too. So: 1.2-1.4x real time for the full
ladder, 2.0-2.3x for the 720p-topped one, at parity with ffmpeg; peak memory 620 MB and
365 MB (ffmpeg: 590 MB and 340 MB), bounded by `queue_frames` decoded frames per rendition
plus x264's own frame threads and lookahead, whatever the length of the video.

Bad media: anything FFmpeg cannot read, a file with no video stream (audio-only included: the
platform has no picture to show for it, and Upload's probe refuses it the same way), a codec
with no decoder, a stream with no decodable frame, and damage or truncation found mid-stream
all raise BadMediaError with a reason and a message for the uploader, at the point they are
found, with every encoder thread stopped. Odd sizes, rotation, variable frame rate, 10-bit and
4:4:4 sources are transcoded (see frames.py); a source shorter than a segment gets one segment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
from vidmesh.type.v1 import media_pb2

from ..media import BadMediaError
from ..storage.blobs import AUDIO_FOLDER
from .frames import ConstantRateClock
from .ladder import LadderConfig, RenditionPlan
from .playlists import AudioRendition, Variant, avc_codecs, finalize_media_playlists, write_master_playlist
from .previews import POSTER, STORYBOARD_FOLDER, STORYBOARD_TRACK, PosterPicker, PreviewConfig, Storyboard
from .source import Source, decoded_frames, open_source
from .tracks import PLAYLIST, AudioTrackEncoder, VideoTrackEncoder, timeline_start

# progress(stage, percent): stage is ENCODING then PACKAGING; percent runs 0 to 100 within each.
Progress = Callable[[str, float], None]
ENCODING = "encoding"
PACKAGING = "packaging"

MASTER_PLAYLIST = "master.m3u8"


@dataclass(frozen=True)
class TranscodeConfig:
    ladder: LadderConfig = field(default_factory=LadderConfig)
    previews: PreviewConfig = field(default_factory=PreviewConfig)
    # How far each rendition's encoder may fall behind the decoder, in frames: bounds memory.
    queue_frames: int = 8


@dataclass(frozen=True)
class RenditionOutput:
    plan: RenditionPlan
    playlist_path: str  # relative to the output folder
    codecs: str  # RFC 6381, video and audio, as in the master playlist
    bandwidth: int  # measured peak, video plus audio, bits per second
    average_bandwidth: int

    def to_proto(self) -> media_pb2.Rendition:
        return media_pb2.Rendition(
            name=self.plan.name,
            width=self.plan.width,
            height=self.plan.height,
            bandwidth=self.bandwidth,
            average_bandwidth=self.average_bandwidth,
            codecs=self.codecs,
            frame_rate=float(self.plan.frame_rate),
            playlist_path=self.playlist_path,
        )


@dataclass(frozen=True)
class TranscodeResult:
    renditions: tuple[RenditionOutput, ...]  # best first
    duration_seconds: float  # of the encoded video
    has_audio: bool
    master_playlist: str = MASTER_PLAYLIST  # paths relative to the output folder
    poster: str = POSTER
    storyboard: str = f"{STORYBOARD_FOLDER}/{STORYBOARD_TRACK}"


def transcode(
    source_path: Path,
    out_dir: Path,
    plan: Sequence[RenditionPlan],
    config: TranscodeConfig = TranscodeConfig(),
    progress: Progress = lambda stage, percent: None,
) -> TranscodeResult:
    """Decodes `source_path` once and writes the planned ladder as HLS, with poster and storyboard, into `out_dir`.

    Raises BadMediaError when the source cannot be transcoded; any other exception (including
    one raised by `progress`, which is how a caller cancels) stops every encoder and propagates.
    `out_dir` must be empty or absent, and may hold partial output after a failure.
    """
    if not plan or len({rendition.frame_rate for rendition in plan}) != 1:
        raise ValueError("a plan needs at least one rendition, all at one frame rate")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ValueError(f"{out_dir} is not empty: a retried job must start from a clean folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    with open_source(source_path) as source:
        transcoding = _Transcoding(source, out_dir, plan, config)
        transcoding.encode(progress)
    progress(PACKAGING, 0.0)
    result = transcoding.package()
    progress(PACKAGING, 100.0)
    return result


class _Transcoding:
    """One transcoding: the encoders and preview makers fed from one decoder, then their outputs packaged."""

    def __init__(self, source: Source, out_dir: Path, plan: Sequence[RenditionPlan], config: TranscodeConfig):
        self._source = source
        self._out_dir = out_dir
        self._plan = plan
        self._config = config
        top = plan[0]
        self._poster = PosterPicker(
            out_dir / POSTER, top.width, top.height, source.duration * config.previews.poster_position, config.previews
        )
        self._storyboard = Storyboard(out_dir / STORYBOARD_FOLDER, (top.width, top.height), source.duration, config.previews)
        self._clock = ConstantRateClock(top.frame_rate, source.origin)
        self._videos: list[VideoTrackEncoder] = []
        self._audio: AudioTrackEncoder | None = None
        self._reported_percent = -1

    def encode(self, progress: Progress) -> None:
        with contextlib.ExitStack() as on_failure:
            for rendition in self._plan:
                video = VideoTrackEncoder(rendition, self._out_dir / rendition.name, self._config.ladder, self._config.queue_frames)
                on_failure.callback(video.abandon)
                self._videos.append(video)
            if self._source.audio is not None:
                self._audio = AudioTrackEncoder(
                    self._out_dir / AUDIO_FOLDER,
                    self._config.ladder,
                    self._source.audio.sample_rate,
                    self._source.origin,
                    timeline_start(self._plan[0].frame_rate),
                )
                on_failure.callback(self._audio.abandon)
            self._decode_and_feed(progress)
            for video in self._videos:
                video.finish()
            if self._audio is not None:
                self._audio.finish()
            on_failure.pop_all()

    def _decode_and_feed(self, progress: Progress) -> None:
        for frame in decoded_frames(self._source):
            if isinstance(frame, av.AudioFrame):
                assert self._audio is not None
                self._audio.encode(frame)
                continue
            for tick, picture in self._clock.push(frame):
                self._feed(tick, picture)
            self._report(progress)
        for tick, picture in self._clock.finish():
            self._feed(tick, picture)
        if self._clock.ticks == 0:
            raise BadMediaError("UNDECODABLE_VIDEO", "the video stream holds no decodable frame")

    def _report(self, progress: Progress) -> None:
        """Calls `progress` once per whole percent of the source decoded (when its duration is known)."""
        if not self._source.duration:
            return
        percent = min(100.0, self._seconds(self._clock.ticks) / self._source.duration * 100)
        if int(percent) != self._reported_percent:
            self._reported_percent = int(percent)
            progress(ENCODING, percent)

    def _feed(self, tick: int, picture: av.VideoFrame) -> None:
        for video in self._videos:
            video.submit(picture, tick)
        seconds = self._seconds(tick)
        self._poster.offer(picture, seconds)
        self._storyboard.offer(picture, seconds)

    def _seconds(self, ticks: int) -> float:
        return float(ticks / self._plan[0].frame_rate)

    def package(self) -> TranscodeResult:
        duration = self._seconds(self._clock.ticks)
        self._poster.finish()
        self._storyboard.finish(duration)
        has_sound = self._audio is not None and self._audio.has_sound
        paths = [self._out_dir / video.plan.name / PLAYLIST for video in self._videos]
        if has_sound:
            paths.append(self._out_dir / AUDIO_FOLDER / PLAYLIST)
        playlists = finalize_media_playlists(paths)
        audio = playlists[-1] if has_sound else None
        renditions = []
        for video, playlist in zip(self._videos, playlists[: len(self._videos)], strict=True):
            renditions.append(
                RenditionOutput(
                    plan=video.plan,
                    playlist_path=f"{video.plan.name}/{PLAYLIST}",
                    codecs=",".join([avc_codecs(video.extradata), *([AudioTrackEncoder.CODECS] if audio else [])]),
                    bandwidth=playlist.peak_bitrate() + (audio.peak_bitrate() if audio else 0),
                    average_bandwidth=playlist.average_bitrate() + (audio.average_bitrate() if audio else 0),
                )
            )
        write_master_playlist(
            self._out_dir / MASTER_PLAYLIST,
            [
                Variant(r.playlist_path, r.bandwidth, r.average_bandwidth, r.plan.width, r.plan.height, r.codecs, r.plan.frame_rate)
                for r in renditions
            ],
            AudioRendition(f"{AUDIO_FOLDER}/{PLAYLIST}", AudioTrackEncoder.CHANNELS) if audio else None,
        )
        return TranscodeResult(renditions=tuple(renditions), duration_seconds=duration, has_audio=audio is not None)
