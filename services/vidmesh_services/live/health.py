"""What the ingest learns from an encoder's FLV tags without decoding anything: bit rates, frame
rate, keyframe interval, the codecs, and whether the stream is one we can package (H.264 video,
AAC audio)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from google.protobuf import timestamp_pb2
from vidmesh.live.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from . import amf0
from .rtmp import FlvTag

AUDIO, VIDEO, SCRIPT = 8, 9, 18
AVC, AAC = 7, 10  # FLV's codec ids
VIDEO_CODECS = {2: "flv1", 3: "screen", 4: "vp6f", 5: "vp6a", 6: "screen2", 7: "h264", 12: "hevc"}
AUDIO_CODECS = {0: "pcm", 1: "adpcm", 2: "mp3", 3: "pcm_le", 10: "aac", 11: "speex", 13: "opus"}
WINDOW_SECONDS = 3.0  # rates are measured over the last few seconds
# Audio this long with no video is an audio-only encoder, not a slow first keyframe.
NO_VIDEO_SECONDS = 5.0


class IngestRefused(Exception):
    """The encoder's stream cannot be packaged; error is an IngestError value."""

    def __init__(self, error: resources_pb2.IngestError, detail: str):
        super().__init__(detail)
        self.error = error
        self.detail = detail


@dataclass
class _Sample:
    at: float
    kind: int
    size: int


class HealthMeter:
    def __init__(self) -> None:
        self._samples: deque[_Sample] = deque()
        self._keyframes: deque[int] = deque(maxlen=2)  # FLV timestamps (ms) of the last two
        self._started = time.monotonic()
        self._seen_video = False
        self.metadata: dict[str, object] = {}
        self.video_codec = ""
        self.audio_codec = ""
        self.last_media = 0.0

    def observe(self, tag: FlvTag) -> None:
        """Takes one tag in; raises IngestRefused for a stream we cannot package."""
        now = time.monotonic()
        if tag.kind == SCRIPT:
            self._read_metadata(tag.data)
            return
        if not tag.data:
            return
        self.last_media = time.time()
        self._samples.append(_Sample(now, tag.kind, len(tag.data)))
        while self._samples and self._samples[0].at < now - WINDOW_SECONDS:
            self._samples.popleft()
        if tag.kind == VIDEO:
            codec = tag.data[0] & 0x0F
            self.video_codec = VIDEO_CODECS.get(codec, str(codec))
            if codec != AVC:
                raise IngestRefused(resources_pb2.INGEST_ERROR_UNSUPPORTED_CODEC, f"video codec {self.video_codec}: send H.264")
            self._seen_video = True
            if tag.data[0] >> 4 == 1 and len(tag.data) > 1 and tag.data[1] == 1:  # a keyframe's picture, not its header
                self._keyframes.append(tag.timestamp)
        elif tag.kind == AUDIO:
            codec = tag.data[0] >> 4
            self.audio_codec = AUDIO_CODECS.get(codec, str(codec))
            if codec != AAC:
                raise IngestRefused(resources_pb2.INGEST_ERROR_UNSUPPORTED_CODEC, f"audio codec {self.audio_codec}: send AAC")
            if not self._seen_video and now - self._started > NO_VIDEO_SECONDS:
                raise IngestRefused(resources_pb2.INGEST_ERROR_NO_VIDEO, f"no video in the first {NO_VIDEO_SECONDS:.0f} seconds")

    def _read_metadata(self, data: bytes) -> None:
        try:
            values = amf0.decode_all(data)
        except amf0.AmfError:
            return
        if len(values) >= 2 and values[0] == "onMetaData" and isinstance(values[1], dict):
            self.metadata = dict(values[1])

    def _rate(self, kind: int) -> int:
        samples = [s for s in self._samples if s.kind == kind]
        if len(samples) < 2:
            return 0
        span = max(samples[-1].at - samples[0].at, 1e-3)
        return int(sum(s.size for s in samples[1:]) * 8 / span)

    def health(self, dropped_frames: int = 0) -> resources_pb2.IngestHealth:
        frames = [s for s in self._samples if s.kind == VIDEO]
        span = frames[-1].at - frames[0].at if len(frames) > 1 else 0.0
        health = resources_pb2.IngestHealth(
            video_bit_rate=self._rate(VIDEO),
            audio_bit_rate=self._rate(AUDIO),
            frame_rate=round((len(frames) - 1) / span, 2) if span > 0 else 0.0,
            keyframe_interval=(self._keyframes[1] - self._keyframes[0]) / 1000 if len(self._keyframes) == 2 else 0.0,
            dropped_frames=dropped_frames,
        )
        if self.last_media:
            health.last_media_time.CopyFrom(_timestamp(self.last_media))
        return health

    def media_info(self) -> media_pb2.MediaInfo:
        meta = self.metadata

        def number(name: str) -> float:
            value = meta.get(name)
            return float(value) if isinstance(value, float | int) and not isinstance(value, bool) else 0.0

        return media_pb2.MediaInfo(
            width=int(number("width")),
            height=int(number("height")),
            container="flv",
            video_codec=self.video_codec,
            audio_codec=self.audio_codec,
            frame_rate=number("framerate"),
            bit_rate=int((number("videodatarate") + number("audiodatarate")) * 1000),
        )


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp
