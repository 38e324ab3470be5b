"""One FLV session in, the whole live ladder and the recording out, from a single demux loop.

    demux loop (the caller's thread) ─┬─► passthrough CmafOutput, the source untouched ("720p")
                                      ├─► Recording (fragmented mp4), when asked for
                                      └─► decoder thread: decodes the source once
                                            └─► one encoder thread per lower rendition ("360p", ...):
                                                its own VideoReformatter, libx264, CmafOutput

The demux loop never waits on the others: the decoder's queue holds compressed packets and is
unbounded, and each encoder is kept at most `max_lag` seconds of media behind by dropping
frames before they are scaled. A frame that starts a part is kept as long as the lag stays
under 4 × `max_lag` (so every part keeps its duration within the target and its index lines up
with the passthrough's), and a keyframe always: the encoders force an IDR exactly where the
source has a keyframe, and x264 inserts none of its own, so every rendition's segments start
at the same instants and share their media sequence numbers. If even the decoder falls 3 ×
`max_lag` behind, the demux loop skips the source's video up to its next keyframe.

Measured on the shared 2-core box (PyAV 18.1, veryfast, synthetic 720p30 at 2.8 Mbit/s): the
passthrough and recording alone cost 0.03 CPU-seconds per content-second, with a 360p rendition
0.25, with 480p and 360p 0.5. At a load average near 14 the passthrough still trailed the
content by ~40 ms while the encoders dropped 14% (360p) and 31% (480p) of their frames.

Each thread gets its own VideoReformatter: scaling one frame from several threads through
`VideoFrame.reformat` deadlocks in sws_scale's slice threads (notes/live.md, section 2).
"""

from __future__ import annotations

import io
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import BinaryIO, TypeVar

import av
from av.audio.stream import AudioStream
from av.packet import Packet
from av.stream import Stream
from av.video.frame import PictureType, VideoFrame
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream

from . import llhls
from .remux import FLV_INPUT_OPTIONS, CmafOutput, LivePart, Recording, Timeline, copy_packet, media_packets, open_flv, part_timing

log = logging.getLogger(__name__)

# A path, or a file-like object that blocks on read, such as a pipe. Pass it unbuffered
# (`open(fd, "rb", buffering=0)`, `sys.stdin.buffer.raw`): a BufferedReader's read(n) waits
# for all n bytes, and the demuxer asks for 32 KB at a time.
Source = str | os.PathLike[str] | BinaryIO | io.RawIOBase
OnInit = Callable[[str, bytes], None]  # (rendition name, init segment)
OnPart = Callable[[str, LivePart, bytes], None]  # (rendition name, part, its bytes)

_JOIN_TIMEOUT = 30.0  # s; a thread still running after this is stuck in a codec, not just busy
_BOUNDED = 32  # queue length when max_lag is None (offline): then the queues push back instead


class LadderError(Exception):
    """The session cannot be packaged: the caller turns this into a stream error."""


class NoVideo(LadderError):
    """The FLV has no video stream (an audio-only publish)."""


class UnsupportedCodec(LadderError):
    """The FLV's video is not H.264 (or has no AVC sequence header), or its audio is not AAC."""


class RenditionFailed(LadderError):
    """The decoder or an encoder thread raised; the original exception is the cause."""


@dataclass(frozen=True)
class RenditionSpec:
    """A lower rung to encode. Its width follows the source's aspect ratio."""

    name: str  # names its playlist and the callbacks' first argument: "360p"
    height: int
    bitrate: int  # video, bit/s: x264's average target
    maxrate: int | None = None  # VBV cap, bit/s; None: 1.1 × bitrate
    # VBV buffer, bits; None: half a second at maxrate. A second's worth let the first segment
    # (x264 starts with the buffer 90% full) run 16% over maxrate here; half a second, 9%.
    bufsize: int | None = None

    def __post_init__(self) -> None:
        if self.height < 2 or self.height % 2 or self.bitrate <= 0:
            raise ValueError("a rendition needs an even height and a positive bitrate")

    @property
    def peak_rate(self) -> int:
        return self.maxrate or round(self.bitrate * 1.1)

    @property
    def buffer_size(self) -> int:
        return self.bufsize or self.peak_rate // 2


LADDER_360P = (RenditionSpec("360p", 360, 800_000),)
LADDER_480P_360P = (RenditionSpec("480p", 480, 1_400_000), *LADDER_360P)


@dataclass(frozen=True)
class LadderOptions:
    part_target: float = 0.334  # s; what the playlists declare as PART-TARGET
    source_name: str | None = None  # the passthrough rendition's name; None: "<height>p", e.g. "720p"
    max_lag: float | None = 1.0  # s of media an encoder may fall behind before frames are dropped; None: never drop, block
    frame_rate: Fraction | None = None  # overrides the FLV's onMetaData framerate
    preset: str = "veryfast"
    encoder_threads: int = 0  # x264 threads per rendition; 0: x264 decides (slice threads under zerolatency)
    input_options: Mapping[str, str] = field(default_factory=lambda: dict(FLV_INPUT_OPTIONS))


@dataclass(frozen=True)
class SourceInfo:
    width: int
    height: int
    frame_rate: Fraction
    video_codec: str  # RFC 6381: "avc1.64001f"
    audio_codec: str | None  # "mp4a.40.2"; None: the FLV has no audio
    video_bitrate: int | None  # bit/s, as the publisher's onMetaData announced it
    audio_bitrate: int | None

    @property
    def codecs(self) -> str:
        return ",".join(codec for codec in (self.video_codec, self.audio_codec) if codec)


@dataclass(frozen=True)
class RenditionInfo:
    """What the master playlist says about a rendition. Measured rates are in `LivePackager.health()`."""

    name: str
    width: int
    height: int
    frame_rate: Fraction
    codecs: str
    bandwidth: int  # declared peak, bit/s: the VBV cap plus audio; for the passthrough, an estimate
    average_bandwidth: int
    encoded: bool  # False: the passthrough

    def playlist_entry(self, uri: str) -> llhls.Rendition:
        return llhls.Rendition(uri, self.bandwidth, self.average_bandwidth, self.width, self.height, self.codecs, self.frame_rate)


@dataclass(frozen=True)
class RenditionHealth:
    name: str
    encoded: bool
    frames: int  # pictures muxed: copied (passthrough) or encoded
    dropped_frames: int  # dropped before encoding because the encoder (or the decoder) fell behind
    parts: int
    lag: float  # s of media the encoder is behind the decoder; 0 for the passthrough
    peak_bandwidth: int  # the highest complete segment's bit/s so far; 0 before one completes
    average_bandwidth: int


@dataclass(frozen=True)
class LadderHealth:
    renditions: tuple[RenditionHealth, ...]
    decoder_lag: float  # s of media the decoder is behind the demux loop

    @property
    def dropped_frames(self) -> int:
        return sum(rendition.dropped_frames for rendition in self.renditions)


@dataclass(frozen=True)
class LadderSummary:
    source: SourceInfo
    renditions: tuple[RenditionHealth, ...]
    video_packets: int
    audio_packets: int
    skipped: int  # packets before the first keyframe, which nothing could decode
    frag_duration_us: int
    recording_path: str | None

    @property
    def dropped_frames(self) -> int:
        return sum(rendition.dropped_frames for rendition in self.renditions)


# --- RFC 6381 codec strings ----------------------------------------------------------------------


def avc_codec(extradata: bytes | None) -> str:
    """`avc1.PPCCLL` from avcC (FLV and mp4 carry it) or Annex B (x264 with global headers writes it)."""
    if extradata and len(extradata) >= 4 and extradata[0] == 1:  # avcC: version 1, then profile, compat, level
        return f"avc1.{extradata[1]:02x}{extradata[2]:02x}{extradata[3]:02x}"
    for nal in (extradata or b"").split(b"\x00\x00\x01"):
        if len(nal) >= 4 and nal[0] & 0x1F == 7:  # the SPS: profile_idc, constraint flags, level_idc follow the header
            return f"avc1.{nal[1]:02x}{nal[2]:02x}{nal[3]:02x}"
    raise UnsupportedCodec("H.264 without an AVC sequence header: no SPS in the extradata")


_AAC_PROFILES = {"Main": 1, "LC": 2, "SSR": 3, "LTP": 4, "HE-AAC": 5, "HE-AACv2": 29}


def aac_codec(extradata: bytes | None, profile: str | None = None) -> str:
    """`mp4a.40.N`, N the audio object type of the AudioSpecificConfig (or, without one, of the profile)."""
    if extradata:
        object_type = extradata[0] >> 3
        if object_type == 31 and len(extradata) >= 2:  # escape: 32 + the next six bits
            object_type = 32 + ((extradata[0] & 0x07) << 3 | extradata[1] >> 5)
    else:
        object_type = _AAC_PROFILES.get(profile or "LC", 2)
    return f"mp4a.40.{object_type}"


# --- the threads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Picture:
    frame: VideoFrame
    key: bool  # decoded from a source keyframe: the encoders make it an IDR
    delay: int  # the source's composition delay (pts - dts of its first keyframe), in its time base


@dataclass(frozen=True)
class _Compressed:
    packet: Packet[Stream]  # a copy in the source's time base
    video: bool


class _Meter:
    """A rendition's counters: written by its own threads, read by `health()` from anywhere."""

    def __init__(self, name: str, encoded: bool) -> None:
        self.name, self.encoded = name, encoded
        self.frames = self.dropped = self.parts = 0
        self.lag = 0.0
        self._segment_bytes, self._segment_seconds = 0, 0.0
        self._bytes, self._seconds = 0, 0.0
        self._peak = 0

    def part(self, part: LivePart, size: int) -> None:
        self.parts += 1
        self._segment_bytes += size
        self._segment_seconds += part.fragment.duration
        self._bytes += size
        self._seconds += part.fragment.duration
        if part.ends_segment and self._segment_seconds > 0:
            self._peak = max(self._peak, round(self._segment_bytes * 8 / self._segment_seconds))
            self._segment_bytes, self._segment_seconds = 0, 0.0

    def health(self, extra_dropped: int = 0) -> RenditionHealth:
        average = round(self._bytes * 8 / self._seconds) if self._seconds else 0
        return RenditionHealth(
            self.name, self.encoded, self.frames, self.dropped + extra_dropped, self.parts, self.lag, self._peak, average
        )


_T = TypeVar("_T")


def _put(target: queue.Queue[_T], item: _T, gone: Callable[[], bool]) -> bool:
    """Puts, waiting for room (bounded queues only) unless the consumer is gone; False if it is."""
    while True:
        try:
            target.put(item, timeout=0.1)
            return True
        except queue.Full:
            if gone():
                return False


class _Worker:
    """A thread that records the first exception it dies of and says so to the packager."""

    def __init__(self, name: str, failed: threading.Event) -> None:
        self.error: BaseException | None = None
        self._failed = failed
        self._thread = threading.Thread(target=self._guarded, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> bool:
        """True once the thread has ended (or never started)."""
        if self._thread.ident is not None:
            self._thread.join(_JOIN_TIMEOUT)
        return not self._thread.is_alive()

    def _guarded(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.error = exc
            self._failed.set()
            log.exception("live ladder thread %s failed", self._thread.name)

    def _run(self) -> None:
        raise NotImplementedError


class _Encoder(_Worker):
    """One lower rendition: scales the shared decoded frames, encodes them with x264, muxes them with the source's audio."""

    def __init__(
        self,
        spec: RenditionSpec,
        size: tuple[int, int],
        source: VideoStream,
        audio: AudioStream | None,
        rate: Fraction,
        frag_duration_us: int,
        meter: _Meter,
        callbacks: tuple[Callable[[bytes], None], Callable[[LivePart, bytes], None]],
        options: LadderOptions,
        failed: threading.Event,
    ) -> None:
        super().__init__(f"ladder-{spec.name}", failed)
        self.spec, (self.width, self.height) = spec, size
        self.meter = meter
        self.queue: queue.Queue[_Picture | Packet[Stream] | None] = queue.Queue(0 if options.max_lag is not None else _BOUNDED)
        self.progress: Fraction | None = None  # media time of the frame being scaled or encoded
        self._time_base = Fraction(source.time_base or Fraction(1, 1000))
        self._delay = 0
        self.output = CmafOutput(*callbacks, frag_duration_us)
        self._video = self.output.container.add_stream("libx264", rate=rate)
        self._configure(spec, rate, options)
        self._audio = self.output.container.add_stream_from_template(audio) if audio is not None else None

    def _configure(self, spec: RenditionSpec, rate: Fraction, options: LadderOptions) -> None:
        context = self._video.codec_context
        self._video.width, self._video.height, self._video.pix_fmt = self.width, self.height, "yuv420p"
        context.framerate = rate  # x264's rate control budgets bits per frame from this, not from the time base
        context.time_base = self._time_base  # the source's own timestamps, so every rendition shares one timeline
        context.bit_rate = spec.bitrate
        context.options = {
            "preset": options.preset,
            "tune": "zerolatency",  # no lookahead, no frame threads: a frame in, its packet out
            "bf": "0",  # WebRTC and low-latency players want no reordering
            "maxrate": str(spec.peak_rate),
            "bufsize": str(spec.buffer_size),
            "forced-idr": "1",  # a forced keyframe is an IDR, where a CMAF fragment may start
            "sc_threshold": "0",
            "x264-params": "scenecut=0:keyint=infinite",  # keyframes only where the source has them
            "threads": str(options.encoder_threads),
        }
        context.open()  # now, not at the first frame: the codec string comes from the SPS it writes

    @property
    def codec(self) -> str:
        return avc_codec(self._video.codec_context.extradata)

    def _run(self) -> None:
        try:
            self._encode_all()
        except BaseException:
            try:
                self.output.close()
            except Exception:  # the muxer fails again on the way out: the first error is the one to report
                log.warning("live ladder: closing %s after a failure failed too", self.spec.name, exc_info=True)
            raise
        self.output.close()

    def _encode_all(self) -> None:
        reformatter = VideoReformatter()  # this thread's own: see the module docstring
        while (item := self.queue.get()) is not None:
            if isinstance(item, Packet):
                if self._audio is not None:
                    item.stream = self._audio
                    self.output.mux(item, video=False)
                continue
            pts = item.frame.pts
            assert pts is not None
            self.progress = pts * self._time_base
            picture = reformatter.reformat(item.frame, width=self.width, height=self.height, format="yuv420p")
            picture.pts, picture.time_base = pts, self._time_base
            picture.pict_type = PictureType.I if item.key else PictureType.NONE
            self._delay = item.delay
            self._mux(picture)
        self._mux(None)

    def _mux(self, picture: VideoFrame | None) -> None:
        for packet in self._video.encode(picture):
            self.meter.frames += 1
            # A source with B-frames decodes each frame before showing it. Without the same
            # delay, this track would start at the first keyframe's pts rather than the
            # passthrough's dts, and the muxer would stretch its first part past the target.
            if packet.pts is not None:
                packet.dts = packet.pts - self._delay
            self.output.mux(packet, video=True)


class _PartClock:
    """Which frames will start a part: the muxer cuts at each keyframe and before the first frame
    `frag_duration` or more past the first of its part. Dropping only frames that start no part
    leaves those cuts where they were, and the last kept frame of a part lasts up to the cut."""

    def __init__(self, frag_duration_us: int, time_base: Fraction) -> None:
        self._span = Fraction(frag_duration_us, 1_000_000)
        self._time_base = time_base
        self._start: int | None = None

    def starts_part(self, pts: int, key: bool) -> bool:
        if key or self._start is None or (pts - self._start) * self._time_base >= self._span:
            self._start = pts
            return True
        return False


class _Decoder(_Worker):
    """Decodes the source once and hands every encoder the same frames and its own copy of the audio."""

    def __init__(
        self, video: VideoStream, encoders: Sequence[_Encoder], frag_duration_us: int, max_lag: float | None, failed: threading.Event
    ) -> None:
        super().__init__("ladder-decoder", failed)
        self._codec = av.CodecContext.create("h264", "r")  # _probe let nothing else through
        self._codec.extradata = video.codec_context.extradata
        self._codec.thread_type = "SLICE"  # frame threads would hold each frame back by one per thread
        self._time_base = Fraction(video.time_base or Fraction(1, 1000))
        self._encoders = encoders
        self._max_lag = None if max_lag is None else Fraction(max_lag)
        self._clock = _PartClock(frag_duration_us, self._time_base)
        self._keys: set[int] = set()  # pts of keyframe packets whose frame has not come out yet
        self._delay: int | None = None  # pts - dts of the first keyframe: the source's reordering delay
        self.queue: queue.Queue[_Compressed | None] = queue.Queue(0 if max_lag is not None else _BOUNDED)
        self.progress: Fraction | None = None  # media time of the packet being decoded
        self.skipped = 0  # source frames the demux loop never passed on (decoder too far behind)
        self.decode_errors = 0

    def _run(self) -> None:
        try:
            while (item := self.queue.get()) is not None:
                if item.video:
                    for frame in self._decode(item.packet):
                        self._fan_out(frame)
                else:
                    for encoder in self._encoders:
                        self._send(encoder, copy_packet(item.packet))
            for frame in self._decode(None):
                self._fan_out(frame)
        finally:
            for encoder in self._encoders:  # they stop at this, whatever happened here
                self._send(encoder, None)

    def _decode(self, packet: Packet[Stream] | None) -> list[VideoFrame]:
        if packet is not None:
            assert packet.pts is not None
            self.progress = packet.pts * self._time_base
            if packet.is_keyframe:
                self._keys.add(packet.pts)
                if self._delay is None and packet.dts is not None:
                    self._delay = packet.pts - packet.dts
        try:
            return self._codec.decode(packet)
        except av.error.InvalidDataError:
            self.decode_errors += 1  # a corrupt packet costs its own frame (and the GOP's rest its looks), not the session
            log.warning("live ladder: the source's video packet at %s does not decode", self.progress)
            return []

    def _fan_out(self, frame: VideoFrame) -> None:
        pts = frame.pts
        if pts is None:
            return
        key = pts in self._keys
        self._keys = {stamp for stamp in self._keys if stamp > pts}  # frames come out in pts order
        starts_part = self._clock.starts_part(pts, key)
        moment = pts * self._time_base
        for encoder in self._encoders:
            lag = moment - (encoder.progress if encoder.progress is not None else moment)
            encoder.meter.lag = float(lag)
            if not key and self._max_lag is not None and (lag > 4 * self._max_lag or (lag > self._max_lag and not starts_part)):
                encoder.meter.dropped += 1
                continue
            self._send(encoder, _Picture(frame, key, self._delay or 0))

    def _send(self, encoder: _Encoder, item: _Picture | Packet[Stream] | None) -> None:
        if encoder.error is None:
            _put(encoder.queue, item, lambda: encoder.error is not None)

    def lag(self, moment: Fraction) -> Fraction:
        return moment - (self.progress if self.progress is not None else moment)


# --- the packager --------------------------------------------------------------------------------


class LivePackager:
    """One publisher session: the FLV is probed when this is made, packaged when `run()` is called.

    The constructor raises NoVideo or UnsupportedCodec within the probe (about 32 KB of input).
    `source` and `renditions` then describe the master playlist's entries. `on_init` and `on_part`
    are called from the packager's threads (the caller's, in `run()`, for the passthrough), one at
    a time, never concurrently; they must return quickly (hop to an event loop with
    `call_soon_threadsafe`). Renditions at or above the source's height are left out: a source
    under the lowest rung gets the passthrough alone. A reconnect is a new LivePackager.
    """

    def __init__(
        self,
        source: Source,
        renditions: Sequence[RenditionSpec],
        on_init: OnInit,
        on_part: OnPart,
        *,
        recording_path: str | os.PathLike[str] | None = None,
        options: LadderOptions | None = None,
    ) -> None:
        self.options = options = options or LadderOptions()
        self._on_init, self._on_part = on_init, on_part
        self._lock = threading.Lock()  # callbacks one at a time
        self._failed = threading.Event()
        self._recording: Recording | None = None
        self._passthrough: CmafOutput | None = None
        self._encoders: list[_Encoder] = []
        self._decoder: _Decoder | None = None
        self._ran = False
        self._last_time: Fraction | None = None  # media time of the newest video packet demuxed
        self._flv = open_flv(source, options.input_options)
        try:
            self._video, self._audio = _probe(self._flv)
            self.source = _source_info(self._video, self._audio, options)
            self._setup(renditions, recording_path)
        except BaseException:
            self.close()
            raise

    def _setup(self, renditions: Sequence[RenditionSpec], recording_path: str | os.PathLike[str] | None) -> None:
        options, video, audio = self.options, self._video, self._audio
        rate, self._frag_duration = part_timing(video, options.part_target, options.frame_rate)
        name = options.source_name or f"{self.source.height}p"
        self._meter = _Meter(name, encoded=False)
        self._passthrough = CmafOutput(*self._callbacks(self._meter), self._frag_duration)
        templates = [stream for stream in (video, audio) if stream is not None]
        self._outputs = {stream.index: self._passthrough.container.add_stream_from_template(stream) for stream in templates}
        if recording_path is not None:
            self._recording = Recording(recording_path, templates)
        lower = sorted((spec for spec in renditions if spec.height < self.source.height), key=lambda spec: -spec.height)
        if len({name, *(spec.name for spec in lower)}) != len(lower) + 1:
            raise ValueError(f"rendition names must be unique: {[name, *(spec.name for spec in lower)]}")
        for spec in lower:
            width = max(2, round(self.source.width * spec.height / self.source.height / 2) * 2)
            meter = _Meter(spec.name, encoded=True)
            callbacks = self._callbacks(meter)
            encoder = _Encoder(spec, (width, spec.height), video, audio, rate, self._frag_duration, meter, callbacks, options, self._failed)
            self._encoders.append(encoder)
        if self._encoders:
            self._decoder = _Decoder(video, self._encoders, self._frag_duration, options.max_lag, self._failed)
        self.renditions = (self._source_rendition(name), *(self._encoded_rendition(encoder) for encoder in self._encoders))

    def _callbacks(self, meter: _Meter) -> tuple[Callable[[bytes], None], Callable[[LivePart, bytes], None]]:
        def deliver_init(data: bytes) -> None:
            with self._lock:
                self._on_init(meter.name, data)

        def deliver_part(part: LivePart, data: bytes) -> None:
            with self._lock:
                meter.part(part, len(data))
                self._on_part(meter.name, part, data)

        return deliver_init, deliver_part

    def _source_rendition(self, name: str) -> RenditionInfo:
        source = self.source
        video = source.video_bitrate or round(0.1 * source.width * source.height * float(source.frame_rate))  # 0.1 bit/pixel
        audio = source.audio_bitrate or (128_000 if source.audio_codec else 0)
        # The publisher's encoder caps nothing we know of: guess a peak a quarter over its average.
        return RenditionInfo(
            name, source.width, source.height, source.frame_rate, source.codecs, round(video * 1.25) + audio, video + audio, False
        )

    def _encoded_rendition(self, encoder: _Encoder) -> RenditionInfo:
        source, spec = self.source, encoder.spec
        audio = source.audio_bitrate or (128_000 if source.audio_codec else 0)
        codecs = ",".join(codec for codec in (encoder.codec, source.audio_codec) if codec)
        # BANDWIDTH is the peak segment's rate: the VBV cap and the audio, plus 10% for the mp4
        # boxes and the first segment's burst (see RenditionSpec.bufsize).
        peak = round((spec.peak_rate + audio) * 1.1)
        return RenditionInfo(spec.name, encoder.width, encoder.height, source.frame_rate, codecs, peak, spec.bitrate + audio, True)

    # --- running ---------------------------------------------------------------------------

    def run(self) -> LadderSummary:
        """Packages the session until the input ends, then flushes every rendition and the recording.

        Whatever the input raises (FFmpeg's RTMP listener ends every session with an EIO
        `av.error.OSError`) propagates after that flush; a failed decoder or encoder thread stops
        the session with RenditionFailed. Every thread has stopped when this returns or raises.
        """
        if self._ran:
            raise RuntimeError("run() packages a session once; a reconnect is a new LivePackager")
        self._ran = True
        for worker in self._workers():
            worker.start()
        try:
            counts = self._demux()
        except BaseException:
            self._finish(failing=True)
            raise
        self._finish(failing=False)
        self._raise_failure()
        return LadderSummary(self.source, self.health().renditions, *counts, self._frag_duration, self._recording_path())

    def _demux(self) -> tuple[int, int, int]:
        video_index, decoder, recording = self._video.index, self._decoder, self._recording
        passthrough = self._passthrough
        assert passthrough is not None
        timeline = Timeline(video_index)
        video_packets = audio_packets = 0
        skipping = False  # the decoder is too far behind: its video waits for the next keyframe
        for packet in media_packets(self._flv, self._outputs):
            self._raise_failure()
            if not timeline.place(packet):
                continue
            index = packet.stream.index
            video = index == video_index
            if video:
                video_packets += 1
                self._meter.frames += 1
                self._last_time = packet.dts * packet.time_base if packet.dts is not None else self._last_time
            else:
                audio_packets += 1
            feed = copy_packet(packet) if decoder is not None else None  # before muxing rebases the packet
            if recording is not None:
                recording.write(copy_packet(packet), index)
            packet.stream = self._outputs[index]
            passthrough.mux(packet, video=video)
            if decoder is None or feed is None:
                continue
            if video:
                skipping = self._skips(decoder, feed, skipping)
                if skipping:
                    decoder.skipped += 1
                    continue
            _put(decoder.queue, _Compressed(feed, video), lambda: decoder.error is not None)
        return video_packets, audio_packets, timeline.skipped

    def _skips(self, decoder: _Decoder, packet: Packet[Stream], skipping: bool) -> bool:
        """Whether this video packet bypasses the decoder, which only a keyframe ends."""
        if packet.is_keyframe:
            return False
        if skipping:
            return True
        max_lag = self.options.max_lag
        assert packet.pts is not None
        return max_lag is not None and decoder.lag(packet.pts * packet.time_base) > 3 * max_lag

    def _workers(self) -> Iterator[_Worker]:
        yield from self._encoders
        if self._decoder is not None:
            yield self._decoder

    def _finish(self, failing: bool) -> None:
        """Flushes the passthrough and the recording, then lets the decoder and the encoders drain and stop.

        With an exception already on its way out (`failing`), a close that fails too is logged,
        not raised: after a callback raised inside the muxer, closing it runs into that callback again.
        """
        error: Exception | None = None
        for output in (self._passthrough, self._recording):
            try:
                if output is not None:
                    output.close()
            except Exception as exc:
                if failing:
                    log.warning("live ladder: closing an output after a failure failed too", exc_info=True)
                error = error or exc
        decoder = self._decoder
        if decoder is not None and decoder.error is None:
            _put(decoder.queue, None, lambda: decoder.error is not None)
        stuck = [worker for worker in self._workers() if not worker.join()]
        self.close()
        if failing:
            return
        if stuck:
            raise LadderError(f"{len(stuck)} ladder thread(s) did not stop within {_JOIN_TIMEOUT} s")
        if error is not None:
            raise error

    def _raise_failure(self) -> None:
        if self._failed.is_set():
            failed = next(worker for worker in self._workers() if worker.error is not None)
            raise RenditionFailed(f"live ladder thread failed: {failed.error!r}") from failed.error

    def _recording_path(self) -> str | None:
        return self._recording.path if self._recording is not None else None

    @property
    def dropped_frames(self) -> int:
        """Frames the encoded renditions dropped so far (all of them together), for ingest health."""
        return self.health().dropped_frames

    def health(self) -> LadderHealth:
        """Counters for ingest health; safe to call from any thread while `run()` is going."""
        decoder = self._decoder
        skipped = decoder.skipped if decoder is not None else 0
        lag = 0.0
        if decoder is not None and self._last_time is not None:
            lag = max(0.0, float(decoder.lag(self._last_time)))
        renditions = (self._meter.health(), *(encoder.meter.health(skipped) for encoder in self._encoders))
        return LadderHealth(renditions, lag)

    def close(self) -> None:
        """Releases the input and every output (idempotent); `run()` ends with this."""
        if not self._ran:  # no thread was started: the encoders' outputs are ours to close
            for encoder in self._encoders:
                encoder.output.close()
        if self._passthrough is not None:
            self._passthrough.close()
        if self._recording is not None:
            self._recording.close()
        self._flv.close()

    def __enter__(self) -> LivePackager:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def package_flv(
    source: Source,
    renditions: Sequence[RenditionSpec],
    on_init: OnInit,
    on_part: OnPart,
    *,
    recording_path: str | os.PathLike[str] | None = None,
    options: LadderOptions | None = None,
    on_ready: Callable[[LivePackager], None] | None = None,
) -> LadderSummary:
    """Probes and packages one session; `on_ready` sees the packager (media info, `health()`) before the first packet."""
    with LivePackager(source, renditions, on_init, on_part, recording_path=recording_path, options=options) as packager:
        if on_ready is not None:
            on_ready(packager)
        return packager.run()


def _probe(flv: av.container.InputContainer) -> tuple[VideoStream, AudioStream | None]:
    video = next(iter(flv.streams.video), None)
    if video is None:
        raise NoVideo("the FLV has no video stream: an audio-only publish cannot feed the ladder")
    if video.codec_context.name != "h264":
        raise UnsupportedCodec(f"the FLV's video is {video.codec_context.name!r}; live streams must be H.264")
    audio = next(iter(flv.streams.audio), None)
    if audio is not None and audio.codec_context.name != "aac":
        raise UnsupportedCodec(f"the FLV's audio is {audio.codec_context.name!r}; live streams must carry AAC")
    return video, audio


def _source_info(video: VideoStream, audio: AudioStream | None, options: LadderOptions) -> SourceInfo:
    rate, _ = part_timing(video, options.part_target, options.frame_rate)
    audio_codec = aac_codec(audio.codec_context.extradata, audio.codec_context.profile) if audio is not None else None
    return SourceInfo(
        video.codec_context.width,
        video.codec_context.height,
        rate,
        avc_codec(video.codec_context.extradata),
        audio_codec,
        video.bit_rate or None,
        (audio.bit_rate or None) if audio is not None else None,
    )
