"""Reading the live counters the aggregators keep (keys.py has the layout)."""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
from google.protobuf import timestamp_pb2
from vidmesh.analytics.v1 import analytics_service_pb2 as pb2

from ..runtime.config import AnalyticsSettings
from ..runtime.errors import FieldViolation, InvalidArgument
from . import answers, keys
from .archive import entry_key

HOUR = 3600
DEFAULT_MILESTONE_PAGE, MAX_MILESTONE_PAGE = 100, 1000
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
DAY = 86_400
MAX_POINTS = 1000
_DEFAULT_SPAN: dict[int, int] = {pb2.METRICS_INTERVAL_HOUR: DAY, pb2.METRICS_INTERVAL_DAY: 30 * DAY}
_WIDTH: dict[int, int] = {pb2.METRICS_INTERVAL_HOUR: HOUR, pb2.METRICS_INTERVAL_DAY: DAY}


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _counts(raw: dict[Any, Any]) -> dict[str, int]:
    return {_text(k): int(v) for k, v in raw.items()}


async def counted_before_ms(client: redis.Redis, group: str, shards: int) -> int:
    """Events that arrived before this time (ms) are applied by `group`: per shard, the arrival of
    the first entry above its watermark, or now if there is none; the earliest over the shards."""
    marks = await client.mget([keys.watermark_key(group, s) for s in range(shards)])
    async with client.pipeline(transaction=False) as pipe:
        for shard, mark in enumerate(marks):
            pipe.xrange(keys.log_key(shard), min=f"({_text(mark)}" if mark else "-", count=1)
        firsts: list[Any] = await pipe.execute()
    now = int(time.time() * 1000)
    return min((entry_key(_text(entries[0][0]))[0] if entries else now for entries in firsts), default=now)


def _floor(seconds: float, width: int) -> int:
    return int(seconds // width * width)


def _ceil(seconds: float, width: int) -> int:
    return int(-(-seconds // width) * width)


class Counters:
    def __init__(self, client: redis.Redis, settings: AnalyticsSettings):
        self._client = client
        self._settings = settings

    async def as_of(self) -> timestamp_pb2.Timestamp:
        return answers.timestamp(await counted_before_ms(self._client, keys.AGGREGATE, self._settings.shards))

    async def video_metrics(self, video_id: str, *, start: float | None, end: float | None, interval: int) -> pb2.GetVideoMetricsResponse:
        """Lifetime totals when nothing is given; else totals (and a series) over whole hours
        (days for a DAY series) from the hourly counters."""
        as_of = await self.as_of()
        if start is None and end is None and interval == pb2.METRICS_INTERVAL_UNSPECIFIED:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.hgetall(keys.video_key(video_id))
                pipe.pfcount(keys.viewers_key(video_id))
                lifetime, uniques = await pipe.execute()
            return pb2.GetVideoMetricsResponse(totals=answers.metrics(_counts(lifetime), int(uniques)), as_of_time=as_of)
        width = _WIDTH.get(interval, HOUR)
        hi = _ceil(time.time() if end is None else end, width)
        lo = _floor(hi - _DEFAULT_SPAN.get(interval, 30 * DAY) if start is None else start, width)
        self._check_range(lo, hi, width if interval else 0)
        hours = [keys.hour_of(t) for t in range(lo, hi, HOUR)]
        async with self._client.pipeline(transaction=False) as pipe:
            for hour in hours:
                pipe.hgetall(keys.video_hour_key(video_id, hour))
            hourly = [_counts(raw) for raw in await pipe.execute()]
        points = range(lo, hi, width) if interval else range(0)
        per_point = width // HOUR
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.pfcount(*(keys.viewers_key(video_id, hour) for hour in hours))
            for i, _ in enumerate(points):
                pipe.pfcount(*(keys.viewers_key(video_id, hour) for hour in hours[i * per_point : (i + 1) * per_point]))
            uniques = await pipe.execute()
        series = [
            pb2.VideoMetricsPoint(
                start_time=answers.timestamp(at * 1000),
                metrics=answers.metrics(_sum(hourly[i * per_point : (i + 1) * per_point]), int(uniques[i + 1])),
            )
            for i, at in enumerate(points)
        ]
        return pb2.GetVideoMetricsResponse(totals=answers.metrics(_sum(hourly), int(uniques[0])), series=series, as_of_time=as_of)

    def _check_range(self, lo: int, hi: int, width: int) -> None:
        kept_from = _floor(time.time() - self._settings.hourly_retention_days * DAY, HOUR)
        if lo >= hi:
            raise InvalidArgument(FieldViolation("start_time", "must be before end_time"))
        if lo < kept_from:
            days = self._settings.hourly_retention_days
            raise InvalidArgument(FieldViolation("start_time", f"hourly counters are kept for {days} days; start later"))
        if width and (hi - lo) // width > MAX_POINTS:
            raise InvalidArgument(FieldViolation("interval", f"the series would have more than {MAX_POINTS} points"))

    async def retention(self, video_id: str, duration_ms: int) -> pb2.GetRetentionResponse:
        """The lifetime retention curve."""
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.retention_key(video_id))
            pipe.hget(keys.video_key(video_id), "views")
            buckets, views = await pipe.execute()
        counts = {int(k): v for k, v in _counts(buckets).items()}
        as_of = await counted_before_ms(self._client, keys.AGGREGATE, self._settings.shards)
        return answers.retention(counts, int(views or 0), duration_ms, as_of)

    async def top_videos(self, owner: str, order: int, limit: int) -> list[pb2.TopVideo]:
        """owner's videos by lifetime views or watch time, best first (at most limit)."""
        field = "views" if order == pb2.TOP_VIDEOS_ORDER_VIEWS else "watch_ms"
        ranked: list[Any] = await self._client.zrevrange(keys.top_key(owner, field), 0, limit - 1)
        ids = [_text(member) for member in ranked]
        async with self._client.pipeline(transaction=False) as pipe:
            for video_id in ids:
                pipe.hmget(keys.video_key(video_id), "views", "watch_ms")
            values = await pipe.execute()
        return [
            pb2.TopVideo(video=f"videos/{video_id}", views=int(views or 0), watch_time=answers.duration(int(watch or 0)))
            for video_id, (views, watch) in zip(ids, values, strict=True)
        ]

    async def view_counts(self, video_ids: Sequence[str]) -> tuple[dict[str, int], timestamp_pb2.Timestamp]:
        async with self._client.pipeline(transaction=False) as pipe:
            for video_id in video_ids:
                pipe.hget(keys.video_key(video_id), "views")
            views = await pipe.execute()
        return {v: int(n or 0) for v, n in zip(video_ids, views, strict=True)}, await self.as_of()

    async def view_milestones(self, cursor: str, page_size: int) -> tuple[list[tuple[str, int]], str]:
        """(video, views) of the milestone entries after cursor, and the cursor after them."""
        flat, cursor = await self._follow(keys.MILESTONES, cursor, page_size)
        return [(str(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)], cursor

    async def views(self, cursor: str, page_size: int) -> tuple[list[tuple[str, str, int]], str]:
        """(viewer, video, event ms) of the new views after cursor, and the cursor after them."""
        flat, cursor = await self._follow(keys.VIEWS, cursor, page_size)
        return [(str(flat[i]), str(flat[i + 1]), int(flat[i + 2])) for i in range(0, len(flat), 3)], cursor

    async def _follow(self, stream: str, cursor: str, page_size: int) -> tuple[list[Any], str]:
        """The JSON lists of a feed stream's entries after cursor, joined, and the cursor after them."""
        if page_size < 0:
            raise InvalidArgument(FieldViolation("page_size", "must not be negative"))
        if not cursor:
            newest: list[Any] = await self._client.xrevrange(stream, count=1) or []
            return [], _text(newest[0][0]) if newest else "0-0"
        if not _STREAM_ID.match(cursor):
            raise InvalidArgument(FieldViolation("cursor", "not a cursor analytics issued"))
        count = min(page_size or DEFAULT_MILESTONE_PAGE, MAX_MILESTONE_PAGE)
        entries: list[Any] = await self._client.xrange(stream, min=f"({cursor}", count=count) or []
        flat: list[Any] = []
        for _, fields in entries:
            flat += json.loads(fields[b"v"])
        return flat, _text(entries[-1][0]) if entries else cursor


def _sum(hashes: Sequence[dict[str, int]]) -> dict[str, int]:
    total: defaultdict[str, int] = defaultdict(int)
    for counters in hashes:
        for name, value in counters.items():
            total[name] += value
    return total
