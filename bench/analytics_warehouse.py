"""The analytics benchmark's warehouse part, against a Valkey of its own (no mesh needed):

- the archiver's Parquet rows/s: an event log shard filled with entries as ingest packs them,
  drained by vidmesh_services.analytics.archive.Archiver into hourly files (temp + fsync +
  rename), until its watermark reaches the last entry;
- DuckDB query times of the Warehouse on 10M events: synthetic sessions (heartbeats every
  10 s, power-law popularity over 5,000 videos, 2 days) generated with DuckDB's SQL, written with
  pyarrow in archive.py's schema as the archiver lays files out (date=/hour=, one file per shard
  and hour), then Warehouse.retention and .top_videos timed.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WAREHOUSE_VIDEOS = 5000
OWNERS = 50


@dataclass
class ArchiverFigures:
    rows: int
    entries: int
    seconds: float
    files: int
    rows_in_files: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class QueryFigure:
    name: str
    median_ms: float
    runs: int
    answer: str


@dataclass
class WarehouseFigures:
    events: int
    sessions: int
    files: int
    megabytes: float
    generate_seconds: float
    write_seconds: float
    queries: list[QueryFigure]


# -- the archiver -----------------------------------------------------------------------------


def _sample_entries(distinct: int, per_entry: int) -> tuple[list[dict[str, bytes]], int]:
    """`distinct` entries of per_entry events each (sessions of 4-minute watches), as ingest
    stores them; returns them and the events they hold."""
    from tests.support.event_log import entry_fields, watch
    from vidmesh_services.analytics import keys

    now = int(time.time() * 1000)
    videos = {f"vid{i}": keys.VideoFacts(600_000, "bench") for i in range(50)}
    entries, events = [], 0
    session = 0
    pending: list[Any] = []
    while len(entries) < distinct:
        session += 1
        pending += watch(f"session-{session}", f"vid{session % 50}", now - 3_000_000, [(0, 240_000)])
        while len(pending) >= per_entry and len(entries) < distinct:
            part, pending = pending[:per_entry], pending[per_entry:]
            entries.append(entry_fields(part, {e.video.removeprefix("videos/"): videos[e.video.removeprefix("videos/")] for e in part}))
            events += len(part)
    return entries, events


def archiver_rate(url: str, home: Path, total_events: int, per_entry: int = 250) -> ArchiverFigures:
    """Fills log:0 with total_events (400 distinct entries of per_entry events, repeated), then
    times an Archiver draining it (a file per 500,000 rows or per second)."""
    import duckdb
    import redis as sync_redis
    import redis.asyncio as redis

    from vidmesh_services.analytics import keys
    from vidmesh_services.analytics.archive import Archiver, data_files
    from vidmesh_services.runtime.config import AnalyticsSettings, Config

    distinct, held = _sample_entries(400, per_entry)
    entries = max(1, total_events // per_entry)
    filler = sync_redis.Redis.from_url(url)
    last_id = ""
    for start in range(0, entries, 200):
        with filler.pipeline(transaction=False) as pipe:
            for i in range(start, min(entries, start + 200)):
                pipe.xadd(keys.log_key(0), distinct[i % len(distinct)])  # type: ignore[arg-type]
            last_id = pipe.execute()[-1].decode()
    filler.close()
    rows = entries * per_entry
    assert held == len(distinct) * per_entry
    # Files end by rows (500,000) or after a second, so the tail is not timed waiting for a flush by age.
    config = Config(home=home, redis_url=url, analytics=AnalyticsSettings(warehouse_flush_seconds=1.0))

    async def run() -> float:
        client = redis.Redis.from_url(url)
        archiver = Archiver(config, client, 0)
        began = time.monotonic()
        stop = asyncio.Event()
        task = asyncio.create_task(archiver.run(stop))
        try:
            while (await client.get(keys.watermark_key(keys.ARCHIVE, 0)) or b"").decode() != last_id:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
            return time.monotonic() - began
        finally:
            stop.set()
            await task
            await client.aclose()

    seconds = asyncio.run(run())
    files = data_files(config.warehouse_dir)
    (in_files,) = duckdb.sql(f"SELECT count(*) FROM read_parquet({files!r})").fetchall()[0]
    return ArchiverFigures(rows, entries, seconds, len(files), int(in_files))


# -- 10M events for DuckDB --------------------------------------------------------------------

_VIDEOS_SQL = """
CREATE TABLE videos AS
SELECT i AS vid, 60000 + (i * 7919) % 1140000 AS dur FROM range({videos}) t(i)
"""
# Sessions: popularity falls as a power of the video's rank; each watches a share of its video.
_SESSIONS_SQL = """
CREATE TABLE sessions AS
WITH s AS (
    SELECT range AS sid, CAST(floor(pow(random(), 3) * {videos}) AS BIGINT) AS vid,
        {start} + CAST(random() * {span} AS BIGINT) AS t0, random() AS share,
        CAST(floor(random() * 200000) AS BIGINT) AS viewer
    FROM range({sessions})
)
SELECT sid, vid, dur, t0, viewer, CAST(dur * pow(share, 0.8) AS BIGINT) AS watched
FROM s JOIN videos USING (vid)
"""
# Events: PLAY_REQUEST, PLAY (with startup), a HEARTBEAT per 10 s played, then ENDED or PAUSE.
_EVENTS_SQL = """
CREATE TABLE events AS
WITH e AS (
    SELECT s.*, k, 1 + CAST(ceil(watched / 10000) AS BIGINT) AS last FROM sessions s,
        LATERAL (SELECT unnest(range(0, 2 + CAST(ceil(watched / 10000) AS BIGINT))) AS k)
    WHERE sid < {keep}
)
SELECT
    sid, 'e' || sid || '-' || k AS event_id, 's' || sid AS session_id, 'v' || vid AS video_id,
    'owner' || (vid % {owners}) AS owner, 'viewer' || viewer AS viewer,
    CAST(CASE WHEN k = 0 THEN 10 WHEN k = 1 THEN 1 WHEN k = last THEN (CASE WHEN watched >= dur THEN 8 ELSE 2 END) ELSE 4 END AS INTEGER) AS kind,
    t0 + k * 10000 AS t_ms,
    t0 + k * 10000 + 50 + (sid * 31 + k) % 450 AS arrival_ms,
    CASE WHEN k <= 1 THEN 0 ELSE least(watched, (k - 1) * 10000) END AS position_ms,
    CASE WHEN k <= 1 THEN 0 ELSE least(watched, (k - 1) * 10000) - least(watched, (k - 2) * 10000) END AS played_ms,
    CASE WHEN k = 1 THEN 200 + (sid * 13) % 1500 ELSE 0 END AS startup_ms,
    dur AS duration_ms
FROM e
"""
_FILE_SQL = """
SELECT event_id, session_id, video_id, owner, viewer, kind,
    epoch_ms(t_ms) AS event_time, epoch_ms(arrival_ms) AS arrival_time,
    position_ms, played_ms, '720p' AS rendition, '' AS previous_rendition, startup_ms,
    CAST(0 AS BIGINT) AS stall_ms, CAST(0 AS BIGINT) AS seek_from_ms, CAST(0 AS BIGINT) AS bandwidth,
    '' AS error_code, '' AS error_message, duration_ms
FROM events WHERE arrival_ms // {hour_ms} = $hour AND sid % 2 = $shard ORDER BY arrival_ms
"""
MEAN_EVENTS_PER_SESSION = 37  # 2 + ~350 s watched / 10 s, for the durations and shares above


def generate(root: Path, events: int, now_ms: int) -> tuple[int, int, int, float, float]:
    """Writes about `events` events (exactly, cut at a session boundary below it) over the two
    days before now_ms; returns (events, sessions, files, generate s, write s)."""
    import duckdb
    import pyarrow as pa

    from vidmesh_services.analytics.archive import SCHEMA, file_name, hour_folder, write_file

    db = duckdb.connect(":memory:")
    began = time.monotonic()
    db.execute("SELECT setseed(0.11)")
    sessions = int(events / MEAN_EVENTS_PER_SESSION * 1.1)
    start, span = now_ms - 2 * DAY_MS, 2 * DAY_MS - 30 * 60_000  # sessions over by now
    db.execute(_VIDEOS_SQL.format(videos=WAREHOUSE_VIDEOS))
    db.execute(_SESSIONS_SQL.format(videos=WAREHOUSE_VIDEOS, start=start, span=span, sessions=sessions))
    # Keep the sessions whose events fit in the target.
    keep_row = db.execute(
        f"""SELECT coalesce(max(sid) + 1, 0) FROM (
            SELECT sid, sum(2 + CAST(ceil(watched / 10000) AS BIGINT)) OVER (ORDER BY sid) AS total FROM sessions
        ) WHERE total <= {events}"""
    ).fetchone()
    keep = int(keep_row[0]) if keep_row else 0
    db.execute(_EVENTS_SQL.format(keep=keep, owners=OWNERS))
    count_row = db.execute("SELECT count(*) FROM events").fetchone()
    made = int(count_row[0]) if count_row else 0
    generated = time.monotonic() - began
    began = time.monotonic()
    parts = db.execute(f"SELECT DISTINCT arrival_ms // {HOUR_MS} AS h, sid % 2 AS shard FROM events ORDER BY h, shard").fetchall()
    sql = _FILE_SQL.format(hour_ms=HOUR_MS)
    for hour, shard in parts:
        table: pa.Table = db.execute(sql, {"hour": hour, "shard": shard}).to_arrow_table().cast(SCHEMA)
        first_ms = table.column("arrival_time")[0].value
        write_file(hour_folder(root, int(hour) * HOUR_MS) / file_name(int(shard), f"{first_ms}-0"), table)
    written = time.monotonic() - began
    db.close()
    return made, keep, len(parts), generated, written


def _timed(url: str, root: Path, runs: int, make: Callable[[Any], Coroutine[Any, Any, Any]]) -> tuple[float, Any]:
    """Median wall time (ms) of `runs` awaits of make(warehouse) on one Warehouse (as the service
    keeps one), after one untimed warm-up run."""
    import redis.asyncio as redis

    from vidmesh_services.analytics.warehouse import Warehouse
    from vidmesh_services.runtime.config import AnalyticsSettings

    async def go() -> tuple[float, Any]:
        client = redis.Redis.from_url(url)
        warehouse = Warehouse(root, client, AnalyticsSettings())
        try:
            answer = await make(warehouse)
            times = []
            for _ in range(runs):
                began = time.perf_counter()
                answer = await make(warehouse)
                times.append((time.perf_counter() - began) * 1000)
            return statistics.median(times), answer
        finally:
            warehouse.close()
            await client.aclose()

    return asyncio.run(go())


def query_times(url: str, root: Path, now_ms: int, runs: int) -> list[QueryFigure]:
    import duckdb

    from vidmesh_services.analytics.warehouse import Warehouse

    files = sorted(str(p) for p in root.glob("date=*/hour=*/*.parquet"))
    ranked = duckdb.sql(
        f"SELECT video_id, max(duration_ms), count(DISTINCT session_id) AS n FROM read_parquet({files!r}) GROUP BY video_id ORDER BY n DESC"
    ).fetchall()
    top_video, top_duration, _ = ranked[0]
    mid_video, mid_duration, _ = ranked[len(ranked) // 2]
    now = now_ms / 1000
    figures = []

    def measure(name: str, make: Callable[[Warehouse], Coroutine[Any, Any, Any]], describe: Callable[[Any], str]) -> None:
        median, answer = _timed(url, root, runs, make)
        figures.append(QueryFigure(name, median, runs, describe(answer)))

    def curve(answer: Any) -> str:
        ratios = [b.audience_ratio for b in answer.buckets]
        marks = ", ".join(f"{ratios[i]:.2f}" for i in (0, 25, 50, 75, 99) if i < len(ratios))
        return f"{answer.views:,} views; audience at 0/25/50/75/99%: {marks}"

    measure(
        "retention, most watched video, all 2 days",
        lambda w: w.retention(top_video, int(top_duration), start=None, end=None),
        curve,
    )
    measure(
        "retention, most watched video, last 24 h",
        lambda w: w.retention(top_video, int(top_duration), start=now - 86_400, end=now),
        curve,
    )
    measure(
        "retention, median video, all 2 days",
        lambda w: w.retention(mid_video, int(mid_duration), start=None, end=None),
        curve,
    )
    measure(
        "top 10 videos by watch time, one owner, 2 days",
        lambda w: w.top_videos("owner0", 0, 10, start=now - 2 * 86_400, end=now),
        lambda answer: f"{len(answer.videos)} videos, first {answer.videos[0].views:,} views" if answer.videos else "none",
    )
    return figures


def warehouse_queries(url: str, root: Path, events: int, runs: int) -> WarehouseFigures:
    now_ms = int(time.time() * 1000)
    made, sessions, files, generated, written = generate(root, events, now_ms)
    megabytes = sum(p.stat().st_size for p in root.glob("date=*/hour=*/*.parquet")) / 1e6
    return WarehouseFigures(made, sessions, files, megabytes, generated, written, query_times(url, root, now_ms, runs))
