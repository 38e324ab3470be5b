"""Turning decoded frames into the pictures the encoders take: upright, sized, 8-bit 4:2:0, constant rate."""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction

import av
from av.filter import Graph
from av.filter.context import FilterContext

Tick = tuple[int, av.VideoFrame]  # (output frame number, the decoded frame shown at it)


class FilterChain:
    """A configured filter graph that is one straight line of filters, from a buffer to a buffersink."""

    def __init__(self, graph: Graph, filters: list[FilterContext]):
        graph.link_nodes(*filters).configure()
        self.graph = graph  # the filters only hold a weak reference to their graph: keep it alive
        self.input, self.output = filters[0], filters[-1]


class FrameShaper:
    """Scales frames to one size, stands rotated phone video upright, and converts any pixel format
    (10-bit, 4:4:4, full range) to the 8-bit limited-range yuv420p every H.264 player decodes.

    One FFmpeg filter graph per output size. The graph takes its own reference to each frame, so
    several shapers on several threads can read the same decoded frame safely.
    """

    def __init__(self, width: int, height: int):
        self._width, self._height = width, height
        self._chain: FilterChain | None = None

    def shape(self, frame: av.VideoFrame) -> av.VideoFrame:
        if self._chain is None:
            self._chain = self._build(frame)
        self._chain.input.push(frame)
        shaped = self._chain.output.pull()
        assert isinstance(shaped, av.VideoFrame)
        return shaped

    def _build(self, first: av.VideoFrame) -> FilterChain:
        # The display matrix says how far to turn the stored picture counterclockwise. Scaling
        # first and turning second moves fewer pixels, so a sideways picture is scaled to the
        # transposed size.
        turn = first.rotation % 360
        size = f"{self._height}:{self._width}" if turn in (90, 270) else f"{self._width}:{self._height}"
        turns: dict[int, list[tuple[str, str | None]]] = {
            90: [("transpose", "cclock")],
            270: [("transpose", "clock")],
            180: [("hflip", None), ("vflip", None)],
        }
        turning = turns.get(turn, [])
        graph = Graph()
        graph.threads = 1  # parallelism comes from one thread per rendition, not from slicing
        return FilterChain(
            graph,
            [
                graph.add_buffer(
                    width=first.width, height=first.height, format=first.format, time_base=first.time_base or Fraction(1, 1000)
                ),
                graph.add("scale", f"{size}:out_range=tv"),
                *(graph.add(name, args) for name, args in turning),
                graph.add("format", "yuv420p"),
                graph.add("setsar", "1"),
                graph.add("buffersink"),
            ],
        )


class ConstantRateClock:
    """Re-times frames of any timing onto a constant frame rate, like FFmpeg's fps filter.

    Each decoded frame is shown from its timestamp until the next frame's; every output tick
    that falls in that span shows it. A variable-rate phone video thus repeats or drops
    frames instead of carrying its jitter into the encoders, and output tick n is at n / rate.
    """

    def __init__(self, rate: Fraction, origin: Fraction):
        self._rate = rate
        self._origin = origin
        self._held: av.VideoFrame | None = None
        self._held_time = Fraction(0)
        self.ticks = 0  # ticks emitted so far

    def push(self, frame: av.VideoFrame) -> Iterator[Tick]:
        """The ticks settled by a new frame: the previous frame covers every tick before it starts."""
        time = self._time_of(frame)
        if self._held is not None:
            yield from self._emit_until(round(time * self._rate))
        self._held, self._held_time = frame, time

    def finish(self) -> Iterator[Tick]:
        """The last frame's ticks, until its own end (at least one tick for a one-frame video)."""
        if self._held is None:
            return
        time_base = self._held.time_base
        shown = Fraction(self._held.duration) * time_base if self._held.duration and time_base is not None else 1 / self._rate
        yield from self._emit_until(max(round((self._held_time + shown) * self._rate), 1))

    def _time_of(self, frame: av.VideoFrame) -> Fraction:
        if frame.pts is None or frame.time_base is None:  # no timestamp: assume one tick after the last
            return self._held_time + 1 / self._rate
        return frame.pts * frame.time_base - self._origin

    def _emit_until(self, end_tick: int) -> Iterator[Tick]:
        assert self._held is not None
        while self.ticks < end_tick:
            yield self.ticks, self._held
            self.ticks += 1


def starts_interval(tick: int, frames_per_interval: Fraction) -> bool:
    """Whether output tick `tick` is the first one at or after a boundary k * interval.

    Every rendition forces an IDR frame on exactly the ticks that start a keyframe interval,
    so all of them cut their segments (whole multiples of that interval) at the same instants
    and a player can switch between any two at any boundary.
    """
    return tick == 0 or math.floor(tick / frames_per_interval) != math.floor((tick - 1) / frames_per_interval)
