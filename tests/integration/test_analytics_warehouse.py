"""The analytics warehouse against real Valkey, Parquet files and DuckDB: the archiver writes each
counted event once, by arrival hour, across SIGKILLs; readers never see a partial file; old days
are deleted; range queries answer what the events imply."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis.asyncio as redis
from vidmesh.analytics.v1 import analytics_service_pb2 as pb2

from tests.support.event_log import Kind, append, event, watch
from tests.support.processes import valkey_server
from vidmesh_services.analytics import keys
from vidmesh_services.analytics.archive import HOUR_MS, data_files, entry_key
from vidmesh_services.analytics.warehouse import Archiver, Warehouse
from vidmesh_services.platform.pids import die_with_parent
from vidmesh_services.runtime.config import AnalyticsSettings, Config

DAY_MS = 24 * HOUR_MS
VIDEOS = {"A": keys.VideoFacts(200_000, "alice"), "B": keys.VideoFacts(40_000, "alice"), "C": keys.VideoFacts(90_000, "bob")}


@dataclass
class Env:
    tmp: Path
    url: str
    client: redis.Redis

    def config(self, **settings: object) -> Config:
        return Config(home=self.tmp, redis_url=self.url, analytics=AnalyticsSettings(**settings))  # type: ignore[arg-type]

    async def watermark(self, shard: int = 0) -> str:
        return ((await self.client.get(keys.watermark_key(keys.ARCHIVE, shard))) or b"").decode()

    async def archive_until(self, config: Config, last_id: str, within: float = 60.0) -> Archiver:
        """Runs an Archiver of shard 0 until its watermark reaches last_id, then stops it."""
        archiver = Archiver(config, self.client, 0)
        stop = asyncio.Event()
        task = asyncio.create_task(archiver.run(stop))
        try:
            deadline = time.monotonic() + within
            while await self.watermark() != last_id:
                assert not task.done(), task.exception()
                assert time.monotonic() < deadline, f"watermark {await self.watermark()!r}, not {last_id!r}"
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task
        return archiver


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    with valkey_server(tmp_path / "valkey") as url:
        client = redis.Redis.from_url(url)
        yield Env(tmp_path, url, client)
        await client.aclose()


def archived_rows(root: Path) -> list[tuple[str, str, int, str]]:
    """(session_id, event_id, arrival ms, file) of every row the warehouse's files hold."""
    files = data_files(root)
    if not files:
        return []
    sql = "SELECT session_id, event_id, epoch_ms(arrival_time), filename FROM read_parquet($files, filename = true, hive_partitioning = false)"
    with duckdb.connect() as db:
        return [(s, e, int(t), f) for s, e, t, f in db.execute(sql, {"files": files}).fetchall()]


def folder_hour_ms(file: str) -> int:
    hour, day = Path(file).parent, Path(file).parent.parent
    at = dt.datetime.strptime(f"{day.name.removeprefix('date=')} {hour.name.removeprefix('hour=')}", "%Y-%m-%d %H")
    return int(at.replace(tzinfo=dt.UTC).timestamp() * 1000)


def assert_in_arrival_hour_folders(rows: list[tuple[str, str, int, str]]) -> None:
    for _session, _event, arrival, file in rows:
        assert folder_hour_ms(file) <= arrival < folder_hour_ms(file) + HOUR_MS, f"{file} holds a row that arrived at {arrival}"


async def fill_log(env: Env, first_ms: int, entries: int, step_ms: int, per_entry: int) -> tuple[set[tuple[str, str]], str]:
    """Entries of heartbeats arriving every step_ms from first_ms; every 7th entry marks two of its
    events as duplicates. Returns the counted (session, event id) pairs and the last entry id."""
    counted: set[tuple[str, str]] = set()
    last = ""
    for i in range(entries):
        at = first_ms + i * step_ms
        events = [
            event(Kind.PLAYER_EVENT_KIND_HEARTBEAT, f"s{i}-{j % 5}", "A", at, position_ms=j * 1000, played_ms=1000)
            for j in range(per_entry)
        ]
        duplicates = {0, 3} if i % 7 == 0 else set()
        last = await append(env.client, 0, events, VIDEOS, duplicates=duplicates, entry_id=f"{at}-0")
        counted |= {(e.session_id, e.event_id) for k, e in enumerate(events) if k not in duplicates}
    return counted, last


async def test_archiver_writes_each_counted_event_once_in_its_arrival_hour_folder(env: Env) -> None:
    boundary = (int(time.time() * 1000) // HOUR_MS - 1) * HOUR_MS  # the start of the previous hour
    counted, last = await fill_log(env, boundary - 10_000, entries=40, step_ms=500, per_entry=10)  # 10 s each side
    config = env.config(warehouse_flush_seconds=0.2, read_count=7)
    await env.archive_until(config, last)

    rows = archived_rows(config.warehouse_dir)
    assert len(rows) == len(counted) == 40 * 10 - 6 * 2, "every counted event once, duplicates left out"
    assert {(s, e) for s, e, _, _ in rows} == counted
    assert_in_arrival_hour_folders(rows)
    folders = {Path(f).parent.relative_to(config.warehouse_dir) for _, _, _, f in rows}
    assert len(folders) == 2, f"one folder each side of the hour boundary: {folders}"
    assert (await env.client.xpending(keys.log_key(0), keys.ARCHIVE))["pending"] == 0
    assert int((await env.client.get(keys.applied_key(keys.ARCHIVE, 0))) or 0) == int(last.split("-")[0])

    table = pq.read_table(rows[0][3])
    assert table.schema.field("event_time").type == pa.timestamp("ms", tz="UTC")
    first = table.slice(0, 1).to_pylist()[0]
    assert (first["video_id"], first["owner"], first["duration_ms"], first["played_ms"]) == ("A", "alice", 200_000, 1000)
    assert first["kind"] == Kind.PLAYER_EVENT_KIND_HEARTBEAT and first["viewer"].startswith("viewer-of-")


ARCHIVER_CHILD = """
import asyncio, contextlib, os, signal
import redis.asyncio as redis
from vidmesh_services.analytics import archive, keys
from vidmesh_services.runtime.config import load_config

config = load_config()
kill_after_files = int(os.environ.get("KILL_AFTER_FILES", "0"))
stop_at = os.environ.get("STOP_AT_WATERMARK", "")
written = 0
write_file = archive.write_file

def write_then_maybe_die(path, table):
    global written
    write_file(path, table)
    written += 1
    if written == kill_after_files:  # the file is in place, the watermark has not moved
        os.kill(os.getpid(), signal.SIGKILL)

archive.write_file = write_then_maybe_die

async def main():
    client = redis.Redis.from_url(config.redis_url)
    stop = asyncio.Event()
    task = asyncio.create_task(archive.Archiver(config, client, 0).run(stop))
    wm = keys.watermark_key(keys.ARCHIVE, 0)
    while not stop_at or ((await client.get(wm)) or b"").decode() != stop_at:
        await asyncio.sleep(0.02)
    stop.set()
    await task

asyncio.run(main())
"""


def start_archiver_child(env: Env, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("VIDMESH_")}
    child_env.update(
        VIDMESH_HOME=str(env.tmp),
        VIDMESH_REDIS_URL=env.url,
        VIDMESH_ANALYTICS_WAREHOUSE_FLUSH_ROWS="1000",
        VIDMESH_ANALYTICS_WAREHOUSE_FLUSH_SECONDS="60",  # files end by rows: their names are known
        VIDMESH_ANALYTICS_READ_COUNT="5",
    )
    child_env.update(extra)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", ARCHIVER_CHILD], env=child_env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )


@pytest.mark.slow
async def test_sigkill_mid_flush_and_restarts_archive_every_event_exactly_once(env: Env) -> None:
    boundary = (int(time.time() * 1000) // HOUR_MS - 1) * HOUR_MS
    counted, last = await fill_log(env, boundary - 100_000, entries=400, step_ms=500, per_entry=25)
    root = env.config().warehouse_dir
    log = env.tmp / "archiver.log"

    # 1. Killed right after its third file was renamed into place, before the watermark moved.
    child = start_archiver_child(env, log, KILL_AFTER_FILES="3")
    assert await asyncio.to_thread(child.wait, 60) == -signal.SIGKILL, log.read_text()
    wm = await env.watermark()
    above = [f for f in data_files(root) if entry_key(Path(f).name.split("-", 2)[2].removesuffix(".parquet")) > entry_key(wm)]
    assert len(data_files(root)) == 3 and len(above) == 1, f"the third file holds entries above the watermark {wm!r}"
    leftover = Path(above[0]).with_name(".tmp-shard-0-1-0.partial")
    leftover.write_bytes(b"half a file")  # as a kill during a write leaves one

    # 2. Killed at random moments once it is at work (its watermark moved).
    rng = random.Random(11)
    for _ in range(3):
        before = await env.watermark()
        child = start_archiver_child(env, log)
        deadline = time.monotonic() + 10  # (the tail of the log, under 1000 rows, waits for step 3)
        while before != last and time.monotonic() < deadline:
            if await env.watermark() != before:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(rng.uniform(0, 0.2))
        child.send_signal(signal.SIGKILL)
        await asyncio.to_thread(child.wait, 30)

    # 3. Runs to the end of the log, then stops cleanly.
    child = start_archiver_child(env, log, STOP_AT_WATERMARK=last, VIDMESH_ANALYTICS_WAREHOUSE_FLUSH_SECONDS="0.5")
    assert await asyncio.to_thread(child.wait, 120) == 0, log.read_text()

    rows = archived_rows(root)
    pairs = [(s, e) for s, e, _, _ in rows]
    assert len(pairs) == len(set(pairs)), "no event is in two files"
    assert set(pairs) == counted
    assert_in_arrival_hour_folders(rows)
    assert not leftover.exists(), "a restart removes its shard's leftover temp files"
    assert (await env.client.xpending(keys.log_key(0), keys.ARCHIVE))["pending"] == 0


class Reader(threading.Thread):
    """Counts the rows of every file data_files lists, in a loop, with DuckDB; keeps what each
    file was seen to hold and every failed query."""

    def __init__(self, root: Path, stop: threading.Event, pause: float):
        super().__init__(daemon=True)
        self.root, self.stop, self.pause = root, stop, pause
        self.queries = 0
        self.failures: list[str] = []
        self.seen: dict[str, set[int]] = {}

    def run(self) -> None:
        sql = "SELECT filename, count(*) FROM read_parquet($files, filename = true, hive_partitioning = false) GROUP BY filename"
        with duckdb.connect() as db:
            while not self.stop.is_set():
                time.sleep(self.pause)
                files = data_files(self.root)
                if not files:
                    continue
                self.queries += 1
                try:
                    for name, count in db.execute(sql, {"files": files}).fetchall():
                        self.seen.setdefault(name, set()).add(int(count))
                except duckdb.Error as failure:
                    self.failures.append(str(failure).splitlines()[0])


@contextlib.contextmanager
def reading(root: Path, pause: float = 0.0) -> Iterator[Reader]:
    stop = threading.Event()
    reader = Reader(root, stop, pause)
    reader.start()
    try:
        yield reader
    finally:
        stop.set()
        reader.join(30)


@pytest.mark.slow
async def test_queries_while_the_archiver_writes_never_fail(env: Env) -> None:
    config = env.config(warehouse_flush_rows=2000, warehouse_flush_seconds=60, read_count=4)
    archiver = Archiver(config, env.client, 0)
    warehouse = Warehouse(config.warehouse_dir, env.client, config.analytics)
    stop = asyncio.Event()
    task = asyncio.create_task(archiver.run(stop))
    warehouse_failures: list[str] = []
    warehouse_queries = 0
    with reading(config.warehouse_dir, pause=0.002) as reader:
        deadline = time.monotonic() + 90
        i = 0
        while archiver.files_written < 25 and time.monotonic() < deadline:
            now = int(time.time() * 1000)
            events = [e for k in range(4) for e in watch(f"session-{i}-{k}", "A", now, [(0, 200_000)])]  # 4 x 23 events
            await append(env.client, 0, events, VIDEOS)
            i += 1
            if i % 10 == 0:
                try:
                    await warehouse.top_videos("alice", 0, 10, start=0, end=None)
                    warehouse_queries += 1
                except duckdb.Error as failure:
                    warehouse_failures.append(str(failure))
            await asyncio.sleep(0.005)
    stop.set()
    await task
    warehouse.close()

    assert archiver.files_written >= 25
    assert reader.queries >= 20 and warehouse_queries >= 5
    assert reader.failures == [] and warehouse_failures == []
    final = {f: n for f, n in ((f, pq.ParquetFile(f).metadata.num_rows) for f in data_files(config.warehouse_dir))}
    assert all(counts == {final[f]} for f, counts in reader.seen.items()), "a reader saw a file before it was complete"
    assert len(reader.seen) >= 20


@pytest.mark.slow
def test_files_written_in_place_fail_concurrent_readers(tmp_path: Path) -> None:
    """The contrast: the same reader over files written straight under their final names fails."""
    root = tmp_path / "in-place"
    folder = root / "date=2026-01-01" / "hour=00"
    folder.mkdir(parents=True)
    table = pa.table({"session_id": [f"s{i}" for i in range(100_000)], "played_ms": list(range(100_000))})
    with reading(root) as reader:
        deadline = time.monotonic() + 60
        i = 0
        while not reader.failures and time.monotonic() < deadline:
            pq.write_table(table, folder / f"file-{i}.parquet")
            i += 1
    assert reader.failures, f"no reader failed in {reader.queries} queries over {i} files written in place"


async def test_retention_deletes_days_older_than_configured(env: Env) -> None:
    now = int(time.time() * 1000)
    old, recent = now - 40 * DAY_MS, now - 2 * DAY_MS
    await append(env.client, 0, watch("old", "A", old, [(0, 40_000)]), VIDEOS, entry_id=f"{old}-0")
    last = await append(env.client, 0, watch("recent", "A", recent, [(0, 40_000)]), VIDEOS, entry_id=f"{recent}-0")
    await env.archive_until(env.config(warehouse_flush_seconds=0.2, warehouse_retention_days=0), last)
    root = env.config().warehouse_dir

    def days() -> set[str]:
        return {p.name for p in root.glob("date=*")}

    day = lambda ms: f"date={dt.datetime.fromtimestamp(ms / 1000, dt.UTC):%Y-%m-%d}"  # noqa: E731
    assert days() == {day(old), day(recent)}, "retention 0 keeps everything"

    last = await append(env.client, 0, watch("today", "A", now, [(0, 40_000)]), VIDEOS)
    config = env.config(warehouse_flush_seconds=0.2, warehouse_retention_days=30)
    await env.archive_until(config, last)
    assert days() == {day(recent), day(now)}
    assert not list(root.glob(".deleting-*"))
    warehouse = Warehouse(root, env.client, config.analytics)
    top = await warehouse.top_videos("alice", 0, 10, start=None, end=None)
    warehouse.close()
    assert [(v.video, v.views) for v in top.videos] == [("videos/A", 2)], "the deleted day's view is gone"


def bucket_views(response: pb2.GetRetentionResponse) -> list[int]:
    return [b.views for b in response.buckets]


async def test_range_queries_answer_what_the_events_imply(env: Env) -> None:
    t0 = int(time.time() * 1000) - 5 * HOUR_MS
    sessions: list[tuple[str, str, int, list[tuple[int, int]]]] = [
        ("s1", "A", t0, [(0, 40_000)]),  # view, buckets 0-19 of 2 s
        ("s2", "A", t0 + 1000, [(0, 20_000)]),  # 20 s of 200: not a view
        ("s3", "A", t0 + 2000, [(0, 30_000), (150_000, 170_000)]),  # view, 0-14 and 75-84
        ("s9", "A", t0 + 3000, [(0, 35_000)]),  # view, 0-17
        ("s4", "A", t0 - 10 * 60_000, [(0, 60_000)]),  # started before the range
        ("s7", "A", t0 + 2 * HOUR_MS, [(0, 60_000)]),  # started after it
        ("s5", "B", t0, [(0, 20_000)]),  # half of a 40 s video: a view
        ("s6", "B", t0, [(0, 10_000)]),  # not a view
        ("s8", "B", t0, [(0, 40_000), (0, 40_000), (0, 40_000)]),  # replays: one view, 120 s
        ("c1", "C", t0, [(0, 60_000)]),  # bob's
    ]
    last = ""
    for session, video, start, spans in sorted(sessions, key=lambda s: s[2]):
        last = await append(env.client, 0, watch(session, video, start, spans), VIDEOS)
    config = env.config(warehouse_flush_seconds=0.2, shards=1)
    await env.archive_until(config, last)
    warehouse = Warehouse(config.warehouse_dir, env.client, config.analytics)
    start, end = t0 / 1000, (t0 + HOUR_MS) / 1000

    before = int(time.time() * 1000)
    a = await warehouse.retention("A", 200_000, start=start, end=end)
    assert a.views == 3 and len(a.buckets) == 100
    assert bucket_views(a) == [3] * 15 + [2] * 3 + [1] * 2 + [0] * 55 + [1] * 10 + [0] * 15
    assert (a.buckets[1].start_offset.ToMilliseconds(), a.buckets[1].end_offset.ToMilliseconds()) == (2000, 4000)
    assert a.buckets[0].audience_ratio == 1.0 and a.buckets[16].audience_ratio == pytest.approx(2 / 3)
    assert a.as_of_time.ToMilliseconds() >= before, "everything in the log is archived: as of now"

    b = await warehouse.retention("B", 40_000, start=start, end=end)
    assert (b.views, bucket_views(b)) == (2, [2] * 20 + [1] * 20)
    assert b.buckets[-1].end_offset.ToMilliseconds() == 40_000
    lifetime_a = await warehouse.retention("A", 200_000, start=None, end=None)
    assert lifetime_a.views == 5, "s4 and s7 count without a range"

    by_views = await warehouse.top_videos("alice", pb2.TOP_VIDEOS_ORDER_VIEWS, 10, start=start, end=end)
    assert [(v.video, v.views, v.watch_time.ToSeconds()) for v in by_views.videos] == [("videos/A", 3, 145), ("videos/B", 2, 150)]
    by_watch = await warehouse.top_videos("alice", pb2.TOP_VIDEOS_ORDER_WATCH_TIME, 1, start=start, end=end)
    assert [v.video for v in by_watch.videos] == ["videos/B"]

    days = await warehouse.daily_views("A", start, end)
    assert len(days) in (1, 2), "the range's days (two if it crosses midnight)"
    assert sum(d.sessions for d in days) == 4 and sum(d.views for d in days) == 3 and sum(d.watch_ms for d in days) == 145_000

    unarchived_ms = int(time.time() * 1000) + 1000
    await append(env.client, 0, watch("late", "A", unarchived_ms, [(0, 10_000)]), VIDEOS, entry_id=f"{unarchived_ms}-0")
    late = await warehouse.retention("A", 200_000, start=start, end=end)
    assert late.as_of_time.ToMilliseconds() == unarchived_ms, "as of the first entry not yet in files"
    warehouse.close()


async def test_an_empty_warehouse_answers_empty(env: Env) -> None:
    config = env.config()
    warehouse = Warehouse(config.warehouse_dir, env.client, config.analytics)
    curve = await warehouse.retention("A", 5_500, start=0, end=None)
    assert (curve.views, bucket_views(curve)) == (0, [0] * 6)
    assert curve.buckets[-1].start_offset.ToMilliseconds() == 5000 and curve.buckets[-1].end_offset.ToMilliseconds() == 5500
    assert (await warehouse.top_videos("alice", 0, 10, start=0, end=None)).videos == []
    assert [d.views for d in await warehouse.daily_views("A", 0, 2 * 86_400)] == [0, 0]
    warehouse.close()
