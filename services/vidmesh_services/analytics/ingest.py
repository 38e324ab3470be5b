"""Ingest: validate player events, drop duplicates, append them to the sharded event log.

A batch is split by shard (the session's); each shard's part is appended by one server-side
script that marks the event ids seen and adds the entry together, so a crash can never leave
ids marked seen without their events stored (which would lose them on the client's retry), nor
the events stored without their ids (which would count a retry twice).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import redis.asyncio as redis
from vidmesh.analytics.v1 import analytics_service_pb2 as pb2
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import error_reason_pb2

from ..catalog.videos import can_see
from ..runtime.auth import Identity
from ..runtime.config import AnalyticsSettings
from ..runtime.errors import FieldViolation, InvalidArgument, Unavailable
from ..runtime.validation import parse_name
from ..runtime.viewers import anonymous_identity, caller_identity
from . import keys

Video = resources_pb2.Video
VideoLookup = Callable[[list[str]], Awaitable[Mapping[str, Video]]]

MAX_ID = 64
MAX_RENDITION = 32
MAX_ERROR_CODE = 64
MAX_ERROR_MESSAGE = 1024
MAX_PLAYED_MS = 60_000
MAX_WAIT_MS = 600_000  # startup_time and stall_duration
POSITION_SLACK_MS = 1000
NEGATIVE_CACHE_SECONDS = 5.0  # a video just created becomes known quickly
KINDS = frozenset(pb2.PlayerEventKind.values()) - {pb2.PLAYER_EVENT_KIND_UNSPECIFIED}

# Marks ids seen and appends the shard's entry, or refuses when the log is over its backlog.
# KEYS: log, then one seen set per distinct session. ARGV: max backlog, memory seconds, events
# blob, videos JSON, then one JSON list of, per event, the index of its session's set in KEYS and
# its event id (one argument: packing one per event costs redis-py more than the script).
# Returns the duplicate indexes as a comma-separated string, or -1 when the log is full.
_APPEND = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return -1 end
local dups = {}
local ids = cjson.decode(ARGV[5])
local count = #ids / 2
for i = 0, count - 1 do
  if redis.call('SADD', KEYS[ids[2 * i + 1]], ids[2 * i + 2]) == 0 then dups[#dups + 1] = i end
end
for k = 2, #KEYS do redis.call('EXPIRE', KEYS[k], ARGV[2]) end
local listed = table.concat(dups, ',')
if #dups < count then redis.call('XADD', KEYS[1], '*', 'b', ARGV[3], 'v', ARGV[4], 'd', listed) end
return listed
"""
_LOG_FULL_RETRY_SECONDS = 5


@dataclass
class BatchOutcome:
    accepted: int
    duplicates: int
    rejected: list[pb2.RejectedEvent] = field(default_factory=list)


class _Rejected(Exception):
    def __init__(self, reason: error_reason_pb2.ErrorReason, field: str, description: str):
        self.reason, self.field, self.description = reason, field, description


class _VideoCache:
    """The catalog's answers about videos, reused for a while: events come in bursts per video."""

    def __init__(self, lookup: VideoLookup, ttl: float):
        self._lookup = lookup
        self._ttl = ttl
        self._known: dict[str, tuple[float, Video | None]] = {}

    async def get(self, video_ids: set[str]) -> dict[str, Video | None]:
        now = time.monotonic()
        found: dict[str, Video | None] = {}
        missing = []
        for video_id in video_ids:
            cached = self._known.get(video_id)
            if cached and cached[0] > now:
                found[video_id] = cached[1]
            else:
                missing.append(video_id)
        for start in range(0, len(missing), 100):  # BatchGetVideos takes 100 names
            part = missing[start : start + 100]
            answer = await self._lookup(part)
            for video_id in part:
                video = answer.get(video_id)
                found[video_id] = video
                self._known[video_id] = (now + (self._ttl if video else NEGATIVE_CACHE_SECONDS), video)
        if len(self._known) > 100_000:  # bounded: drop what has expired
            self._known = {k: v for k, v in self._known.items() if v[0] > now}
        return found


class Ingest:
    def __init__(self, client: redis.Redis, videos: VideoLookup, settings: AnalyticsSettings, viewer_hash: Callable[[str], str]):
        self._client = client
        self._videos = _VideoCache(videos, settings.video_cache_seconds)
        self._settings = settings
        self._viewer_hash = viewer_hash
        self._append = client.register_script(_APPEND)

    async def accept(self, caller: Identity | None, events: Sequence[pb2.PlayerEvent], size_bytes: int) -> BatchOutcome:
        """Stores the valid, new events of one batch; reports the others."""
        s = self._settings
        if len(events) > s.max_batch_events or size_bytes > s.max_batch_bytes:
            raise InvalidArgument(
                FieldViolation("events", f"a batch holds at most {s.max_batch_events} events and {s.max_batch_bytes} bytes"),
                reason="EVENT_BATCH_TOO_LARGE",
                metadata={"max_events": str(s.max_batch_events), "max_bytes": str(s.max_batch_bytes)},
            )
        outcome = BatchOutcome(0, 0)
        if not events:
            return outcome
        now_ms = int(time.time() * 1000)
        named = {}
        for index, event in enumerate(events):
            try:
                _check_fields(event)
                named[index] = parse_name(event.video, "videos", "video")
            except _Rejected as bad:
                outcome.rejected.append(_rejection(index, event, bad))
            except InvalidArgument:
                outcome.rejected.append(_rejection(index, event, _Rejected(_REASON_UNKNOWN, "video", "must look like 'videos/{id}'")))
        videos = await self._videos.get(set(named.values()))
        caller_viewer = self._viewer_hash(identity) if (identity := caller_identity(caller)) else ""
        hashed: dict[str, str] = {}
        by_shard: dict[int, list[pb2.PlayerEvent]] = {}
        facts: dict[int, dict[str, keys.VideoFacts]] = {}
        for index, video_id in named.items():
            event = events[index]
            try:
                video = _playable(videos.get(video_id), caller)
                duration_ms = keys.ms(video.source.duration)
                _check_times(event, now_ms, duration_ms, s)
            except _Rejected as bad:
                outcome.rejected.append(_rejection(index, event, bad))
                continue
            if not event.HasField("event_time"):
                event.event_time.FromMilliseconds(now_ms)
            identity = anonymous_identity(event.viewer_id) or f"session:{event.session_id}"
            if not caller_viewer and identity not in hashed:  # a batch holds a few events per viewer
                hashed[identity] = self._viewer_hash(identity)
            event.viewer_id = caller_viewer or hashed[identity]
            shard = keys.shard_of(event.session_id, s.shards)
            by_shard.setdefault(shard, []).append(event)
            facts.setdefault(shard, {})[video_id] = keys.VideoFacts(duration_ms, video.owner)
        outcome.rejected.sort(key=lambda r: r.index)
        for shard, stored in by_shard.items():
            duplicates = await self._store(shard, stored, facts[shard])
            outcome.duplicates += duplicates
            outcome.accepted += len(stored) - duplicates
        return outcome

    async def _store(self, shard: int, events: list[pb2.PlayerEvent], videos: Mapping[str, keys.VideoFacts]) -> int:
        """Appends one shard's events; returns how many were duplicates."""
        sets: dict[str, int] = {}
        args: list[str | bytes | int] = [
            self._settings.max_backlog_entries,
            self._settings.session_memory_seconds,
            pb2.SendEventsRequest(events=events).SerializeToString(),
            keys.encode_videos(videos),
        ]
        ids: list[int | str] = []
        for event in events:
            ids += (sets.setdefault(event.session_id, len(sets) + 2), event.event_id)
        args.append(json.dumps(ids, separators=(",", ":")))
        reply = await self._append(keys=[keys.log_key(shard), *map(keys.seen_key, sets)], args=args)
        if reply == -1:
            raise Unavailable(
                "analytics is behind: the event log is full; send the batch again later",
                reason="EVENT_LOG_FULL",
                metadata={"retry_after_seconds": str(_LOG_FULL_RETRY_SECONDS)},
            )
        listed = reply.decode() if isinstance(reply, bytes) else str(reply)
        return listed.count(",") + 1 if listed else 0


_REASON_MISSING = error_reason_pb2.EVENT_FIELD_MISSING
_REASON_TOO_LONG = error_reason_pb2.EVENT_FIELD_TOO_LONG
_REASON_RANGE = error_reason_pb2.EVENT_FIELD_OUT_OF_RANGE
_REASON_UNKNOWN = error_reason_pb2.EVENT_VIDEO_UNKNOWN

_LIMITS = (
    ("event_id", MAX_ID),
    ("session_id", MAX_ID),
    ("viewer_id", MAX_ID),
    ("rendition", MAX_RENDITION),
    ("previous_rendition", MAX_RENDITION),
    ("error_code", MAX_ERROR_CODE),
    ("error_message", MAX_ERROR_MESSAGE),
)
_DURATIONS: tuple[tuple[str, int | None], ...] = (
    ("position", None),
    ("played", MAX_PLAYED_MS),
    ("startup_time", MAX_WAIT_MS),
    ("stall_duration", MAX_WAIT_MS),
    ("seek_from", None),
)


def _check_fields(event: pb2.PlayerEvent) -> None:
    """What can be told without the catalog or the clock."""
    for name in ("event_id", "session_id", "video"):
        if not getattr(event, name):
            raise _Rejected(_REASON_MISSING, name, f"{name} must be set")
    if event.kind not in KINDS:
        raise _Rejected(_REASON_MISSING, "kind", "kind must be one of PlayerEventKind, not unspecified")
    for name, limit in _LIMITS:
        if len(getattr(event, name)) > limit:
            raise _Rejected(_REASON_TOO_LONG, name, f"{name} is longer than {limit} characters")
    for name, most in _DURATIONS:
        span = getattr(event, name)
        if span.seconds < 0 or span.nanos < 0:
            raise _Rejected(_REASON_RANGE, name, f"{name} must not be negative")
        if most is not None and keys.ms(span) > most:
            raise _Rejected(_REASON_RANGE, name, f"{name} must be at most {most // 1000}s")
    if event.bandwidth_estimate < 0:
        raise _Rejected(_REASON_RANGE, "bandwidth_estimate", "bandwidth_estimate must not be negative")


def _playable(video: Video | None, caller: Identity | None) -> Video:
    if video is None or video.status != resources_pb2.VIDEO_STATUS_READY or not can_see(video, caller):
        raise _Rejected(_REASON_UNKNOWN, "video", "no such video is playable by this viewer")
    return video


def _check_times(event: pb2.PlayerEvent, now_ms: int, duration_ms: int, s: AnalyticsSettings) -> None:
    if event.HasField("event_time"):
        at = keys.ms(event.event_time)
        if at < now_ms - s.max_event_age_seconds * 1000 or at > now_ms + s.max_event_lead_seconds * 1000:
            raise _Rejected(
                error_reason_pb2.EVENT_TIME_OUT_OF_RANGE,
                "event_time",
                f"event_time must be within {s.max_event_age_seconds}s before and {s.max_event_lead_seconds}s after the server's clock",
            )
    for name in ("position", "seek_from"):
        at = keys.ms(getattr(event, name))
        if at > duration_ms + POSITION_SLACK_MS:
            raise _Rejected(
                error_reason_pb2.EVENT_POSITION_OUT_OF_RANGE,
                name,
                f"{name} {at / 1000:g}s is beyond the video's {duration_ms / 1000:g}s",
            )


def _rejection(index: int, event: pb2.PlayerEvent, bad: _Rejected) -> pb2.RejectedEvent:
    return pb2.RejectedEvent(
        event_id=event.event_id[:MAX_ID],
        index=index,
        reason=bad.reason,
        field=bad.field,
        description=bad.description,
    )
