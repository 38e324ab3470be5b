"""The rendition ladder: which renditions a source gets, at what size, frame rate and bit rate.

Pure planning, no media I/O: the worker probes the source, `plan_ladder` decides, and the
pipeline encodes exactly what the plan says. Every bit rate, the x264 preset and the segment
duration live in `LadderConfig`, so the benchmark can give FFmpeg the very same ladder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from vidmesh.type.v1 import media_pb2

from ..media import BadMediaError


@dataclass(frozen=True)
class Rung:
    """One step of the ladder, named by the picture's short side: "720p" is 1280x720, or 720x1280 upright."""

    short_side: int
    bitrate: int  # target video bit rate, bits per second

    @property
    def name(self) -> str:
        return f"{self.short_side}p"


# The seed's ladder (144p 200 kb/s ... 720p 5 Mb/s, 1080p 8 Mb/s, 4K 25 Mb/s) plus 240p and 1440p,
# which close the two widest gaps in it, so a player always has a step within about 2x.
DEFAULT_RUNGS = (
    Rung(2160, 25_000_000),
    Rung(1440, 16_000_000),
    Rung(1080, 8_000_000),
    Rung(720, 5_000_000),
    Rung(480, 1_400_000),
    Rung(360, 800_000),
    Rung(240, 400_000),
    Rung(144, 200_000),
)


@dataclass(frozen=True)
class LadderConfig:
    rungs: tuple[Rung, ...] = DEFAULT_RUNGS
    audio_bitrate: int = 128_000
    x264_preset: str = "veryfast"
    segment_seconds: float = 6.0
    # An IDR frame this often, as Apple's HLS authoring specification recommends (2 s): a player
    # can start or seek within a segment without waiting for the next one. Segments are cut on
    # these frames, so segment_seconds must be a whole multiple of keyframe_seconds.
    keyframe_seconds: float = 2.0
    max_frame_rate: float = 60.0
    # Capped VBR: x264 may spend up to this multiple of the target rate over one buffer.
    peak_bitrate_ratio: float = 1.5
    buffer_seconds: float = 2.0
    # A rung the source misses by at most this fraction is still made, at the source's own size,
    # so a 1918x1078 screen capture gets its "1080p" instead of topping out at 720p.
    rung_tolerance: float = 0.05
    # Larger pictures are refused rather than tying a worker up for hours (8K is 7680x4320).
    max_side: int = 8192
    max_pixels: int = 36_000_000

    def __post_init__(self) -> None:
        keyframes_per_segment = Fraction(self.segment_seconds) / Fraction(self.keyframe_seconds)
        if self.keyframe_seconds <= 0 or keyframes_per_segment.denominator != 1:
            raise ValueError(
                f"segment_seconds ({self.segment_seconds}) must be a whole multiple of keyframe_seconds ({self.keyframe_seconds})"
            )


@dataclass(frozen=True)
class SourceFacts:
    """What the ladder needs to know about a source, as a probe reports it."""

    width: int  # as stored, before rotation
    height: int
    rotation: int = 0  # display rotation in degrees; 90 and 270 (either direction) stand the picture up
    frame_rate: float = 0.0  # average frames per second; 0 when unknown
    sample_aspect_ratio: Fraction = Fraction(1)  # width of one stored pixel over its height

    @classmethod
    def from_media_info(cls, info: media_pb2.MediaInfo) -> SourceFacts:
        return cls(width=info.width, height=info.height, rotation=info.rotation, frame_rate=info.frame_rate)

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as a viewer sees the picture: square pixels, upright."""
        width = round(self.width * self.sample_aspect_ratio)
        if self.rotation % 180 == 90:
            return self.height, width
        return width, self.height


@dataclass(frozen=True)
class RenditionPlan:
    name: str
    width: int
    height: int
    frame_rate: Fraction
    bitrate: int  # target, bits per second
    max_bitrate: int  # VBV peak, bits per second
    buffer_size: int  # VBV buffer, bits


def plan_ladder(source: SourceFacts, config: LadderConfig = LadderConfig()) -> list[RenditionPlan]:
    """The renditions to encode, best first: never above the source's size, aspect kept, even sizes.

    Raises BadMediaError for a picture with no size or one over the configured limits.
    """
    width, height = _checked_display_size(source, config)
    short, long = min(width, height), max(width, height)
    frame_rate = output_frame_rate(source.frame_rate, config.max_frame_rate)

    def plan(name: str, rung_short: int, bitrate: int) -> RenditionPlan:
        if rung_short >= short:  # the source's own size, trimmed to even
            out_short, out_long = _floor_even(short), _floor_even(long)
        else:
            out_short, out_long = rung_short, min(_nearest_even(rung_short * long / short), _floor_even(long))
        out_width, out_height = (out_long, out_short) if width >= height else (out_short, out_long)
        return RenditionPlan(
            name=name,
            width=out_width,
            height=out_height,
            frame_rate=frame_rate,
            bitrate=bitrate,
            max_bitrate=round(bitrate * config.peak_bitrate_ratio),
            buffer_size=round(bitrate * config.buffer_seconds),
        )

    rungs = sorted(config.rungs, key=lambda rung: rung.short_side, reverse=True)
    plans = [plan(rung.name, rung.short_side, rung.bitrate) for rung in rungs if rung.short_side * (1 - config.rung_tolerance) <= short]
    if not plans:  # smaller than the smallest rung: one rendition at its own size
        smallest = rungs[-1]
        plans = [plan(f"{_floor_even(short)}p", short, smallest.bitrate)]
    return plans


def output_frame_rate(source_rate: float, max_rate: float) -> Fraction:
    """The constant frame rate to encode at: the source's, divided down to at most max_rate.

    A rate near a common one (a phone's variable 30.2 fps average, 29.87 for 29.97) becomes
    that rate, which players expect. Dividing by a whole number (120 -> 60, 100 -> 50) keeps
    motion cadence even, where capping at 60 would drop every other frame unevenly.
    """
    if source_rate <= 0:
        return Fraction(30)  # unknown: the most common rate; the pipeline re-times frames anyway
    rate = _common_rate_near(source_rate)
    return rate / math.ceil(rate / Fraction(max_rate))


def _common_rate_near(rate: float) -> Fraction:
    candidates = [Fraction(round(rate)), *(Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 120))]
    nearest = min(candidates, key=lambda candidate: abs(candidate - Fraction(rate)))
    if abs(nearest - Fraction(rate)) <= nearest / 100:
        return nearest
    return Fraction(rate).limit_denominator(1001)


def _checked_display_size(source: SourceFacts, config: LadderConfig) -> tuple[int, int]:
    width, height = source.display_size
    if width < 2 or height < 2:
        raise BadMediaError("NO_PICTURE_SIZE", f"the video reports a picture of {width}x{height} pixels")
    if max(width, height) > config.max_side or width * height > config.max_pixels:
        raise BadMediaError(
            "DIMENSIONS_TOO_LARGE",
            f"the video is {width}x{height}; the largest accepted is {config.max_side} pixels a side "
            f"and {config.max_pixels / 1e6:g} megapixels",
        )
    return width, height


def _floor_even(value: int) -> int:
    return max(2, value - value % 2)


def _nearest_even(value: float) -> int:
    return max(2, 2 * round(value / 2))
