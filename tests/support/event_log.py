"""Builds analytics event log entries the way ingest stores them (keys.py's format), for tests
and benchmarks that feed the aggregator or the archiver without the gRPC front."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence

import redis.asyncio as redis
from google.protobuf import duration_pb2, timestamp_pb2
from vidmesh.analytics.v1 import analytics_service_pb2 as pb2

from vidmesh_services.analytics import keys

HEARTBEAT_MS = 10_000
Kind = pb2.PlayerEventKind


def duration(ms: int) -> duration_pb2.Duration:
    span = duration_pb2.Duration()
    span.FromMilliseconds(ms)
    return span


def event(kind: int, session_id: str, video_id: str, at_ms: int, **fields: object) -> pb2.PlayerEvent:
    """One normalized event (as ingest leaves it: viewer hashed, event_time set). Fields ending
    in _ms become the Duration of the same name without it (position_ms=5000 -> position)."""
    durations = {name.removesuffix("_ms"): duration(int(value)) for name, value in fields.items() if name.endswith("_ms")}  # type: ignore[call-overload]
    plain = {name: value for name, value in fields.items() if not name.endswith("_ms")}
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMilliseconds(at_ms)
    return pb2.PlayerEvent(
        event_id=str(uuid.uuid4()),
        session_id=session_id,
        video=f"videos/{video_id}",
        kind=kind,  # type: ignore[arg-type]
        event_time=stamp,
        viewer_id=str(plain.pop("viewer_id", f"viewer-of-{session_id}")),
        **durations,  # type: ignore[arg-type]
        **plain,  # type: ignore[arg-type]
    )


def watch(
    session_id: str, video_id: str, start_ms: int, spans: Sequence[tuple[int, int]], *, rendition: str = "720p"
) -> list[pb2.PlayerEvent]:
    """A session that asks to play at start_ms, starts (startup 300 ms), plays each (from_ms,
    to_ms) stretch of the video in turn (seeking between them), a heartbeat per 10 s played,
    and pauses at the end. Its events carry played_ms summing to the stretches' lengths."""
    at = start_ms
    events = [event(Kind.PLAYER_EVENT_KIND_PLAY_REQUEST, session_id, video_id, at)]
    at += 300
    events.append(event(Kind.PLAYER_EVENT_KIND_PLAY, session_id, video_id, at, startup_time_ms=300, rendition=rendition))
    position = 0
    for begin, end in spans:
        if begin != position:
            events.append(event(Kind.PLAYER_EVENT_KIND_SEEK, session_id, video_id, at, seek_from_ms=position, position_ms=begin))
        position = begin
        while position < end:
            step = min(HEARTBEAT_MS, end - position)
            position += step
            at += step
            kind = Kind.PLAYER_EVENT_KIND_HEARTBEAT if position < end else Kind.PLAYER_EVENT_KIND_PAUSE
            events.append(event(kind, session_id, video_id, at, position_ms=position, played_ms=step, rendition=rendition))
    return events


def entry_fields(
    events: Iterable[pb2.PlayerEvent], videos: Mapping[str, keys.VideoFacts], duplicates: Iterable[int] = ()
) -> dict[str, bytes]:
    """The stream fields of one log entry."""
    return {
        keys.FIELD_EVENTS: pb2.SendEventsRequest(events=list(events)).SerializeToString(),
        keys.FIELD_VIDEOS: keys.encode_videos(videos).encode(),
        keys.FIELD_DUPLICATES: ",".join(map(str, sorted(duplicates))).encode(),
    }


async def append(
    client: redis.Redis,
    shard: int,
    events: Sequence[pb2.PlayerEvent],
    videos: Mapping[str, keys.VideoFacts],
    *,
    duplicates: Iterable[int] = (),
    entry_id: str = "*",
) -> str:
    """XADDs one entry to shard's log (entry_id "<ms>-<seq>" picks its arrival time) and returns its id."""
    added = await client.xadd(keys.log_key(shard), entry_fields(events, videos, duplicates), id=entry_id)  # type: ignore[arg-type]
    return added.decode() if isinstance(added, bytes) else str(added)
