"""The LL-HLS live playlist of one rendition (RFC 8216bis): segments made of parts, and its rules.

The remuxer hands in parts (one CMAF fragment each) as they are cut. A segment starts at each
independent part (a keyframe) and is closed as soon as the next one starts, or earlier, when
the caller already knows that the next part starts a segment (`ends_segment`): without that
the preload hint would name a part of the old segment that never comes, and hls.js stalls on
it. Only the last few segments list their parts; the window slides over the closed segments.

Declared values never shrink (RFC 8216bis 6.2.1 lets a live playlist change only by adding at
the end and removing from the front), but they grow when the media would otherwise contradict
them: a segment longer than the target
duration raises EXT-X-TARGETDURATION, and a part longer than PART-TARGET raises PART-TARGET
(and PART-HOLD-BACK with it). A changed target breaks a rule about playlist updates; a part
longer than its declared target is a lie every player can see, so we prefer the former. With
`remux.fragment_duration_us` cutting whole frames under the target, it never happens for a
constant-frame-rate source.

A server answers `?_HLS_msn=M&_HLS_part=P` by `parse_directives`, then blocks until
`satisfies(playlist, M, P)` (at most `playlist.block_limit` seconds, then 503), then `render()`.
Delta updates (`_HLS_skip=YES|v2`) are accepted and ignored: the playlist never advertises
CAN-SKIP-UNTIL, so a full playlist is the correct answer, and since CAN-SKIP-UNTIL must be at
least six target durations, a window of six segments would leave a delta nothing to skip.
"""

from __future__ import annotations

import logging
import math
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from fractions import Fraction

log = logging.getLogger(__name__)

HLS_VERSION = 9
PRECISION = 5  # decimals of every rendered duration
_SCALE = 100_000  # 10 ** PRECISION


def init_uri(version: int) -> str:
    return f"init-{version}.mp4"


def part_uri(msn: int, index: int) -> str:
    return f"{msn}.{index}.m4s"


def segment_uri(msn: int) -> str:
    return f"{msn}.m4s"


@dataclass(frozen=True)
class PlaylistConfig:
    part_target: float = 0.334  # PART-TARGET, s; 10 frames at 30 fps even with FLV's millisecond timestamps
    target_duration: int = 2  # EXT-X-TARGETDURATION, s: the GOP the encoder is asked for
    window: int = 6  # closed segments listed; older ones leave and the media sequence advances
    part_segments: int = 3  # the last segments (the open one included) that list their parts
    part_hold_back: float | None = None  # PART-HOLD-BACK, s; None: 3 × PART-TARGET

    def __post_init__(self) -> None:
        if self.part_target <= 0 or self.target_duration < 1:
            raise ValueError("part_target must be positive and target_duration at least 1 s")
        if self.window < 1 or not 1 <= self.part_segments <= self.window + 1:
            raise ValueError("window must be at least 1 and part_segments between 1 and window + 1")
        if self.part_hold_back is not None and self.part_hold_back < 3 * self.part_target:
            raise ValueError("part_hold_back must be at least 3 × part_target")  # RFC: MUST be ≥ 2×; 3× is the advice


@dataclass(frozen=True)
class Part:
    msn: int
    index: int
    duration: float  # s
    independent: bool
    data: bytes

    @property
    def uri(self) -> str:
        return part_uri(self.msn, self.index)


@dataclass(frozen=True)
class Segment:
    msn: int
    init: int  # version of the init segment its parts need
    discontinuity: bool  # the first segment after a restart of the publisher
    program_date_time: datetime | None
    parts: tuple[Part, ...] = ()
    closed: bool = False

    @property
    def duration(self) -> float:
        return sum(part.duration for part in self.parts)

    @property
    def data(self) -> bytes:
        return b"".join(part.data for part in self.parts)

    @property
    def uri(self) -> str:
        return segment_uri(self.msn)


@dataclass(frozen=True)
class RenditionReport:
    uri: str  # the other rendition's media playlist, relative to this one
    last_msn: int
    last_part: int


@dataclass(frozen=True)
class Rendition:
    """One EXT-X-STREAM-INF of the master playlist (muxed audio and video, so no audio group)."""

    uri: str
    bandwidth: int  # peak, bit/s
    average_bandwidth: int
    width: int
    height: int
    codecs: str  # RFC 6381, e.g. "avc1.64001f,mp4a.40.2"
    frame_rate: float | Fraction


def _ceil_rendered(seconds: float) -> float:
    """Rounded up to the rendered precision, so no duration rendered under it can exceed it."""
    return math.ceil(round(seconds * _SCALE, 3)) / _SCALE  # round(…, 3) absorbs float noise first


def _render(seconds: float) -> str:
    return f"{seconds:.{PRECISION}f}"


def _whole_seconds(seconds: float) -> int:
    """RFC 8216bis 4.4.3.1: the EXTINF duration *rounded to the nearest integer* must not exceed the target."""
    return math.floor(round(seconds, PRECISION) + 0.5)


@dataclass
class _State:
    segments: list[Segment] = field(default_factory=list)  # listed: closed ones, then perhaps the open one
    retired: deque[Segment] = field(default_factory=deque)  # left the window, still served for a while
    inits: dict[int, bytes] = field(default_factory=dict)
    init_version: int = -1
    next_msn: int = 0
    media_sequence: int = 0
    discontinuity_sequence: int = 0
    restart_pending: bool = False
    awaiting_keyframe: bool = True
    ended: bool = False


class LivePlaylist:
    """The live media playlist of one rendition, and the bytes of its parts and segments."""

    def __init__(self, config: PlaylistConfig | None = None) -> None:
        self.config = config or PlaylistConfig()
        self._s = _State()
        self._part_target = _ceil_rendered(self.config.part_target)
        self._target_duration = self.config.target_duration

    # --- what the remuxer calls -------------------------------------------------------------

    def begin_session(self, init: bytes) -> int:
        """A publisher session starts with its init segment; returns its version (`init-{n}.mp4`).

        The first call starts the stream. A later one is a restart (a reconnect): the open segment
        closes, and the next segment carries EXT-X-DISCONTINUITY and the new EXT-X-MAP.
        """
        s = self._s
        if s.ended:
            raise RuntimeError("the stream has ended")
        if s.init_version >= 0:
            self._close_open()
            s.restart_pending = True
        s.init_version += 1
        s.inits[s.init_version] = init
        s.awaiting_keyframe = True
        return s.init_version

    def resume(self, next_msn: int, discontinuity_sequence: int, init_version: int) -> None:
        """Continues the playlist of an earlier packager that is gone (it crashed), before the first
        session: numbers go on after what players and caches have seen (a reused URI would name
        different bytes), and the first segment carries a discontinuity. discontinuity_sequence
        is that of the last segment players saw; init_version its init segment's."""
        s = self._s
        if s.init_version >= 0:
            raise RuntimeError("resume comes before the first session")
        s.next_msn = s.media_sequence = next_msn
        s.discontinuity_sequence = discontinuity_sequence
        s.init_version = init_version
        s.restart_pending = True

    @property
    def last_discontinuity_sequence(self) -> int:
        """The discontinuity sequence number of the newest segment."""
        return self._s.discontinuity_sequence + sum(1 for segment in self._s.segments if segment.discontinuity)

    @property
    def init_version(self) -> int:
        return self._s.init_version

    def add_part(
        self, data: bytes, duration: float, independent: bool, *, ends_segment: bool = False, wall_clock: datetime | None = None
    ) -> Part | None:
        """Appends a part; `wall_clock` (timezone-aware) dates the segment this part opens, if it opens one.

        Returns None for a part dropped because its session has not reached a keyframe yet: a
        segment must start with one to be playable. `ends_segment` closes the segment right away
        (the caller knows the next part starts with a keyframe, or that nothing follows).
        """
        s = self._s
        if s.ended or s.init_version < 0:
            raise RuntimeError("parts need a session: call begin_session first (and not after end)")
        if wall_clock is not None and wall_clock.utcoffset() is None:
            raise ValueError("wall_clock must be timezone-aware")
        if s.awaiting_keyframe and not independent:
            return None
        s.awaiting_keyframe = False
        current = self._open_segment()
        if current is not None and independent:
            self._close_open()
            current = None
        if current is None:
            current = Segment(s.next_msn, s.init_version, s.restart_pending, wall_clock)
            s.next_msn += 1
            s.restart_pending = False
            s.segments.append(current)
        part = Part(current.msn, len(current.parts), duration, independent, data)
        s.segments[-1] = replace(current, parts=(*current.parts, part))
        self._cover_part(part)
        if ends_segment:
            self._close_open()
        return part

    def end(self) -> None:
        """The stream is over: the open segment closes and the playlist gets EXT-X-ENDLIST."""
        self._close_open()
        self._s.ended = True

    # --- what a server reads ----------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self._s.ended

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(self._s.segments)

    @property
    def media_sequence(self) -> int:
        return self._s.media_sequence

    @property
    def discontinuity_sequence(self) -> int:
        return self._s.discontinuity_sequence

    @property
    def part_target(self) -> float:
        """PART-TARGET as declared: the configured one, or what an overlong part raised it to."""
        return self._part_target

    @property
    def part_hold_back(self) -> float:
        return _ceil_rendered(max(self.config.part_hold_back or 0.0, 3 * self._part_target))

    @property
    def target_duration(self) -> int:
        return self._target_duration

    @property
    def block_limit(self) -> float:
        """RFC 8216bis 6.2.5.2: give up on a blocking reload after three target durations (503)."""
        return 3.0 * self._target_duration

    @property
    def last_part(self) -> Part | None:
        """The newest part: the live edge."""
        for segment in reversed(self._s.segments):
            if segment.parts:
                return segment.parts[-1]
        return None

    @property
    def preload_hint(self) -> tuple[int, int] | None:
        """(msn, part index) of the next part, which will exist; None once ended."""
        s = self._s
        if s.ended or s.init_version < 0:
            return None
        current = self._open_segment()
        if current is not None:
            return current.msn, len(current.parts)
        return s.next_msn, 0

    def report(self, uri: str) -> RenditionReport | None:
        """This rendition's EXT-X-RENDITION-REPORT as other renditions' playlists show it."""
        edge = self.last_part
        return None if edge is None else RenditionReport(uri, edge.msn, edge.index)

    def init(self, version: int) -> bytes | None:
        return self._s.inits.get(version)

    def find(self, msn: int) -> Segment | None:
        """Segment `msn`, listed or recently retired."""
        for segment in (*self._s.retired, *self._s.segments):
            if segment.msn == msn:
                return segment
        return None

    def part(self, msn: int, index: int) -> bytes | None:
        segment = self.find(msn)
        if segment is None or index >= len(segment.parts):
            return None
        return segment.parts[index].data

    def segment(self, msn: int) -> bytes | None:
        """A closed segment's bytes (the concatenation of its parts); None while it is still growing."""
        segment = self.find(msn)
        return segment.data if segment is not None and segment.closed else None

    def render(self, reports: Sequence[RenditionReport] = ()) -> str:
        s = self._s
        lines = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{HLS_VERSION}",
            f"#EXT-X-TARGETDURATION:{self._target_duration}",
            f"#EXT-X-PART-INF:PART-TARGET={_render(self._part_target)}",
            f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={_render(self.part_hold_back)}",
            f"#EXT-X-MEDIA-SEQUENCE:{s.media_sequence}",
        ]
        if s.discontinuity_sequence:
            lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{s.discontinuity_sequence}")
        with_parts = len(s.segments) - self.config.part_segments
        previous_init = -1
        for position, segment in enumerate(s.segments):
            if segment.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            if segment.init != previous_init:
                lines.append(f'#EXT-X-MAP:URI="{init_uri(segment.init)}"')
                previous_init = segment.init
            if segment.program_date_time is not None:
                lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_date_time(segment.program_date_time)}")
            if position >= with_parts:
                for part in segment.parts:
                    independent = ",INDEPENDENT=YES" if part.independent else ""
                    lines.append(f'#EXT-X-PART:DURATION={_render(part.duration)},URI="{part.uri}"{independent}')
            if segment.closed:
                lines += [f"#EXTINF:{_render(segment.duration)},", segment.uri]
        hint = self.preload_hint
        if hint is not None:
            lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{part_uri(*hint)}"')
        for report in reports:
            lines.append(f'#EXT-X-RENDITION-REPORT:URI="{report.uri}",LAST-MSN={report.last_msn},LAST-PART={report.last_part}')
        if s.ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    # --- internals --------------------------------------------------------------------------

    def _open_segment(self) -> Segment | None:
        segments = self._s.segments
        return segments[-1] if segments and not segments[-1].closed else None

    def _cover_part(self, part: Part) -> None:
        rendered = round(part.duration, PRECISION)
        if rendered > self._part_target:
            log.warning("part %s lasts %.5f s, over PART-TARGET %.5f: raising it", part.uri, part.duration, self._part_target)
            self._part_target = _ceil_rendered(part.duration)

    def _close_open(self) -> None:
        s = self._s
        current = self._open_segment()
        if current is None:
            return
        s.segments[-1] = replace(current, closed=True)
        self._target_duration = max(self._target_duration, _whole_seconds(current.duration))
        closed = sum(1 for segment in s.segments if segment.closed)
        while closed > self.config.window:
            gone = s.segments.pop(0)
            closed -= 1
            s.media_sequence = s.segments[0].msn if s.segments else s.next_msn
            if gone.discontinuity:
                s.discontinuity_sequence += 1
            # RFC 8216bis 6.2.2: a segment stays available for a while after it leaves the playlist.
            s.retired.append(gone)
            if len(s.retired) > self.config.window:
                s.retired.popleft()
        in_use = {segment.init for segment in (*s.retired, *s.segments)} | {s.init_version}
        for version in [version for version in s.inits if version not in in_use]:
            del s.inits[version]


def _date_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- delivery directives ---------------------------------------------------------------------

_DECIMAL_INTEGER = re.compile(r"[0-9]{1,20}")  # RFC 8216bis decimal-integer: no sign, no spaces
_MAX_DECIMAL_INTEGER = 2**64 - 1


class DirectiveError(ValueError):
    """A playlist request the server should refuse, with the HTTP status to refuse it with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Directives:
    msn: int | None = None  # _HLS_msn: block until this segment (or, with part, this part) exists
    part: int | None = None  # _HLS_part
    skip: str | None = None  # _HLS_skip ("YES" or "v2"): accepted, ignored; the full playlist is served

    @property
    def blocking(self) -> bool:
        return self.msn is not None


def parse_directives(query: Mapping[str, str], playlist: LivePlaylist | None = None) -> Directives:
    """The `_HLS_` query parameters of a media playlist request, checked against the live edge.

    Raises DirectiveError (400) for a malformed value, `_HLS_part` without `_HLS_msn`, or a
    request too far ahead of the live edge (RFC 8216bis 6.2.5.2). An ended playlist ignores
    msn and part, as the RFC requires, so nothing is too far ahead of it.
    """
    msn = _decimal(query, "_HLS_msn")
    part = _decimal(query, "_HLS_part")
    if part is not None and msn is None:
        raise DirectiveError("_HLS_part needs _HLS_msn")
    skip = query.get("_HLS_skip")
    if skip is not None and skip not in ("YES", "v2"):
        raise DirectiveError("_HLS_skip must be YES or v2")
    directives = Directives(msn, part, skip)
    if playlist is not None and msn is not None and not playlist.ended:
        _check_reach(directives, playlist)
    return directives


def _decimal(query: Mapping[str, str], name: str) -> int | None:
    text = query.get(name)
    if text is None:
        return None
    if not _DECIMAL_INTEGER.fullmatch(text) or int(text) > _MAX_DECIMAL_INTEGER:
        raise DirectiveError(f"{name} must be a non-negative decimal integer, not {text!r}")
    return int(text)


def _check_reach(directives: Directives, playlist: LivePlaylist) -> None:
    msn = directives.msn
    assert msn is not None
    edge = playlist.last_part
    edge_msn, edge_part = (edge.msn, edge.index) if edge is not None else (playlist.media_sequence - 1, -1)
    if msn > edge_msn + 2:
        raise DirectiveError(f"_HLS_msn={msn} is more than two segments past the last one ({edge_msn})")
    if directives.part is None:
        return
    # The Advance Part Limit: 3 / PART-TARGET parts below one second, else 3. A part of a later
    # segment is at least part + 1 parts past the edge, whatever the open segment still gets.
    limit = 3 / playlist.part_target if playlist.part_target < 1 else 3
    ahead = directives.part - edge_part if msn == edge_msn else directives.part + 1
    if msn >= edge_msn and ahead > limit:
        raise DirectiveError(f"_HLS_part={directives.part} is more than {limit:.1f} parts past the last one")


def satisfies(playlist: LivePlaylist, msn: int, part: int | None = None) -> bool:
    """Whether the playlist already answers `_HLS_msn=msn[&_HLS_part=part]`, so the server stops blocking.

    Without a part, segment `msn` (or a later one) must be complete. With one, that part or a
    later one must exist; a part index past the last part of a closed segment asks for part 0
    of the next segment (RFC 8216bis 6.2.5.2). An ended playlist satisfies every request:
    nothing more will come, and the RFC says to ignore the directives then.
    """
    if playlist.ended:
        return True
    if part is None:
        closed = [segment.msn for segment in playlist.segments if segment.closed]
        return bool(closed) and closed[-1] >= msn
    target = playlist.find(msn)
    if target is not None and target.closed and part >= len(target.parts):
        msn, part = msn + 1, 0
    edge = playlist.last_part
    return edge is not None and (edge.msn, edge.index) >= (msn, part)


def master_playlist(renditions: Sequence[Rendition]) -> str:
    """The multivariant playlist naming each rendition's live media playlist."""
    if not renditions:
        raise ValueError("a master playlist needs at least one rendition")
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{HLS_VERSION}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rendition in renditions:
        lines += [
            f"#EXT-X-STREAM-INF:BANDWIDTH={rendition.bandwidth},AVERAGE-BANDWIDTH={rendition.average_bandwidth},"
            f'RESOLUTION={rendition.width}x{rendition.height},CODECS="{rendition.codecs}",'
            f"FRAME-RATE={float(rendition.frame_rate):.3f}",
            rendition.uri,
        ]
    return "\n".join(lines) + "\n"
