"""The encoders: one H.264 rendition per thread, and the one AAC track every rendition shares.

Each track is written by FFmpeg's HLS muxer as fMP4: `init.mp4` plus numbered `.m4s` segments
and a playlist that `playlists.finalize_media_playlists` rewrites afterwards.
"""

from __future__ import annotations

import math
import queue
import threading
from fractions import Fraction
from pathlib import Path

import av
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.frame import PictureType

from .frames import FrameShaper, starts_interval
from .ladder import LadderConfig, RenditionPlan

PLAYLIST = "index.m3u8"
INIT_SEGMENT = "init.mp4"


def timeline_start(frame_rate: Fraction) -> Fraction:
    """Where both tracks' timelines begin, in seconds: about one second, on a whole frame.

    Not 0: x264 decodes B-frame GOPs a few frames before it shows them, AAC's priming frame
    plays before the first sample, and an fMP4 timeline cannot go below 0. Left alone, each
    track's muxer shifts its own track forward by its own amount, and the audio would run
    ~60 ms ahead of the picture; starting both at the same positive time keeps them in sync.
    """
    return math.ceil(frame_rate) / frame_rate


def _open_hls_track(folder: Path, segment_seconds: float) -> OutputContainer:
    folder.mkdir(parents=True)
    return av.open(
        str(folder / PLAYLIST),
        "w",
        format="hls",
        options={
            "hls_time": str(segment_seconds),  # cut at the first keyframe at or after each multiple
            "hls_segment_type": "fmp4",
            "hls_playlist_type": "vod",  # keeps every segment in the playlist
            "hls_fmp4_init_filename": INIT_SEGMENT,
            "hls_segment_filename": str(folder / "%05d.m4s"),
        },
    )


class VideoTrackEncoder:
    """Shapes, encodes and segments one rendition on its own thread.

    The decoding thread hands frames over through a short queue, so memory stays bounded by
    `queue_frames` decoded frames however long the video is. PyAV releases the GIL inside
    FFmpeg and x264, so these threads really do run in parallel.
    """

    def __init__(self, plan: RenditionPlan, folder: Path, config: LadderConfig, queue_frames: int):
        self.plan = plan
        self._frames_per_keyframe = plan.frame_rate * Fraction(config.keyframe_seconds).limit_denominator(1000)
        self._time_base = 1 / plan.frame_rate
        self._first_pts = round(timeline_start(plan.frame_rate) * plan.frame_rate)
        self._shaper = FrameShaper(plan.width, plan.height)
        self._output = _open_hls_track(folder, config.segment_seconds)
        self._stream = self._output.add_stream("libx264", rate=plan.frame_rate)
        self._stream.width, self._stream.height, self._stream.pix_fmt = plan.width, plan.height, "yuv420p"
        self._stream.bit_rate = plan.bitrate
        # Frame threads, as the ffmpeg CLI uses; PyAV's default, slice threads, measured slower here.
        self._stream.codec_context.thread_type = "FRAME"
        # Closed GOPs of one keyframe interval: IDR frames only where starts_interval() forces them,
        # and a segment boundary is always one of them. keyint is the longest gap between two such
        # ticks, and with scene cuts off x264 places no keyframe of its own before keyint (so
        # min-keyint has nothing to do).
        keyint = math.ceil(self._frames_per_keyframe)
        self._stream.options = {
            "preset": config.x264_preset,
            "maxrate": str(plan.max_bitrate),
            "bufsize": str(plan.buffer_size),
            "forced-idr": "1",
            "x264-params": f"keyint={keyint}:scenecut=0:open-gop=0",
        }
        self._queue: queue.Queue[tuple[av.VideoFrame, int] | None] = queue.Queue(maxsize=queue_frames)
        self._error: Exception | None = None
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, name=f"encode-{plan.name}", daemon=True)
        self._thread.start()

    def submit(self, frame: av.VideoFrame, tick: int) -> None:
        """Queues `frame` as output frame number `tick`; raises what stopped this encoder, if anything did."""
        if self._error is not None:
            raise self._error
        self._queue.put((frame, tick))

    def finish(self) -> None:
        """Encodes what is queued, flushes x264 and closes the segments."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abandon(self) -> None:
        """Stops without encoding what is still queued (the job failed elsewhere)."""
        self._abandoned = True
        self._queue.put(None)
        self._thread.join()

    @property
    def extradata(self) -> bytes:
        """x264's SPS and PPS (valid once finished): what the CODECS attribute is read from."""
        return bytes(self._stream.codec_context.extradata or b"")

    def _run(self) -> None:
        items = iter(self._queue.get, None)
        try:
            with self._output:  # closing writes the last segment, so it belongs inside the try
                for frame, tick in items:
                    if not self._abandoned:
                        self._encode(frame, tick)
                if not self._abandoned:
                    self._output.mux(self._stream.encode(None))
        except Exception as exc:  # handed to the decoding thread, which raises it at its next submit
            self._error = exc
            for _ in items:  # keep the decoding thread unblocked until it sends the end
                pass

    def _encode(self, frame: av.VideoFrame, tick: int) -> None:
        picture = self._shaper.shape(frame)
        picture.pts, picture.time_base = self._first_pts + tick, self._time_base
        # Decoded frames carry the source's picture types, which x264 would obey: reset them.
        picture.pict_type = PictureType.I if starts_interval(tick, self._frames_per_keyframe) else PictureType.NONE
        self._output.mux(self._stream.encode(picture))


class AudioTrackEncoder:
    """Encodes the soundtrack once, as AAC-LC stereo, into its own HLS track that every rendition shares.

    Runs on the decoding thread: AAC costs about 1% of the video encoders' time. The track is
    only created with the first decoded sound, so an audio stream that holds none leaves none.
    """

    CODECS = "mp4a.40.2"  # RFC 6381 for AAC-LC, the profile FFmpeg's aac encoder writes
    CHANNELS = 2

    def __init__(self, folder: Path, config: LadderConfig, source_rate: int, origin: Fraction, start: Fraction):
        self._folder = folder
        self._config = config
        # 44.1 and 48 kHz are kept as they are; anything else is resampled to 48 kHz.
        self._rate = source_rate if source_rate in (44100, 48000) else 48000
        self._origin = origin
        self._start = start  # timeline_start() of the video
        self._track: tuple[OutputContainer, AudioStream] | None = None
        self._next_pts = 0  # in source samples

    @property
    def has_sound(self) -> bool:
        return self._track is not None

    def encode(self, frame: av.AudioFrame) -> None:
        if self._track is None:
            self._track = self._open()
            # From here on samples are counted rather than each frame's timestamp trusted, so
            # gaps and jitter in the source cannot desynchronise the track.
            offset = frame.pts * frame.time_base - self._origin if frame.pts is not None and frame.time_base else 0
            self._next_pts = round((self._start + max(0, offset)) * frame.sample_rate)
        output, stream = self._track
        frame.pts, frame.time_base = self._next_pts, Fraction(1, frame.sample_rate)
        self._next_pts += frame.samples
        output.mux(stream.encode(frame))

    def finish(self) -> None:
        if self._track is not None:
            output, stream = self._track
            output.mux(stream.encode(None))
            output.close()

    def abandon(self) -> None:
        if self._track is not None:
            self._track[0].close()

    def _open(self) -> tuple[OutputContainer, AudioStream]:
        output = _open_hls_track(self._folder, self._config.segment_seconds)
        stream = output.add_stream("aac", rate=self._rate, layout="stereo")
        stream.bit_rate = self._config.audio_bitrate
        return output, stream
