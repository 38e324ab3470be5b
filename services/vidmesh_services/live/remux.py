"""FLV in, CMAF parts out: the publisher's H.264 and AAC remuxed untouched into LL-HLS parts.

`remux_flv` runs in the ingest's worker process, one call per publisher session; no threads.
The pieces it is built from (`CmafOutput`, `Timeline`, `part_timing`) also serve the encoded
ladder (`ladder.py`), and so does the crash-safe recording (`Recording`, `finish_recording`).
The mp4 muxer writes each fragment while it muxes the first packet of the next one, so a part
reaches `on_part` about one frame after its last frame arrived.

Two measured FFmpeg behaviours shape this module:

* `frag_duration` is a minimum, not a cap: the muxer cuts before the first packet whose decode
  time is `frag_duration` or more past the first sample of its own track in the fragment, so a
  part holds every frame before that point, lasting up to a frame longer than asked. FLV's
  millisecond timestamps jitter each frame by ±1 ms on top. `fragment_duration_us` therefore
  asks for a value just under a whole number of frames that, jitter included, fits the part
  target, which keeps the declared PART-TARGET honest.
* `fflags=nobuffer` discards the packets read while probing the input, and with them the first
  keyframe: the first GOP is lost. Packets read during probing are handed out at once, not
  late, so leaving the flag off costs no latency.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import struct
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, BinaryIO

import av
from av.container import InputContainer, OutputContainer
from av.packet import Packet
from av.stream import Stream
from av.video.stream import VideoStream

from .cmaf import CmafSink, FragmentInfo

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

FLV_INPUT_OPTIONS: Mapping[str, str] = {"probesize": "32768", "analyzeduration": "0"}
MOVFLAGS = "empty_moov+default_base_moof+frag_keyframe"
FALLBACK_FRAME_RATE = Fraction(30)  # only when the FLV announces none


@dataclass(frozen=True)
class LivePart:
    fragment: FragmentInfo
    ends_segment: bool  # the next part starts with a keyframe, or nothing follows: its segment is complete


@dataclass(frozen=True)
class RemuxSummary:
    parts: int
    video_packets: int
    audio_packets: int
    skipped: int  # packets before the first keyframe, which nothing could decode
    frag_duration_us: int


def fragment_duration_us(part_target: float, frame_rate: Fraction, tick: Fraction = Fraction(1, 1000)) -> int:
    """The muxer's `frag_duration` that cuts parts of n whole frames, n as many as fit `part_target`.

    Timestamps counted in `tick`s (FLV: ms) put n frames n/fps apart rounded either way to a
    tick, so n is the most frames whose span, rounded up to a tick, fits the target: at 30 fps
    that is 10 frames for a target of 0.334 s but only 9 for 1/3 s, since 10 frames can span
    334 ms. The muxer cuts before the first frame at least `frag_duration` past the part's
    first: the shortest span n frames can have does that for frame n, and frame n - 1 never
    reaches it. Asking for the top of that range also leaves the audio track, whose own span
    the muxer checks too, at most a tick in which to cut first, and a cut there still falls
    between the same two frames.
    """
    frame, target = 1 / frame_rate, Fraction(part_target).limit_denominator(1_000_000)  # 0.334 as 167/500, not its float
    frames = max(1, math.floor(target / frame))
    while frames > 1 and math.ceil(frames * frame / tick) * tick > target:
        frames -= 1
    return max(1, math.floor(math.floor(frames * frame / tick) * tick * 1_000_000))


class _PartAssembler:
    """Turns the sink's fragments into parts that know whether they end their segment.

    A fragment's successor starts with the next video packet in decode order, whose key flag
    the remuxer saw when it muxed it; when the muxer cut on an audio packet before that video
    packet arrived, the part waits for it (at most a frame). Fragments without a video sample
    travel with the next part, since a part of no duration trips players.
    """

    def __init__(self, on_part: Callable[[LivePart, bytes], None]) -> None:
        self._on_part = on_part
        self._keys: deque[bool] = deque()  # video packets muxed but not yet in a finished fragment
        self._held: tuple[FragmentInfo, bytes] | None = None
        self._carried = b""
        self.parts = 0

    def video_packet(self, key: bool) -> None:
        """Called before the packet is muxed."""
        if self._held is not None:
            self._emit(*self._held, ends_segment=key)
            self._held = None
        self._keys.append(key)

    def fragment(self, info: FragmentInfo, data: bytes) -> None:
        if info.samples == 0:
            self._carried += data
            return
        data, self._carried = self._carried + data, b""
        if self._held is not None:  # no video packet came between (an audio-only stream): this fragment tells
            self._emit(*self._held, ends_segment=info.independent)
            self._held = None
        for _ in range(min(info.samples, len(self._keys))):
            self._keys.popleft()
        if self._keys:
            self._emit(info, data, ends_segment=self._keys[0])
        else:
            self._held = (info, data)

    def finish(self) -> None:
        """After the muxer closed: the last part ends its segment. Trailing audio-only data is dropped."""
        if self._held is not None:
            self._emit(*self._held, ends_segment=True)
            self._held = None

    def _emit(self, info: FragmentInfo, data: bytes, *, ends_segment: bool) -> None:
        self.parts += 1
        self._on_part(LivePart(info, ends_segment), data)


class CmafOutput:
    """One rendition's fMP4 muxer: its CmafSink cuts the bytes into parts, its assembler flags segment ends.

    Every part reaches `on_part` from the thread that muxes the packet which completes it; the
    init segment reaches `on_init` when the first packet is muxed (the muxer writes its header then).
    """

    def __init__(self, on_init: Callable[[bytes], None], on_part: Callable[[LivePart, bytes], None], frag_duration_us: int) -> None:
        self._assembler = _PartAssembler(on_part)
        self._sink = CmafSink(on_init, self._assembler.fragment)
        options = {"movflags": MOVFLAGS, "frag_duration": str(frag_duration_us)}
        self.container: OutputContainer = av.open(self._sink, "w", format="mp4", options=options)
        self._closed = False

    @property
    def parts(self) -> int:
        return self._assembler.parts

    def mux(self, packet: Packet[Stream], *, video: bool) -> None:
        if video:
            self._assembler.video_packet(packet.is_keyframe)
        self.container.mux(packet)

    def close(self) -> None:
        """Flushes the last fragment and hands on the last part (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.container.close()
        finally:
            self._assembler.finish()


class Timeline:
    """Starts the outputs' timeline at the first keyframe, shifting every packet by the same amount.

    Left at the FLV's own start (AAC priming puts video ~20 ms in), the muxer would stretch the
    first frame to reach 0, and the first part would overrun the part target by that much.
    Without a video stream the timeline starts at the first packet.
    """

    def __init__(self, video_index: int | None) -> None:
        self._video_index = video_index
        self._origin: Fraction | None = None
        self.skipped = 0  # packets before the first keyframe, which nothing could decode, and audio before it

    def place(self, packet: Packet[Stream]) -> bool:
        """Shifts the packet's timestamps in place; False: drop it."""
        dts = packet.dts
        assert dts is not None
        if self._origin is None:
            if self._video_index is not None and not (packet.stream.index == self._video_index and packet.is_keyframe):
                self.skipped += 1
                return False
            self._origin = dts * packet.time_base
        shift = round(self._origin / packet.time_base)
        if dts < shift:
            self.skipped += 1
            return False
        packet.dts = dts - shift
        if packet.pts is not None:
            packet.pts -= shift
        return True


def copy_packet(packet: Packet[Stream]) -> Packet[Stream]:
    """A new packet with the same bytes, timestamps and key flag, for another muxer or another thread.

    Muxing rebases a packet's timestamps in place, so one packet object cannot be shared by two
    outputs muxed from different threads.
    """
    copy = Packet(bytes(packet))
    copy.pts, copy.dts, copy.time_base = packet.pts, packet.dts, packet.time_base
    copy.duration = packet.duration
    copy.is_keyframe = packet.is_keyframe
    return copy


def open_flv(
    source: str | os.PathLike[str] | BinaryIO | io.RawIOBase, input_options: Mapping[str, str] = FLV_INPUT_OPTIONS
) -> InputContainer:
    path_or_file = os.fspath(source) if isinstance(source, os.PathLike) else source
    return av.open(path_or_file, "r", format="flv", options=dict(input_options))


def part_timing(video: Stream | None, part_target: float, frame_rate: Fraction | None) -> tuple[Fraction, int]:
    """(frame rate, the muxer's frag_duration in µs) for an FLV's video stream."""
    rate = frame_rate or (video.average_rate if isinstance(video, VideoStream) else None) or FALLBACK_FRAME_RATE
    tick = Fraction(video.time_base) if video is not None and video.time_base else Fraction(1, 1000)
    return Fraction(rate), fragment_duration_us(part_target, Fraction(rate), tick)


def media_packets(flv: InputContainer, wanted: Container[int]) -> Iterator[Packet[Stream]]:
    """Packets of the wanted streams. Demuxing ends with empty flush packets; data streams (FLV script tags) are skipped."""
    for packet in flv.demux():
        if packet.dts is not None and packet.size and packet.stream.index in wanted:
            yield packet


def remux_flv(
    source: str | BinaryIO,
    on_init: Callable[[bytes], None],
    on_part: Callable[[LivePart, bytes], None],
    *,
    part_target: float = 0.334,
    frame_rate: Fraction | None = None,
    input_options: Mapping[str, str] = FLV_INPUT_OPTIONS,
) -> RemuxSummary:
    """Remuxes one FLV session (a path, or a file-like object yielding the FLV byte stream) into parts.

    `frame_rate` overrides the rate the FLV announces (its onMetaData framerate). Whatever the
    input raises (FFmpeg's own RTMP listener ends every session with an EIO `av.error.OSError`)
    propagates, but only after the parts muxed so far have been flushed. For the encoded ladder
    and the recording, see `ladder.LivePackager`.
    """
    with open_flv(source, input_options) as flv:
        video = next(iter(flv.streams.video), None)
        _, frag_duration = part_timing(video, part_target, frame_rate)
        output = CmafOutput(on_init, on_part, frag_duration)
        try:
            counts = _copy(flv, output, video)
        finally:
            output.close()  # flushes the last fragment, even when the input failed
    return RemuxSummary(output.parts, *counts, frag_duration)


def _copy(flv: InputContainer, output: CmafOutput, video: Stream | None) -> tuple[int, int, int]:
    outputs = {stream.index: output.container.add_stream_from_template(stream) for stream in (*flv.streams.video, *flv.streams.audio)}
    video_index = video.index if video is not None else None
    timeline = Timeline(video_index)
    video_packets = audio_packets = 0
    for packet in media_packets(flv, outputs):
        if not timeline.place(packet):
            continue
        is_video = packet.stream.index == video_index
        if is_video:
            video_packets += 1
        else:
            audio_packets += 1
        packet.stream = outputs[packet.stream.index]
        output.mux(packet, video=is_video)
    return video_packets, audio_packets, timeline.skipped


# --- the recording -------------------------------------------------------------------------------

# One fragment per GOP; `flush_packets` hands each to the OS as soon as the muxer writes it, so
# a process crash (SIGKILL included) loses at most the GOP being recorded. A machine crash can
# lose more: nothing calls fsync.
RECORDING_OPTIONS: Mapping[str, str] = {"movflags": MOVFLAGS, "flush_packets": "1"}


class Recording:
    """The source's packets, untouched, in a fragmented mp4 file that stays readable if the process dies."""

    def __init__(self, path: str | os.PathLike[str], templates: Iterable[Stream]) -> None:
        self.path = os.fspath(path)
        self._container: OutputContainer = av.open(self.path, "w", format="mp4", options=dict(RECORDING_OPTIONS))
        self._streams = {template.index: self._container.add_stream_from_template(template) for template in templates}
        self._closed = False

    def write(self, packet: Packet[Stream], source_index: int) -> None:
        """Muxes `packet` (a copy: muxing rebases its timestamps) as the recording's copy of stream `source_index`."""
        packet.stream = self._streams[source_index]
        self._container.mux(packet)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._container.close()


@dataclass(frozen=True)
class RecordingSummary:
    video_frames: int
    audio_packets: int
    duration: float  # s, from the first video frame's start to the last frame's end
    torn_bytes: int  # the unfinished fragment a crash left behind, which was left out


def finish_recording(path: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> RecordingSummary:
    """Remuxes a (possibly crashed) recording into a progressive mp4 with `faststart` for the VOD pipeline.

    Only whole fragments are copied: the demuxer would otherwise hand out the samples of a torn
    last fragment, the last of them cut short.
    """
    path = os.fspath(path)
    size, complete = os.path.getsize(path), complete_length(path)
    with contextlib.ExitStack() as stack:
        source: str | io.RawIOBase = path if complete == size else stack.enter_context(_Prefix(path, complete))
        recording = stack.enter_context(av.open(source, "r", format="mp4"))
        out = stack.enter_context(av.open(os.fspath(out_path), "w", format="mp4", options={"movflags": "+faststart"}))
        video_frames, audio_packets, duration = _copy_recording(recording, out)
    return RecordingSummary(video_frames, audio_packets, duration, size - complete)


def _copy_recording(recording: InputContainer, out: OutputContainer) -> tuple[int, int, float]:
    streams = {stream.index: out.add_stream_from_template(stream) for stream in (*recording.streams.video, *recording.streams.audio)}
    video_frames = audio_packets = 0
    start: Fraction | None = None
    end = Fraction(0)
    for packet in media_packets(recording, streams):
        if packet.stream.type == "video":
            video_frames += 1
            begins = (packet.pts if packet.pts is not None else packet.dts or 0) * packet.time_base
            start = begins if start is None else min(start, begins)
            end = max(end, begins + (packet.duration or 0) * packet.time_base)
        else:
            audio_packets += 1
        packet.stream = streams[packet.stream.index]
        out.mux(packet)
    return video_frames, audio_packets, float(end - (start or 0))


def complete_length(path: str | os.PathLike[str]) -> int:
    """Bytes of the file that hold whole top-level boxes up to the last complete init segment or `moof`+`mdat` pair."""
    complete = position = 0
    pending_moof = False
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        while position + 8 <= size:
            file.seek(position)
            header = file.read(16)
            length, kind = struct.unpack_from(">I4s", header)
            if length == 1 and len(header) == 16:
                (length,) = struct.unpack_from(">Q", header, 8)
            if length < 8 or position + length > size:
                break  # a box the crash cut short, or one running to the end of the file
            position += length
            if kind == b"moof":
                pending_moof = True
            elif (kind == b"mdat" and pending_moof) or kind in (b"ftyp", b"moov", b"mfra"):
                pending_moof = False
                complete = position
    return complete


class _Prefix(io.RawIOBase):
    """The first `length` bytes of a file, readable and seekable, for the demuxer to see no torn tail."""

    def __init__(self, path: str, length: int) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 (closed by close())
        self._length = length

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        allowed = max(0, min(len(view), self._length - self._file.tell()))
        return self._file.readinto(view[:allowed])

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            return self._file.seek(self._length + offset)
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()
        super().close()
