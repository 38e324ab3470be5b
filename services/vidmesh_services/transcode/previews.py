"""Still pictures for the player: a poster, and a storyboard of sprite sheets for seek-bar previews.

Both are fed the same upright frames as the encoders, on the decoding thread, so the source is
still read only once. They are cheap: one frame scaled for the poster, and one small
thumbnail per storyboard interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.filter import Graph

from .frames import FilterChain, FrameShaper

POSTER = "poster.jpg"
STORYBOARD_FOLDER = "storyboard"
STORYBOARD_TRACK = "index.vtt"


@dataclass(frozen=True)
class PreviewConfig:
    poster_position: float = 0.1  # fraction of the duration: past fade-ins and title cards
    storyboard_interval_seconds: float = 2.0
    thumbnail_long_side: int = 160
    sprite_columns: int = 10
    sprite_rows: int = 10
    jpeg_quantizer: int = 3  # FFmpeg's JPEG quantizer scale: 2 (best, largest) to 31


class PosterPicker:
    """Keeps the first frame at or after the poster position (or the last frame, if the video ends first)."""

    def __init__(self, path: Path, width: int, height: int, at_seconds: float, config: PreviewConfig):
        self._path = path
        self._shaper = FrameShaper(width, height)
        self._at_seconds = at_seconds
        self._quantizer = config.jpeg_quantizer
        self._frame: av.VideoFrame | None = None
        self._chosen = False

    def offer(self, frame: av.VideoFrame, seconds: float) -> None:
        if not self._chosen:
            self._frame, self._chosen = frame, seconds >= self._at_seconds

    def finish(self) -> None:
        if self._frame is not None:
            _save_jpeg(self._shaper.shape(self._frame), self._path, self._quantizer)


class Storyboard:
    """A thumbnail every interval, tiled into sprite sheets, and a WebVTT track whose cues point
    into them with media fragments ("sprite-000.jpg#xywh=160,0,160,90"), as players expect.
    """

    def __init__(self, folder: Path, picture_size: tuple[int, int], expected_seconds: float, config: PreviewConfig):
        self._folder = folder
        self._config = config
        width, height = picture_size
        scale = config.thumbnail_long_side / max(width, height)
        self._tile = (max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2)))
        self._shaper = FrameShaper(*self._tile)
        # A short video gets a sheet just big enough for its thumbnails, not a mostly black 10x10.
        full_sheet = config.sprite_columns * config.sprite_rows
        expected = math.ceil(expected_seconds / config.storyboard_interval_seconds) if expected_seconds else full_sheet
        expected = max(1, expected)
        self._columns = min(config.sprite_columns, expected)
        self._rows = min(config.sprite_rows, math.ceil(expected / self._columns))
        self._tiler = self._build_tiler()
        self._thumbnails = 0
        self._sheets = 0

    def offer(self, frame: av.VideoFrame, seconds: float) -> None:
        if seconds >= self._thumbnails * self._config.storyboard_interval_seconds:
            self._tiler.input.push(self._shaper.shape(frame))
            self._thumbnails += 1
            self._save_sheets()

    def finish(self, duration_seconds: float) -> None:
        self._tiler.input.push(None)  # the tile filter then hands over its last, partly filled sheet
        self._save_sheets()
        self._folder.joinpath(STORYBOARD_TRACK).write_text(self._track(duration_seconds))

    def _build_tiler(self) -> FilterChain:
        graph = Graph()
        return FilterChain(
            graph,
            [
                graph.add_buffer(width=self._tile[0], height=self._tile[1], format=av.VideoFormat("yuv420p"), time_base=Fraction(1)),
                graph.add("tile", f"{self._columns}x{self._rows}"),
                graph.add("buffersink"),
            ],
        )

    def _save_sheets(self) -> None:
        while True:
            try:
                sheet = self._tiler.output.pull()
            except (av.BlockingIOError, av.EOFError):  # no full sheet yet / no sheet left
                return
            assert isinstance(sheet, av.VideoFrame)  # a video graph's sink hands out video frames
            self._folder.mkdir(exist_ok=True)
            _save_jpeg(sheet, self._folder / _sheet_name(self._sheets), self._config.jpeg_quantizer)
            self._sheets += 1

    def _track(self, duration_seconds: float) -> str:
        interval = self._config.storyboard_interval_seconds
        width, height = self._tile
        per_sheet = self._columns * self._rows
        cues = ["WEBVTT", ""]
        for index in range(self._thumbnails):
            start, end = index * interval, min((index + 1) * interval, duration_seconds)
            sheet, place = divmod(index, per_sheet)
            row, column = divmod(place, self._columns)
            cues += [
                f"{_timestamp(start)} --> {_timestamp(end)}",
                f"{_sheet_name(sheet)}#xywh={column * width},{row * height},{width},{height}",
                "",
            ]
        return "\n".join(cues)


def _save_jpeg(picture: av.VideoFrame, path: Path, quantizer: int) -> None:
    # Pinning the quantizer's range is what sets JPEG quality through PyAV; "qscale" is ignored.
    picture.save(path, qmin=quantizer, qmax=quantizer)


def _sheet_name(index: int) -> str:
    return f"sprite-{index:03d}.jpg"


def _timestamp(seconds: float) -> str:
    milliseconds = round(seconds * 1000)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    return f"{hours:02d}:{minutes:02d}:{milliseconds / 1000:06.3f}"
