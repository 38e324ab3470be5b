"""A writable sink for PyAV's fragmented-MP4 muxer that cuts its byte stream into CMAF pieces.

Open the muxer on it with `movflags=empty_moov+default_base_moof+frag_keyframe` (plus
`frag_duration`): it writes `ftyp`+`moov` first (the init segment), then one `moof`+`mdat` pair
per fragment (an LL-HLS part). Writes follow the muxer's buffering, not box boundaries, so the
sink buffers bytes and parses whole boxes as they complete.

For each fragment it reads the video track's `tfhd`/`trun`/`tfdt` (defaults from `moov`'s
`trex`, timescale from `mdhd`), so part durations come from the samples themselves, never from
an assumed frame rate, and B-frame streams (where decode and presentation order differ) still
get the decode-order durations that tile the timeline.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"mvex", b"moof", b"traf"})

# ISO/IEC 14496-12 flag bits, tfhd (8.8.7) and trun (8.8.8).
_TFHD_BASE_DATA_OFFSET = 0x01
_TFHD_SAMPLE_DESCRIPTION_INDEX = 0x02
_TFHD_DEFAULT_DURATION = 0x08
_TFHD_DEFAULT_SIZE = 0x10
_TFHD_DEFAULT_FLAGS = 0x20
_TRUN_DATA_OFFSET = 0x01
_TRUN_FIRST_SAMPLE_FLAGS = 0x04
_TRUN_DURATION = 0x100
_TRUN_SIZE = 0x200
_TRUN_FLAGS = 0x400
_TRUN_COMPOSITION_OFFSET = 0x800
_SAMPLE_IS_NON_SYNC = 0x10000  # in sample flags: set on every sample that is not a sync sample


class CmafError(ValueError):
    """The muxer's output is not the fragmented MP4 this sink understands."""


@dataclass(frozen=True)
class Track:
    """One `trak` of the init segment, with the fragment defaults its `trex` declares."""

    track_id: int
    handler: str  # "vide", "soun", ...
    timescale: int  # ticks per second (mdhd)
    default_duration: int = 0
    default_flags: int = 0


@dataclass(frozen=True)
class FragmentInfo:
    """What the playlist needs to know about one `moof`+`mdat`, read from its reference track."""

    sequence: int  # mfhd sequence number: 1, 2, ... in write order
    duration: float  # seconds: the sum of the reference track's sample durations
    independent: bool  # the first sample is a sync sample (a keyframe): INDEPENDENT=YES
    decode_time: int  # tfdt of the first sample, in `timescale` ticks
    timescale: int
    samples: int  # how many samples of the reference track the fragment holds

    @property
    def start(self) -> float:
        """The first sample's decode time in seconds."""
        return self.decode_time / self.timescale


@dataclass(frozen=True)
class _Run:
    samples: int
    duration: int | None  # ticks; None: the trun carries no durations, so tfhd/trex defaults apply
    first_flags: int | None  # None: the trun carries none, so tfhd/trex defaults apply


class CmafSink(io.RawIOBase):
    """A non-seekable file for `av.open(sink, "w", format="mp4", ...)`.

    `on_init(bytes)` gets the init segment (everything up to and including `moov`) once;
    `on_fragment(info, bytes)` gets each fragment as soon as its `mdat` is complete. Boxes
    written between fragments (`styp`, `prft`) travel with the next fragment; the `mfra` index
    the muxer appends when it closes is dropped, since a live stream has no end to index.
    """

    def __init__(self, on_init: Callable[[bytes], None], on_fragment: Callable[[FragmentInfo, bytes], None]) -> None:
        super().__init__()
        self._on_init = on_init
        self._on_fragment = on_fragment
        self._buffer = bytearray()
        self._pending = bytearray()  # boxes of the piece being assembled (init, or the next fragment)
        self._moof: bytes | None = None
        self._tracks: dict[int, Track] = {}
        self._reference: Track | None = None

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False  # empty_moov never seeks back; saying so keeps libavformat from trying

    def write(self, data: ReadableBuffer) -> int:
        chunk = memoryview(data).cast("B")
        self._buffer += chunk
        while (box := self._next_box()) is not None:
            self._take(box)
        return len(chunk)

    @property
    def tracks(self) -> tuple[Track, ...]:
        return tuple(self._tracks.values())

    @property
    def reference_track(self) -> Track | None:
        """The track fragments are measured by: the video track, or the first if there is none."""
        return self._reference

    @property
    def leftover(self) -> int:
        """Bytes of an unfinished box or fragment: nonzero after close means the output was cut short."""
        return len(self._buffer) + len(self._pending)

    def _next_box(self) -> bytes | None:
        if len(self._buffer) < 8:
            return None
        size, kind = struct.unpack_from(">I4s", self._buffer)
        if size == 1:  # 64-bit size follows the type
            if len(self._buffer) < 16:
                return None
            (size,) = struct.unpack_from(">Q", self._buffer, 8)
        elif size == 0:
            raise CmafError(f"box {kind!r} runs to the end of the file: the muxer is not writing fragments")
        if size < 8:
            raise CmafError(f"box {kind!r} declares an impossible size {size}")
        if len(self._buffer) < size:
            return None
        box = bytes(self._buffer[:size])
        del self._buffer[:size]
        return box

    def _take(self, box: bytes) -> None:
        kind = box[4:8]
        if kind == b"mfra":
            return
        self._pending += box
        if kind == b"moov":
            self._read_moov(box)
            init, self._pending = bytes(self._pending), bytearray()
            self._on_init(init)
        elif kind == b"moof":
            self._moof = box
        elif kind == b"mdat":
            if self._moof is None:
                raise CmafError("mdat without a moof: is movflags missing frag_keyframe/empty_moov?")
            info = self._read_moof(self._moof)
            data, self._pending, self._moof = bytes(self._pending), bytearray(), None
            self._on_fragment(info, data)

    def _read_moov(self, moov: bytes) -> None:
        tracks: dict[int, Track] = {}
        for kind, body in _children(memoryview(moov)[8:]):
            if kind == b"trak":
                track = _read_trak(body)
                tracks[track.track_id] = track
        for kind, body in _children(memoryview(moov)[8:]):
            if kind != b"mvex":
                continue
            for child, trex in _children(body):
                if child == b"trex":
                    track_id, _index, duration, _size, flags = struct.unpack_from(">5I", trex, 4)
                    if track_id in tracks:
                        old = tracks[track_id]
                        tracks[track_id] = Track(old.track_id, old.handler, old.timescale, duration, flags)
        if not tracks:
            raise CmafError("the init segment declares no tracks")
        self._tracks = tracks
        videos = [track for track in tracks.values() if track.handler == "vide"]
        self._reference = videos[0] if videos else next(iter(tracks.values()))

    def _read_moof(self, moof: bytes) -> FragmentInfo:
        reference = self._reference
        if reference is None:
            raise CmafError("a fragment arrived before the init segment")
        sequence = 0
        for kind, body in _children(memoryview(moof)[8:]):
            if kind == b"mfhd":
                (sequence,) = struct.unpack_from(">I", body, 4)
            elif kind == b"traf":
                info = _read_traf(body, reference, sequence)
                if info is not None:
                    return info
        # A fragment without a sample of the reference track (say, trailing audio at the end of a
        # stream) adds no time to the video timeline and cannot start a segment.
        return FragmentInfo(sequence, 0.0, False, 0, reference.timescale, 0)


def _children(payload: memoryview) -> Iterator[tuple[bytes, memoryview]]:
    """The boxes inside a container's payload, as (type, body after the 8- or 16-byte header)."""
    position = 0
    while position + 8 <= len(payload):
        size, kind = struct.unpack_from(">I4s", payload, position)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", payload, position + 8)
            header = 16
        elif size == 0:
            size = len(payload) - position
        if size < header or position + size > len(payload):
            raise CmafError(f"box {kind!r} overruns its parent")
        yield kind, payload[position + header : position + size]
        position += size


def _full_box(body: memoryview) -> tuple[int, int]:
    """(version, flags) of a FullBox."""
    word: int = struct.unpack_from(">I", body)[0]
    return word >> 24, word & 0xFFFFFF


def _read_trak(trak: memoryview) -> Track:
    track_id, handler, timescale = 0, "", 0
    for kind, body in _children(trak):
        if kind == b"tkhd":
            version, _ = _full_box(body)
            (track_id,) = struct.unpack_from(">I", body, 20 if version == 1 else 12)
        elif kind == b"mdia":
            for child, box in _children(body):
                if child == b"mdhd":
                    version, _ = _full_box(box)
                    (timescale,) = struct.unpack_from(">I", box, 20 if version == 1 else 12)
                elif child == b"hdlr":
                    handler = bytes(box[8:12]).decode("latin-1")
    if not timescale:
        raise CmafError(f"track {track_id} has no media timescale")
    return Track(track_id, handler, timescale)


def _read_traf(traf: memoryview, reference: Track, sequence: int) -> FragmentInfo | None:
    """The fragment's facts if this traf belongs to the reference track, else None."""
    default_duration, default_flags = reference.default_duration, reference.default_flags
    decode_time = 0
    runs: list[_Run] = []
    for kind, body in _children(traf):
        if kind == b"tfhd":
            _, flags = _full_box(body)
            (track_id,) = struct.unpack_from(">I", body, 4)
            if track_id != reference.track_id:
                return None
            position = 8
            position += 8 if flags & _TFHD_BASE_DATA_OFFSET else 0
            position += 4 if flags & _TFHD_SAMPLE_DESCRIPTION_INDEX else 0
            if flags & _TFHD_DEFAULT_DURATION:
                (default_duration,) = struct.unpack_from(">I", body, position)
                position += 4
            position += 4 if flags & _TFHD_DEFAULT_SIZE else 0
            if flags & _TFHD_DEFAULT_FLAGS:
                (default_flags,) = struct.unpack_from(">I", body, position)
        elif kind == b"tfdt":
            version, _ = _full_box(body)
            (decode_time,) = struct.unpack_from(">Q" if version == 1 else ">I", body, 4)
        elif kind == b"trun":
            runs.append(_read_trun(body))
    samples = sum(run.samples for run in runs)
    if not samples:
        return None
    # Samples without a duration of their own take the tfhd default (which already fell back to trex).
    ticks = sum(default_duration * run.samples if run.duration is None else run.duration for run in runs)
    first = next(run for run in runs if run.samples)
    first_flags = default_flags if first.first_flags is None else first.first_flags
    return FragmentInfo(
        sequence=sequence,
        duration=ticks / reference.timescale,
        independent=not first_flags & _SAMPLE_IS_NON_SYNC,
        decode_time=decode_time,
        timescale=reference.timescale,
        samples=samples,
    )


def _read_trun(trun: memoryview) -> _Run:
    _, flags = _full_box(trun)
    (count,) = struct.unpack_from(">I", trun, 4)
    position = 8
    position += 4 if flags & _TRUN_DATA_OFFSET else 0
    first_flags: int | None = None
    if flags & _TRUN_FIRST_SAMPLE_FLAGS:
        (first_flags,) = struct.unpack_from(">I", trun, position)
        position += 4
    fields = [bit for bit in (_TRUN_DURATION, _TRUN_SIZE, _TRUN_FLAGS, _TRUN_COMPOSITION_OFFSET) if flags & bit]
    stride = 4 * len(fields)
    if position + stride * count > len(trun):
        raise CmafError("trun lists more samples than it holds")
    duration: int | None = None
    if flags & _TRUN_DURATION:
        at = position + 4 * fields.index(_TRUN_DURATION)
        duration = sum(struct.unpack_from(">I", trun, at + stride * i)[0] for i in range(count))
    if first_flags is None and flags & _TRUN_FLAGS and count:
        (first_flags,) = struct.unpack_from(">I", trun, position + 4 * fields.index(_TRUN_FLAGS))
    return _Run(count, duration, first_flags)
