"""Where analytics state lives in Redis/Valkey, and the one format of event log entries.

Keys (all under 'vidmesh:analytics:'):
  log:{shard}              stream  the event log (Kafka's role). One entry per accepted batch of
                                   one shard, fields below; groups 'aggregate' and 'archive'
  seen:{session}           set     event ids received for the session (dedup); expires
  session:{session}        string  the aggregator's state of a session (JSON); expires
  wm:{group}:{shard}       string  stream id of the last entry the group's worker applied
  applied:{group}:{shard}  string  arrival time (ms) of that entry: what the group has counted
  video:{video}            hash    lifetime counters of a video (COUNTER_FIELDS and the
                                   startup:/rendition: fields), plus duration_ms
  video:{video}:h:{hour}   hash    the same counters for sessions that started in that UTC hour
                                   (hour as YYYYMMDDHH); expire after hourly_retention_days
  retention:{video}        hash    retention bucket index -> views that played it
  viewers:{video}          HLL     keyed hashes of the viewers of the video's views
  viewers:{video}:h:{hour} HLL     the same per start hour; expire with the hourly counters
  top:{owner}:views        zset    video id -> lifetime views, of the owner's videos
  top:{owner}:watch_ms     zset    video id -> lifetime watch time in ms
  view-milestones          stream  videos whose lifetime views crossed a milestone (a power of
                                   1.1, rounded down), field v: JSON [video, views, ...]; capped
  views                    stream  sessions that became views, one entry per counting batch,
                                   field v: JSON [viewer, video, event ms, ...]; capped

Sessions are sharded by session id, so all of a session's events reach the one worker of its
shard, which alone writes that session's state and that shard's watermarks (in one script per
batch, together with the counters: see the aggregator).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from vidmesh.analytics.v1 import analytics_service_pb2 as pb2

PREFIX = "vidmesh:analytics:"
AGGREGATE = "aggregate"
ARCHIVE = "archive"
GROUPS = (AGGREGATE, ARCHIVE)
MILESTONES = f"{PREFIX}view-milestones"
MILESTONES_KEPT = 100_000  # entries (about: trimmed with MAXLEN ~)
VIEWS = f"{PREFIX}views"
VIEWS_KEPT = 100_000  # entries (about), as the milestones
MILESTONE_BASE = 1.1  # a video reaches a milestone each time its views grow by about 10%

# Lifetime and hourly counter fields (hash fields of video:{video} and video:{video}:h:{hour}).
COUNTER_FIELDS = (
    "sessions",  # sessions that asked to play (PLAY_REQUEST or PLAY)
    "started",  # sessions that showed a first frame (PLAY)
    "views",  # sessions that became views (the view rule)
    "watch_ms",  # video time played, all sessions
    "stall_ms",  # time stalled after start (BUFFER_END stall_duration)
    "rebuffered_views",  # views that stalled at least once
    "failed",  # sessions that ended in an ERROR
    "failed_before_start",  # failed sessions that never showed a frame
)
STARTUP_FIELD = "startup:"  # + histogram bucket index (see fold.startup_bucket)
RENDITION_FIELD = "rendition:"  # + rendition name: watch time in ms


def ms(message: Any) -> int:
    """A Duration or Timestamp in whole milliseconds (what counters and files hold)."""
    return int(message.seconds) * 1000 + int(message.nanos) // 1_000_000


def shard_of(session_id: str, shards: int) -> int:
    """The shard of a session: stable across processes and restarts (crc32, not hash())."""
    return zlib.crc32(session_id.encode()) % shards


def log_key(shard: int) -> str:
    return f"{PREFIX}log:{shard}"


def seen_key(session_id: str) -> str:
    return f"{PREFIX}seen:{session_id}"


def session_key(session_id: str) -> str:
    return f"{PREFIX}session:{session_id}"


def watermark_key(group: str, shard: int) -> str:
    return f"{PREFIX}wm:{group}:{shard}"


def applied_key(group: str, shard: int) -> str:
    return f"{PREFIX}applied:{group}:{shard}"


def video_key(video_id: str) -> str:
    return f"{PREFIX}video:{video_id}"


def hour_of(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y%m%d%H")


def video_hour_key(video_id: str, hour: str) -> str:
    return f"{PREFIX}video:{video_id}:h:{hour}"


def retention_key(video_id: str) -> str:
    return f"{PREFIX}retention:{video_id}"


def viewers_key(video_id: str, hour: str = "") -> str:
    return f"{PREFIX}viewers:{video_id}" + (f":h:{hour}" if hour else "")


def top_key(owner: str, field: str) -> str:
    """field: 'views' or 'watch_ms'."""
    return f"{PREFIX}top:{owner}:{field}"


def retention_bucket_count(duration_ms: int) -> int:
    """100 buckets; one per whole second (the last shorter) for videos under 100 seconds."""
    return max(1, min(100, -(-duration_ms // 1000)))


class VideoFacts(NamedTuple):  # (a tuple: entries carry hundreds, decoded per batch)
    """What ingest learned from the catalog about a video an entry's events are for."""

    duration_ms: int
    owner: str


@dataclass(frozen=True)
class LogEntry:
    """One event log entry: a batch of accepted events of one shard.

    events: accepted events, normalized by ingest: viewer_id is the keyed hash of the viewer
      (the caller's identity, the client's viewer id, or the session), event_time is always set.
    duplicates: indexes into events that the log already had (same session and event id);
      consumers skip them. Ingest's script decides them atomically with the append.
    videos: facts about every video the events name.
    """

    entry_id: str
    events: list[pb2.PlayerEvent]
    duplicates: frozenset[int]
    videos: Mapping[str, VideoFacts]

    @property
    def arrival_ms(self) -> int:
        return int(self.entry_id.split("-", 1)[0])

    def counted(self) -> list[pb2.PlayerEvent]:
        """The events to count: all but the duplicates."""
        return [e for i, e in enumerate(self.events) if i not in self.duplicates]


# Stream entry fields. 'b' and 'v' are written by ingest, 'd' by its script.
FIELD_EVENTS = "b"  # serialized SendEventsRequest of the normalized events
FIELD_VIDEOS = "v"  # JSON {video_id: [duration_ms, owner]}
FIELD_DUPLICATES = "d"  # comma-separated duplicate indexes ('' for none)


def encode_videos(videos: Mapping[str, VideoFacts]) -> str:
    return json.dumps({vid: [f.duration_ms, f.owner] for vid, f in videos.items()}, separators=(",", ":"))


def decode_entry(entry_id: bytes | str, fields: Mapping[bytes, bytes]) -> LogEntry:
    """A stream entry as read by XREADGROUP/XRANGE (bytes, decode_responses off)."""
    batch = pb2.SendEventsRequest.FromString(fields[FIELD_EVENTS.encode()])
    videos = {vid: VideoFacts(int(d), str(o)) for vid, (d, o) in json.loads(fields[FIELD_VIDEOS.encode()]).items()}
    raw = fields.get(FIELD_DUPLICATES.encode(), b"")
    duplicates = frozenset(int(i) for i in raw.split(b",") if i)
    entry_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return LogEntry(entry_id, list(batch.events), duplicates, videos)
