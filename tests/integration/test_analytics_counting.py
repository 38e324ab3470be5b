"""The aggregator against real Valkey: the counting rules (views, watch time, retention, startup,
stalls, failures, exits, renditions), and counters exactly equal to what was sent across SIGKILLs
at any point and redelivered entries. Expected values are worked out here from the sessions
themselves, not by running the fold."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as redis
from vidmesh.analytics.v1 import analytics_service_pb2 as pb2

from tests.support.event_log import Kind, append, event, watch
from tests.support.processes import valkey_server
from vidmesh_services.analytics import keys
from vidmesh_services.analytics.counters import Counters
from vidmesh_services.analytics.worker import Aggregator
from vidmesh_services.platform.pids import die_with_parent
from vidmesh_services.runtime.config import AnalyticsSettings, Config
from vidmesh_services.runtime.errors import InvalidArgument

LONG, SHORT = "long", "short"
VIDEOS = {LONG: keys.VideoFacts(200_000, "alice"), SHORT: keys.VideoFacts(40_000, "alice")}


@dataclass
class Env:
    tmp: Path
    url: str
    client: redis.Redis

    def config(self) -> Config:
        return Config(home=self.tmp, redis_url=self.url, analytics=AnalyticsSettings(read_count=5))

    async def watermark(self) -> str:
        return ((await self.client.get(keys.watermark_key(keys.AGGREGATE, 0))) or b"").decode()

    @contextlib.asynccontextmanager
    async def aggregating(self) -> AsyncIterator[None]:
        """An in-process aggregator of shard 0 while the block runs."""
        stop = asyncio.Event()
        task = asyncio.create_task(Aggregator(self.config(), self.client, 0).run(stop))
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    async def until_applied(self, last_id: str, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while await self.watermark() != last_id:
            assert time.monotonic() < deadline, f"aggregate watermark {await self.watermark()!r}, not {last_id!r}"
            await asyncio.sleep(0.02)

    async def lifetime(self, video: str) -> pb2.VideoMetrics:
        counters = Counters(self.client, self.config().analytics)
        return (await counters.video_metrics(video, start=None, end=None, interval=0)).totals

    async def retention_views(self, video: str) -> list[int]:
        counters = Counters(self.client, self.config().analytics)
        return [b.views for b in (await counters.retention(video, VIDEOS[video].duration_ms)).buckets]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    with valkey_server(tmp_path / "valkey") as url:
        client = redis.Redis.from_url(url)
        yield Env(tmp_path, url, client)
        await client.aclose()


def now_ms() -> int:
    return int(time.time() * 1000)


def ms(span: object) -> int:
    return int(span.ToMilliseconds())  # type: ignore[attr-defined]


async def test_views_watch_time_and_retention_follow_the_view_rule(env: Env) -> None:
    t = now_ms() - 600_000
    played_29 = watch("s1", LONG, t, [(0, 29_000)])  # not a view: under 30 s
    played_45 = watch("s2", LONG, t, [(0, 45_000)], rendition="480p")  # a view
    # A view that skips: 0-10 s, then 100-130 s (buckets 0-4 and 50-64 of 2 s each).
    skipping = watch("s3", LONG, t, [(0, 10_000), (100_000, 130_000)])
    short_19 = watch("s4", SHORT, t, [(0, 19_000)])  # under half of a 40 s video: not a view
    short_20 = watch("s5", SHORT, t, [(0, 20_000)])  # half of it: a view
    async with env.aggregating():
        last = ""
        for events in (played_29, played_45, skipping, short_19, short_20):
            last = await append(env.client, 0, events, VIDEOS)
        await env.until_applied(last)

    long, short = await env.lifetime(LONG), await env.lifetime(SHORT)
    assert (long.sessions, long.views, ms(long.watch_time)) == (3, 2, 29_000 + 45_000 + 40_000)
    assert (short.sessions, short.views, ms(short.watch_time)) == (2, 1, 39_000)
    assert (long.unique_viewers, short.unique_viewers) == (2, 1)
    assert ms(long.average_view_duration) == (29_000 + 45_000 + 40_000) // 2
    shares = {r.rendition: round(r.watch_time_ratio, 4) for r in long.qoe.rendition_shares}
    assert shares == {"720p": round(69_000 / 114_000, 4), "480p": round(45_000 / 114_000, 4)}

    expected = [0] * 100
    for bucket in range(0, 45_000 // 2000 + 1):  # s2: 0-45 s: buckets 0..22 (bucket 22 is 44-46 s)
        expected[bucket] += 1
    for bucket in [*range(0, 5), *range(50, 65)]:  # s3
        expected[bucket] += 1
    assert await env.retention_views(LONG) == expected
    assert await env.retention_views(SHORT) == [1] * 20 + [0] * 20  # one bucket per second


async def test_quality_of_experience_counts_startup_stalls_failures_and_exits(env: Env) -> None:
    t = now_ms() - 600_000
    events = []
    for i, startup in enumerate((200, 400, 800, 1600)):  # four sessions that start
        sid = f"q{i}"
        events += [
            event(Kind.PLAYER_EVENT_KIND_PLAY_REQUEST, sid, LONG, t),
            event(Kind.PLAYER_EVENT_KIND_PLAY, sid, LONG, t + startup, startup_time_ms=startup, rendition="720p"),
            event(Kind.PLAYER_EVENT_KIND_HEARTBEAT, sid, LONG, t + 40_000, position_ms=40_000, played_ms=40_000, rendition="720p"),
        ]
    # q0 stalls twice (1.5 s + 0.5 s) and switches down; q1 fails after starting.
    events += [
        event(Kind.PLAYER_EVENT_KIND_BUFFER_START, "q0", LONG, t + 41_000, position_ms=41_000),
        event(Kind.PLAYER_EVENT_KIND_BUFFER_END, "q0", LONG, t + 42_500, position_ms=41_000, stall_duration_ms=1500),
        event(Kind.PLAYER_EVENT_KIND_QUALITY_CHANGE, "q0", LONG, t + 42_600, rendition="360p", previous_rendition="720p"),
        event(Kind.PLAYER_EVENT_KIND_HEARTBEAT, "q0", LONG, t + 52_600, position_ms=51_000, played_ms=10_000, rendition="360p"),
        event(Kind.PLAYER_EVENT_KIND_BUFFER_END, "q0", LONG, t + 53_100, position_ms=51_000, stall_duration_ms=500),
        event(Kind.PLAYER_EVENT_KIND_ERROR, "q1", LONG, t + 45_000, error_code="networkError"),
    ]
    # q4 gives up before the first frame; q5 fails before it.
    events += [
        event(Kind.PLAYER_EVENT_KIND_PLAY_REQUEST, "q4", LONG, t),
        event(Kind.PLAYER_EVENT_KIND_PLAY_REQUEST, "q5", LONG, t),
        event(Kind.PLAYER_EVENT_KIND_ERROR, "q5", LONG, t + 3000, error_code="manifestLoadError"),
    ]
    async with env.aggregating():
        await env.until_applied(await append(env.client, 0, events, VIDEOS))

    metrics = await env.lifetime(LONG)
    qoe = metrics.qoe
    assert (metrics.sessions, metrics.views) == (6, 4)
    assert (qoe.failed_sessions, round(qoe.playback_failure_ratio, 4), qoe.exits_before_start) == (2, round(2 / 6, 4), 1)
    assert qoe.rebuffered_views == 1
    assert ms(metrics.watch_time) == 4 * 40_000 + 10_000
    assert qoe.rebuffering_ratio == pytest.approx(2000 / (2000 + 170_000))
    # Startup buckets are 10% wide: a percentile is within 10% of the true sample.
    assert ms(qoe.startup_time_p50) == pytest.approx(400, rel=0.1)
    assert ms(qoe.startup_time_p95) == pytest.approx(1600, rel=0.1)
    shares = {r.rendition: round(r.watch_time_ratio, 4) for r in qoe.rendition_shares}
    assert shares == {"720p": round(160_000 / 170_000, 4), "360p": round(10_000 / 170_000, 4)}


async def test_duplicates_marked_by_ingest_and_entries_at_or_below_the_watermark_count_once(env: Env) -> None:
    t = now_ms() - 600_000
    events = watch("d1", LONG, t, [(0, 40_000)])
    async with env.aggregating():
        first = await append(env.client, 0, events, VIDEOS)
        # The same events again, all marked duplicates by ingest's script (a client's resend).
        second = await append(env.client, 0, events, VIDEOS, duplicates=range(len(events)))
        await env.until_applied(second)
    # A redelivery: entry `first` pending again for a fresh consumer (as after a crash before XACK).
    await env.client.xclaim(keys.log_key(0), keys.AGGREGATE, "aggregator", 0, [first], force=True)  # type: ignore[arg-type]
    async with env.aggregating():
        deadline = time.monotonic() + 10
        while (await env.client.xpending(keys.log_key(0), keys.AGGREGATE))["pending"]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    metrics = await env.lifetime(LONG)
    assert (metrics.sessions, metrics.views, ms(metrics.watch_time)) == (1, 1, 40_000)


# --- exact across SIGKILL -----------------------------------------------------------------

AGGREGATOR_CHILD = """
import asyncio, os, signal
import redis.asyncio as redis
from vidmesh_services.analytics import keys, worker
from vidmesh_services.runtime.config import load_config

config = load_config()
kill_at_ack = int(os.environ.get("KILL_AT_ACK", "0"))
stop_at = os.environ.get("STOP_AT_WATERMARK", "")
pause = float(os.environ.get("PAUSE_SECONDS", "0"))  # widens the windows a kill can land in
apply_entries = worker.Aggregator._apply_entries

async def read_then_apply(self, entries):
    await asyncio.sleep(pause)  # read, not applied
    await apply_entries(self, entries)

worker.Aggregator._apply_entries = read_then_apply

async def main():
    client = redis.Redis.from_url(config.redis_url)
    acks = 0
    xack = client.xack

    async def ack_or_die(*args):
        nonlocal acks
        acks += 1
        await asyncio.sleep(pause)  # applied, not acknowledged
        if acks == kill_at_ack:  # the batch is applied, its entries are still pending
            os.kill(os.getpid(), signal.SIGKILL)
        return await xack(*args)

    client.xack = ack_or_die
    stop = asyncio.Event()
    task = asyncio.create_task(worker.Aggregator(config, client, 0).run(stop))
    wm = keys.watermark_key(keys.AGGREGATE, 0)
    while not stop_at or ((await client.get(wm)) or b"").decode() != stop_at:
        await asyncio.sleep(0.02)
        if task.done():
            task.result()
    stop.set()
    await task

asyncio.run(main())
"""


def start_aggregator_child(env: Env, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("VIDMESH_")}
    child_env.update(VIDMESH_HOME=str(env.tmp), VIDMESH_REDIS_URL=env.url, VIDMESH_ANALYTICS_READ_COUNT="4", **extra)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", AGGREGATOR_CHILD], env=child_env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )


@dataclass(frozen=True)
class Viewing:
    session: str
    video: str
    viewer: str
    played_ms: int  # from the start, in one stretch


def viewings(count: int, rng: random.Random) -> list[Viewing]:
    return [
        Viewing(f"k{i}", rng.choice((LONG, SHORT)), f"viewer-{i % 7}", rng.choice((5_000, 19_000, 20_000, 31_000, 40_000)))
        for i in range(count)
    ]


def interleaved_entries(sessions: list[Viewing], t: int, per_entry: int, rng: random.Random) -> Iterator[list[pb2.PlayerEvent]]:
    """Every session's events in its own order, sessions interleaved, so that a session's state
    crosses many batches (and crashes)."""
    queues = [watch(v.session, v.video, t, [(0, min(v.played_ms, VIDEOS[v.video].duration_ms))]) for v in sessions]
    for queue, viewing in zip(queues, sessions, strict=True):
        for e in queue:
            e.viewer_id = viewing.viewer
    batch: list[pb2.PlayerEvent] = []
    while queues:
        queue = rng.choice(queues)
        batch.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
        if len(batch) == per_entry:
            yield batch
            batch = []
    if batch:
        yield batch


def expected_totals(sessions: list[Viewing], video: str) -> tuple[int, int, int, int, list[int]]:
    """sessions, views, watch ms, unique viewers, views per retention bucket."""
    duration = VIDEOS[video].duration_ms
    mine = [v for v in sessions if v.video == video]
    views = [v for v in mine if v.played_ms >= 30_000 or 2 * min(v.played_ms, duration) >= duration]
    buckets = Counter(b for v in views for b in range(0, -(-min(v.played_ms, duration) // (2000 if duration >= 100_000 else 1000))))
    count = keys.retention_bucket_count(duration)
    return (
        len(mine),
        len(views),
        sum(min(v.played_ms, duration) for v in mine),
        len({v.viewer for v in views}),
        [buckets.get(i, 0) for i in range(count)],
    )


@pytest.mark.slow
async def test_counters_are_exact_across_sigkills_and_redelivery(env: Env) -> None:
    rng = random.Random(7)
    sessions = viewings(300, rng)
    last = ""
    for events in interleaved_entries(sessions, now_ms() - 600_000, per_entry=8, rng=rng):
        last = await append(env.client, 0, events, VIDEOS)
    log = env.tmp / "aggregator.log"

    # 1. Killed after a batch's script applied it and before XACK: its entries are redelivered.
    for ack in (1, 3):
        child = start_aggregator_child(env, log, KILL_AT_ACK=str(ack))
        assert await asyncio.to_thread(child.wait, 60) == -signal.SIGKILL, log.read_text()
    assert (await env.client.xpending(keys.log_key(0), keys.AGGREGATE))["pending"] > 0

    # 2. Killed at random moments while it works (slowed, so that kills land between its steps).
    for _ in range(6):
        before = await env.watermark()
        child = start_aggregator_child(env, log, PAUSE_SECONDS="0.03")
        deadline = time.monotonic() + 20
        while await env.watermark() == before:  # at work once its watermark moves
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.005)
        await asyncio.sleep(rng.uniform(0, 0.1))
        child.send_signal(signal.SIGKILL)
        await asyncio.to_thread(child.wait, 30)
    assert await env.watermark() != last, "the kills happened mid-log (raise the session count if this fails)"

    # 3. To the end of the log.
    child = start_aggregator_child(env, log, STOP_AT_WATERMARK=last)
    assert await asyncio.to_thread(child.wait, 120) == 0, log.read_text()
    assert (await env.client.xpending(keys.log_key(0), keys.AGGREGATE))["pending"] == 0

    for video in (LONG, SHORT):
        count, views, watch_ms, uniques, buckets = expected_totals(sessions, video)
        metrics = await env.lifetime(video)
        assert (metrics.sessions, metrics.views, ms(metrics.watch_time), metrics.unique_viewers) == (count, views, watch_ms, uniques), video
        assert await env.retention_views(video) == buckets, video
        ranked = await env.client.zscore(keys.top_key("alice", "watch_ms"), video)
        assert ranked == watch_ms


async def test_time_played_before_a_seek_counts_where_it_was_played(env: Env) -> None:
    t = now_ms() - 600_000
    events = [
        event(Kind.PLAYER_EVENT_KIND_PLAY, "sk", SHORT, t, startup_time_ms=200),
        event(Kind.PLAYER_EVENT_KIND_HEARTBEAT, "sk", SHORT, t + 10_000, position_ms=10_000, played_ms=10_000),
        # Played on from 10 s to 20 s, then jumped back to 2 s: the 10 s played are 10-20 s.
        event(Kind.PLAYER_EVENT_KIND_SEEK, "sk", SHORT, t + 20_000, position_ms=2000, seek_from_ms=20_000, played_ms=10_000),
        event(Kind.PLAYER_EVENT_KIND_PAUSE, "sk", SHORT, t + 23_000, position_ms=5000, played_ms=3000),
    ]
    async with env.aggregating():
        await env.until_applied(await append(env.client, 0, events, VIDEOS))
    assert (await env.lifetime(SHORT)).views == 1
    assert await env.retention_views(SHORT) == [1] * 20 + [0] * 20


async def test_view_milestones_are_published_as_views_grow_by_a_tenth(env: Env) -> None:
    t = now_ms() - 600_000
    async with env.aggregating():
        for i in range(25):  # one view at a time, each applied before the next
            await env.until_applied(await append(env.client, 0, watch(f"m{i}", SHORT, t, [(0, 20_000)]), VIDEOS))
    counters = Counters(env.client, env.config().analytics)
    head = (await counters.view_milestones("", 0))[1]
    assert head != "0-0" and (await counters.view_milestones(head, 0))[0] == []  # nothing after the newest
    reached, _ = await counters.view_milestones("0-0", 1000)
    # floor(log(v) / log(1.1)) grows at each of the first twelve views, then every tenth or so
    # (13, 17, 19, 21, 23 and 25 stay on the step below them).
    assert reached == [(SHORT, v) for v in (*range(1, 13), 14, 15, 16, 18, 20, 22, 24)]


async def test_each_new_view_is_published_once_with_its_viewer(env: Env) -> None:
    t = now_ms() - 600_000
    counters = Counters(env.client, env.config().analytics)
    head = (await counters.views("", 0))[1]
    sessions = [("v1", 20_000), ("v2", 5_000), ("v3", 31_000)]  # v2 plays too little of SHORT (40 s) to be a view
    async with env.aggregating():
        for sid, played in sessions:
            await env.until_applied(await append(env.client, 0, watch(sid, SHORT, t, [(0, played)]), VIDEOS))
        # More of a session that is already a view publishes nothing more.
        await env.until_applied(await append(env.client, 0, watch("v1", SHORT, t + 30_000, [(20_000, 10_000)]), VIDEOS))
    views, cursor = await counters.views(head, 1000)
    assert [(viewer, video) for viewer, video, _ in views] == [("viewer-of-v1", SHORT), ("viewer-of-v3", SHORT)]
    assert all(t <= at <= t + 60_000 for _, _, at in views)
    assert (await counters.views(cursor, 0))[0] == []
    with pytest.raises(InvalidArgument):
        await counters.views("not-a-cursor", 0)
