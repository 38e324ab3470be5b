"""The warehouse's questions: retention and rankings over time ranges, daily history, with DuckDB
over the archiver's Parquet files (archive.py writes them; Archiver is re-exported here).

Sessions are rebuilt from raw events the way the aggregator folds them: a session is its events
(by session_id), it starts at its earliest event_time, its played time is the sum of played_ms,
and it is a view by the same rule (VIEW_MIN_PLAYED_MS, or half of a video shorter than
SHORT_VIDEO_MS). A view's retention buckets are those its played stretches
[position - played, position) overlap (a SEEK's end at seek_from). Ranges select sessions that started in [start, end).

Files are picked by arrival hour: those from session_memory_seconds + max_event_lead_seconds
before the range (a session that began just before it must be seen whole, or it would look as
if it began inside) to session_memory_seconds + max_event_age_seconds after it (late events).
A session that runs longer than session_memory_seconds may be cut at those edges.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import redis.asyncio as redis
from vidmesh.analytics.v1 import analytics_service_pb2 as pb2

from ..runtime.config import AnalyticsSettings
from . import answers, keys
from .archive import Archiver, data_files
from .counters import counted_before_ms
from .fold import SHORT_VIDEO_MS, VIEW_MIN_PLAYED_MS

__all__ = ["Archiver", "DailyViews", "Warehouse"]

DAY_MS = 86_400_000
_FAR_PAST_MS = -(2**62)

_SESSIONS = f"""
    SELECT video_id, session_id, min(epoch_ms(event_time)) AS started, sum(played_ms) AS played,
        max(duration_ms) AS duration,
        bool_or(kind IN ({pb2.PLAYER_EVENT_KIND_PLAY}, {pb2.PLAYER_EVENT_KIND_PLAY_REQUEST})) AS asked
    FROM read_parquet($files, hive_partitioning = false)
    WHERE {{where}}
    GROUP BY video_id, session_id
"""
_IS_VIEW = f"(played >= {VIEW_MIN_PLAYED_MS} OR (duration > 0 AND duration < {SHORT_VIDEO_MS} AND 2 * played >= duration))"
_IN_RANGE = "started >= $start AND started < $end"


def _bucket_of(ms: str) -> str:
    """SQL for the retention bucket of a position: one per second under 100 s, else hundredths
    (retention_bucket_start is the inverse)."""
    return f"least($buckets - 1, ({ms}) // 1000, 100 * ({ms}) // $duration)"


_RETENTION = f"""
WITH ev AS MATERIALIZED (
    -- A SEEK's `played` was played before the jump: its stretch ends where it jumped from.
    SELECT session_id, epoch_ms(event_time) AS t, played_ms,
           CASE WHEN kind = {pb2.PLAYER_EVENT_KIND_SEEK} THEN seek_from_ms ELSE position_ms END AS position_ms, duration_ms
    FROM read_parquet($files, hive_partitioning = false) WHERE video_id = $video
),
views AS MATERIALIZED (
    SELECT session_id FROM (
        SELECT session_id, min(t) AS started, sum(played_ms) AS played, max(duration_ms) AS duration
        FROM ev GROUP BY session_id
    ) WHERE {_IN_RANGE} AND {_IS_VIEW}
),
spans AS (
    SELECT session_id, greatest(0, position_ms - played_ms) AS a, least($duration, position_ms) AS b
    FROM ev SEMI JOIN views USING (session_id) WHERE played_ms > 0
),
covered AS (
    SELECT DISTINCT session_id, bucket FROM (
        SELECT session_id, unnest(range({_bucket_of("a")}, {_bucket_of("b - 1")} + 1)) AS bucket FROM spans WHERE b > a
    )
)
SELECT -1 AS bucket, count(*) FROM views
UNION ALL
SELECT bucket, count(*) FROM covered GROUP BY bucket
"""

_TOP = f"""
WITH sessions AS ({_SESSIONS.format(where="owner = $owner")})
SELECT video_id, count(*) FILTER (WHERE {_IS_VIEW}) AS views, sum(played) AS watch_ms
FROM sessions WHERE {_IN_RANGE}
GROUP BY video_id ORDER BY {{order}}, video_id LIMIT $limit
"""
_TOP_ORDER: dict[int, str] = {pb2.TOP_VIDEOS_ORDER_VIEWS: "views DESC, watch_ms DESC"}
_TOP_DEFAULT_ORDER = "watch_ms DESC, views DESC"

_DAILY = f"""
WITH sessions AS ({_SESSIONS.format(where="video_id = $video")})
SELECT started // {DAY_MS} AS day, count(*) FILTER (WHERE asked), count(*) FILTER (WHERE {_IS_VIEW}), sum(played)
FROM sessions WHERE {_IN_RANGE} GROUP BY day
"""


@dataclass(frozen=True)
class DailyViews:
    """One UTC day of a video's history: sessions that started that day."""

    day: dt.date
    sessions: int  # that asked to play
    views: int
    watch_ms: int


class Warehouse:
    """Answers range questions from the Parquet files under root. One DuckDB database per
    process; each query runs in a worker thread on a cursor of its own."""

    def __init__(self, root: Path, client: redis.Redis, settings: AnalyticsSettings):
        self._root = root
        self._client = client
        self._settings = settings
        self._db = duckdb.connect(":memory:")

    def close(self) -> None:
        self._db.close()

    async def retention(self, video_id: str, duration_ms: int, *, start: float | None, end: float | None) -> pb2.GetRetentionResponse:
        """The retention curve of the views of video_id that started in [start, end) (None: open)."""
        count = keys.retention_bucket_count(duration_ms)
        lo, hi = self._range(start, end)
        params = {"video": video_id, "start": lo, "end": hi, "duration": max(duration_ms, 1), "buckets": count}
        rows = await self._query(_RETENTION, params, lo, hi) if duration_ms > 0 else []
        counts = {int(bucket): int(n) for bucket, n in rows}
        views = counts.pop(-1, 0)
        return answers.retention(counts, views, duration_ms, await self.as_of_ms())

    async def top_videos(self, owner: str, order: int, limit: int, *, start: float | None, end: float | None) -> pb2.ListTopVideosResponse:
        """owner's videos with sessions that started in [start, end), best first by `order`."""
        lo, hi = self._range(start, end)
        sql = _TOP.format(order=_TOP_ORDER.get(order, _TOP_DEFAULT_ORDER))
        rows = await self._query(sql, {"owner": owner, "start": lo, "end": hi, "limit": limit}, lo, hi)
        videos = [
            pb2.TopVideo(video=f"videos/{vid}", views=int(views), watch_time=answers.duration(int(watch))) for vid, views, watch in rows
        ]
        return pb2.ListTopVideosResponse(videos=videos, as_of_time=answers.timestamp(await self.as_of_ms()))

    async def daily_views(self, video_id: str, start: float, end: float) -> list[DailyViews]:
        """One entry per UTC day from start's day to end's, days without sessions included."""
        lo, hi = self._range(start, end)
        rows = await self._query(_DAILY, {"video": video_id, "start": lo, "end": hi}, lo, hi)
        found = {int(day): (int(sessions), int(views), int(watch or 0)) for day, sessions, views, watch in rows}
        epoch = dt.date(1970, 1, 1)
        return [
            DailyViews(epoch + dt.timedelta(days=day), *found.get(day, (0, 0, 0))) for day in range(lo // DAY_MS, (hi - 1) // DAY_MS + 1)
        ]

    async def as_of_ms(self) -> int:
        """Events that arrived before this time (ms) are in files."""
        return await counted_before_ms(self._client, keys.ARCHIVE, self._settings.shards)

    def _range(self, start: float | None, end: float | None) -> tuple[int, int]:
        lo = _FAR_PAST_MS if start is None else int(start * 1000)
        hi = int((time.time() if end is None else end) * 1000)
        return lo, hi

    def _files(self, lo: int, hi: int) -> list[str]:
        s = self._settings
        before = (s.session_memory_seconds + s.max_event_lead_seconds) * 1000
        after = (s.session_memory_seconds + s.max_event_age_seconds) * 1000
        return data_files(self._root, None if lo == _FAR_PAST_MS else lo - before, hi + after)

    async def _query(self, sql: str, params: dict[str, Any], lo: int, hi: int) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self._run, sql, params, lo, hi)

    def _run(self, sql: str, params: dict[str, Any], lo: int, hi: int) -> list[tuple[Any, ...]]:
        for attempt in range(2):
            files = self._files(lo, hi)
            if not files:
                return []  # nothing archived yet: an empty answer
            try:
                with self._db.cursor() as cursor:
                    return _fetch(cursor, sql, {**params, "files": files})
            except duckdb.IOException:
                if attempt:  # a file listed may have been deleted (retention) since: list again, once
                    raise
        raise AssertionError("unreachable")


def _fetch(cursor: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows: Sequence[tuple[Any, ...]] = cursor.execute(sql, params).fetchall()
    return list(rows)
