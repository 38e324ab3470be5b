"""FLV in, CMAF parts out: the publisher's H.264 and AAC remuxed untouched into LL-HLS parts.

Runs in the ingest's worker process, one call per publisher session; no threads. The mp4 muxer
writes each fragment while it muxes the first packet of the next one, so a part reaches
`on_part` about one frame after its last frame arrived.

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

import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

import av
from av.container import InputContainer, OutputContainer
from av.packet import Packet
from av.stream import Stream

from .cmaf import CmafSink, FragmentInfo

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
    propagates, but only after the parts muxed so far have been flushed.
    """
    with av.open(source, "r", format="flv", options=dict(input_options)) as flv:
        video = next(iter(flv.streams.video), None)
        rate = frame_rate or (video.average_rate if video is not None else None) or FALLBACK_FRAME_RATE
        tick = Fraction(video.time_base) if video is not None and video.time_base else Fraction(1, 1000)
        frag_duration = fragment_duration_us(part_target, Fraction(rate), tick)
        assembler = _PartAssembler(on_part)
        sink = CmafSink(on_init, assembler.fragment)
        out = av.open(sink, "w", format="mp4", options={"movflags": MOVFLAGS, "frag_duration": str(frag_duration)})
        try:
            counts = _copy(flv, out, video, assembler)
        finally:
            out.close()  # flushes the last fragment, even when the input failed
            assembler.finish()
    return RemuxSummary(assembler.parts, counts[0], counts[1], counts[2], frag_duration)


def _copy(flv: InputContainer, out: OutputContainer, video: Stream | None, assembler: _PartAssembler) -> tuple[int, int, int]:
    outputs = {stream.index: out.add_stream_from_template(stream) for stream in (*flv.streams.video, *flv.streams.audio)}
    video_index = video.index if video is not None else -1
    video_packets = audio_packets = skipped = 0
    # The timeline starts at the first keyframe (audio-only: the first packet). Left at the FLV's
    # own start (AAC priming puts video ~20 ms in), the muxer would stretch the first frame to
    # reach 0, and the first part would overrun the part target by that much.
    origin: Fraction | None = None
    for packet, dts in _packets(flv, outputs):
        is_video = packet.stream.index == video_index
        if origin is None:
            if video is not None and not (is_video and packet.is_keyframe):
                skipped += 1  # nothing can decode what comes before the first keyframe
                continue
            origin = dts * packet.time_base
        shift = round(origin / packet.time_base)
        if dts < shift:
            skipped += 1  # audio from before the first picture
            continue
        packet.dts = dts - shift
        if packet.pts is not None:
            packet.pts -= shift
        if is_video:
            assembler.video_packet(packet.is_keyframe)
            video_packets += 1
        else:
            audio_packets += 1
        packet.stream = outputs[packet.stream.index]
        out.mux(packet)
    return video_packets, audio_packets, skipped


def _packets(flv: InputContainer, outputs: Mapping[int, object]) -> Iterator[tuple[Packet[Stream], int]]:
    """Packets to copy, with their decode time.

    Demuxing ends with empty flush packets; data streams (FLV script tags) have no output.
    """
    for packet in flv.demux():
        if packet.dts is not None and packet.size and packet.stream.index in outputs:
            yield packet, packet.dts
