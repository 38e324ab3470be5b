"""Folding events into counter changes: the rules of views, retention and quality of experience.

Pure: a Fold takes log entries and the states of their sessions and yields the changes to
apply (Changes), which the aggregator writes in one script together with the watermark. The
rules (docs/analytics.md, and the VideoMetrics comments of the contract):
- a session counts once it asks to play (PLAY_REQUEST or PLAY) and starts at its first PLAY;
- watch time is the sum of `played`, by rendition too; a session becomes a view once it has
  played VIEW_MIN_PLAYED_MS, or half of a video shorter than SHORT_VIDEO_MS;
- a view adds its viewer to the video's HyperLogLogs and one to every retention bucket it has
  played (then one to each bucket it plays later), each bucket once per view;
- every counter of a session goes to the lifetime hash and to the hash of the UTC hour of the
  session's first event, so that ranges of hours can be summed.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from vidmesh.analytics.v1 import analytics_service_pb2 as pb2

from . import keys

VIEW_MIN_PLAYED_MS = 30_000
SHORT_VIDEO_MS = 60_000
STARTUP_BUCKET_BASE = 1.1  # startup histogram buckets are 10% wide


def startup_bucket(ms: int) -> int:
    return math.floor(math.log(max(ms, 1)) / math.log(STARTUP_BUCKET_BASE))


def startup_bucket_value(bucket: int) -> float:
    """The value (ms) that stands for a bucket: its geometric middle."""
    return float(STARTUP_BUCKET_BASE ** (bucket + 0.5))


def retention_bucket(position_ms: int, duration_ms: int) -> int:
    """The retention bucket of a position: hundredths of the video, or whole seconds under 100 s."""
    count = keys.retention_bucket_count(duration_ms)
    return max(0, min(count - 1, position_ms // 1000, 100 * position_ms // max(duration_ms, 1)))


def is_view(played_ms: int, duration_ms: int) -> bool:
    return played_ms >= VIEW_MIN_PLAYED_MS or (0 < duration_ms < SHORT_VIDEO_MS and 2 * played_ms >= duration_ms)


@dataclass
class Session:
    """What the aggregator remembers of a playback session (stored as JSON, expires)."""

    video: str
    viewer: str
    owner: str
    duration_ms: int
    hour: str  # UTC hour of its first event, YYYYMMDDHH
    played_ms: int = 0
    requested: bool = False
    started: bool = False
    startup_seen: bool = False
    view: bool = False
    stalled: bool = False
    rebuffered: bool = False
    failed: bool = False
    covered: int = 0  # bitmask of retention buckets played

    def dumps(self) -> str:
        return json.dumps(vars(self), separators=(",", ":"))  # (flat fields: vars is asdict without its deep copies)

    @classmethod
    def loads(cls, raw: bytes | str) -> Session:
        return cls(**json.loads(raw))


def state_id(event: pb2.PlayerEvent) -> str:
    """Sessions are counted per video too: a client that reuses a session id for another video
    starts another session."""
    return f"{event.session_id}/{event.video.removeprefix('videos/')}"


@dataclass
class Changes:
    """Everything one batch of entries changes, merged per key and field."""

    counters: defaultdict[str, defaultdict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    rankings: defaultdict[str, defaultdict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    viewers: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    durations: dict[str, int] = field(default_factory=dict)  # video key -> duration_ms
    hourly: set[str] = field(default_factory=set)  # keys that expire with the hourly retention
    sessions: dict[str, Session] = field(default_factory=dict)  # state id -> new state
    views: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))  # video id -> views added
    new_views: list[tuple[str, str, int]] = field(default_factory=list)  # (viewer, video id, event ms) per new view


class Fold:
    """Folds entries into Changes, given the sessions' stored states (missing ones are new)."""

    def __init__(self, stored: Mapping[str, Session]):
        self._stored = stored
        self.changes = Changes()

    def add(self, entries: Iterable[keys.LogEntry]) -> Changes:
        for entry in entries:
            for event in entry.counted():
                self._event(event, entry.videos)
        return self.changes

    def _session(self, event: pb2.PlayerEvent, videos: Mapping[str, keys.VideoFacts]) -> Session | None:
        sid = state_id(event)
        state = self.changes.sessions.get(sid) or self._stored.get(sid)
        if state is None:
            video = event.video.removeprefix("videos/")
            facts = videos.get(video)
            if facts is None:  # ingest records every video it stores events for
                return None
            state = Session(video, event.viewer_id, facts.owner, facts.duration_ms, keys.hour_of(event.event_time.seconds))
        self.changes.sessions[sid] = state
        return state

    def _count(self, s: Session, name: str, amount: int = 1) -> None:
        c = self.changes
        lifetime, hourly = keys.video_key(s.video), keys.video_hour_key(s.video, s.hour)
        c.counters[lifetime][name] += amount
        c.counters[hourly][name] += amount
        c.hourly.add(hourly)
        c.durations[lifetime] = s.duration_ms

    def _event(self, event: pb2.PlayerEvent, videos: Mapping[str, keys.VideoFacts]) -> None:
        s = self._session(event, videos)
        if s is None:
            return
        kind = event.kind
        if kind in (pb2.PLAYER_EVENT_KIND_PLAY_REQUEST, pb2.PLAYER_EVENT_KIND_PLAY) and not s.requested:
            s.requested = True
            self._count(s, "sessions")
        if kind == pb2.PLAYER_EVENT_KIND_PLAY:
            if not s.started:
                s.started = True
                self._count(s, "started")
            startup = keys.ms(event.startup_time)
            if startup > 0 and not s.startup_seen:
                s.startup_seen = True
                self._count(s, f"{keys.STARTUP_FIELD}{startup_bucket(startup)}")
        played = keys.ms(event.played)
        if played > 0:
            self._played(s, event, played)
        if kind == pb2.PLAYER_EVENT_KIND_BUFFER_END:
            stall = keys.ms(event.stall_duration)
            if stall > 0:
                s.stalled = True
                self._count(s, "stall_ms", stall)
        if kind == pb2.PLAYER_EVENT_KIND_ERROR and not s.failed:
            s.failed = True
            self._count(s, "failed")
            if not s.started:
                self._count(s, "failed_before_start")
        if s.view and s.stalled and not s.rebuffered:
            s.rebuffered = True
            self._count(s, "rebuffered_views")

    def _played(self, s: Session, event: pb2.PlayerEvent, played: int) -> None:
        c = self.changes
        s.played_ms += played
        self._count(s, "watch_ms", played)
        self._count(s, f"{keys.RENDITION_FIELD}{event.rendition or 'unknown'}", played)
        c.rankings[keys.top_key(s.owner, "watch_ms")][s.video] += played
        # A SEEK's `played` was played before the jump: its stretch ends where it jumped from.
        position = keys.ms(event.seek_from if event.kind == pb2.PLAYER_EVENT_KIND_SEEK else event.position)
        start, end = max(0, position - played), min(s.duration_ms, position)
        before = s.covered
        if end > start:
            first, last = retention_bucket(start, s.duration_ms), retention_bucket(end - 1, s.duration_ms)
            s.covered |= ((1 << (last - first + 1)) - 1) << first
        newly = s.covered & ~before
        if not s.view and is_view(s.played_ms, s.duration_ms):
            s.view = True
            self._count(s, "views")
            c.rankings[keys.top_key(s.owner, "views")][s.video] += 1
            c.views[s.video] += 1
            c.new_views.append((s.viewer, s.video, keys.ms(event.event_time)))
            c.viewers[keys.viewers_key(s.video)].add(s.viewer)
            hourly = keys.viewers_key(s.video, s.hour)
            c.viewers[hourly].add(s.viewer)
            c.hourly.add(hourly)
            newly = s.covered  # a new view counts every bucket it has played so far
        if s.view and newly:
            counts = c.counters[keys.retention_key(s.video)]
            bucket = 0
            while newly:
                if newly & 1:
                    counts[str(bucket)] += 1
                newly >>= 1
                bucket += 1
