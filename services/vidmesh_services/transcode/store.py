"""The transcoder's storage in Redis: job records (JobStore) and the queue that carries jobs to
workers (JobQueue). Every key the transcoder uses is named here.

Keys (all under 'vidmesh:transcode:'):
  jobs                 stream   one entry per job to run ({entry: QueuedJob}), read by the
                                'transcoders' consumer group
  dead                 stream   jobs that failed for good ({entry: QueuedJob, reason})
  retry                zset     QueuedJob -> when its next attempt may start
  job:{id}             string   the Job message (serialized proto)
  video:{video}        zset     job ids of a video, by creation time (ms)
  owner:{owner}        zset     job ids of an owner, by creation time (ms)
  submission:{key}     string   job id a submission created, so a retried submit is a no-op
  progress:{id}        channel  the Job, published on every change (WatchJob listens)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as redis
from google.protobuf import timestamp_pb2
from redis.exceptions import ResponseError
from vidmesh.transcode.v1 import resources_pb2
from vidmesh.transcode.v1 import transcode_internal_service_pb2 as internal_pb2

from ..runtime.config import TranscodeSettings
from ..runtime.ids import new_id
from ..storage.redis_replies import reply_bytes, reply_text, scored_members

Job = resources_pb2.Job
QueuedJob = internal_pb2.QueuedJob
PREFIX = "vidmesh:transcode:"
TRANSCODE_JOBS = PREFIX + "jobs"
DEAD_LETTERS = PREFIX + "dead"
RETRIES = PREFIX + "retry"
GROUP = "transcoders"
ENTRY = b"entry"
FINAL_STATES = (resources_pb2.JOB_STATE_SUCCEEDED, resources_pb2.JOB_STATE_FAILED)
SUBMISSION_SECONDS = 30 * 86400
# Index entries read per round trip while a listing looks for jobs that match its filter.
SCAN_BATCH = 100


def job_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}"


def progress_channel(job_id: str) -> str:
    return f"{PREFIX}progress:{job_id}"


def now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


@dataclass(frozen=True)
class Position:
    """Where a listing stopped: the last job returned, by its index score and id."""

    score: float
    job_id: str


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    # Where the next page starts; None when the index holds nothing older.
    after: Position | None


class JobStore:
    def __init__(self, client: redis.Redis, max_attempts: int = TranscodeSettings.max_attempts):
        self._redis = client
        self._max_attempts = max_attempts

    async def submit(self, video_id: str, owner: str, source_key: str, submission_key: str) -> Job:
        """Creates a QUEUED job and queues it, once per submission key; a repeat returns the first job."""
        job_id = new_id()
        marker = f"{PREFIX}submission:{submission_key}"
        if not await self._redis.set(marker, job_id, nx=True, ex=SUBMISSION_SECONDS):
            existing = await self._redis.get(marker)
            job = await self.get(reply_text(existing)) if existing else None
            if job is not None:
                return job
            await self._redis.set(marker, job_id, ex=SUBMISSION_SECONDS)  # the first submit died half-way
        created = now()
        job = Job(
            name=f"jobs/{job_id}",
            video=f"videos/{video_id}",
            owner=owner,
            state=resources_pb2.JOB_STATE_QUEUED,
            max_attempts=self._max_attempts,
            create_time=created,
            update_time=created,
        )
        entry = QueuedJob(job=job.name, video=job.video, owner=owner, source_path=source_key)
        score = created.ToMilliseconds()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(job_key(job_id), job.SerializeToString())
            pipe.zadd(f"{PREFIX}video:{video_id}", {job_id: score})
            pipe.zadd(f"{PREFIX}owner:{owner}", {job_id: score})
            pipe.xadd(TRANSCODE_JOBS, {ENTRY: entry.SerializeToString()})
            await pipe.execute()
        return job

    async def get(self, job_id: str) -> Job | None:
        raw = await self._redis.get(job_key(job_id))
        return Job.FromString(reply_bytes(raw)) if raw else None

    async def get_many(self, job_ids: list[str]) -> list[Job]:
        """The jobs that exist among job_ids, in the same order, in one round trip."""
        if not job_ids:
            return []
        raws = await self._redis.mget([job_key(i) for i in job_ids])
        return [Job.FromString(reply_bytes(raw)) for raw in raws if raw]

    async def save(self, job: Job) -> None:
        """Stores the job and tells every watcher."""
        job.update_time.CopyFrom(now())
        data = job.SerializeToString()
        job_id = job.name.removeprefix("jobs/")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(job_key(job_id), data)
            pipe.publish(progress_channel(job_id), data)
            await pipe.execute()

    async def page(self, *, video_id: str | None, owner: str, state: int, after: Position | None, limit: int, max_scan: int) -> JobPage:
        """Up to limit jobs, newest first, of one video or of every video of owner, strictly older
        than `after`, owned by owner, in `state` (0: any). The filter runs before the page is cut;
        a page stops early once max_scan index entries have been read."""
        key = f"{PREFIX}video:{video_id}" if video_id else f"{PREFIX}owner:{owner}"
        jobs: list[Job] = []
        last: Position | None = None
        scanned = 0
        batch: list[Position] = []
        async for position in self._scan(key, after):
            batch.append(position)
            scanned += 1
            if len(batch) == SCAN_BATCH or scanned >= max_scan:
                last = await self._take(batch, jobs, owner, state, limit)
                batch = []
                if len(jobs) >= limit or scanned >= max_scan:
                    break
        else:
            if batch:
                last = await self._take(batch, jobs, owner, state, limit)
            if len(jobs) < limit:
                return JobPage(jobs, None)  # the index is exhausted
        more = await self._any_after(key, last) if last else False
        return JobPage(jobs, last if more else None)

    async def _take(self, batch: list[Position], jobs: list[Job], owner: str, state: int, limit: int) -> Position:
        """Adds the matching jobs of batch to jobs (up to limit); returns the last position consumed."""
        found = {j.name: j for j in await self.get_many([p.job_id for p in batch])}
        for position in batch:
            job = found.get(f"jobs/{position.job_id}")
            if job is not None and job.owner == owner and (not state or job.state == state):
                jobs.append(job)
                if len(jobs) == limit:
                    return position
        return batch[-1]

    async def _scan(self, key: str, after: Position | None) -> AsyncIterator[Position]:
        """Index entries newest first (score descending, then id descending), strictly after `after`."""
        top: float | str = after.score if after else "+inf"
        offset = 0
        while True:
            rows = await self._redis.zrevrangebyscore(key, top, "-inf", start=offset, num=SCAN_BATCH, withscores=True)
            if not rows:
                return
            offset += len(rows)
            for member, score in scored_members(rows):
                job_id = member.decode()
                if after and score == after.score and job_id >= after.job_id:
                    continue  # at the cursor's score: ids at or above the cursor's came before it
                yield Position(score, job_id)

    async def _any_after(self, key: str, position: Position) -> bool:
        async for _ in self._scan(key, position):
            return True
        return False


@dataclass(frozen=True)
class Delivery:
    """One job handed to one worker by the stream."""

    entry_id: str
    job: QueuedJob

    @property
    def job_id(self) -> str:
        return self.job.job.removeprefix("jobs/")

    @property
    def video_id(self) -> str:
        return self.job.video.removeprefix("videos/")


class JobQueue:
    """The stream of jobs to run, its consumer group, the retry schedule and the dead letters."""

    def __init__(self, client: redis.Redis, consumer: str):
        self._redis = client
        self.consumer = consumer

    async def ensure_group(self) -> None:
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
            await self._redis.xgroup_create(TRANSCODE_JOBS, GROUP, id="0", mkstream=True)

    async def next(self, *, block_ms: int, idle_ms: int) -> tuple[Delivery | None, bool]:
        """An entry a dead worker left for idle_ms first, else a new one (waiting up to block_ms).
        Returns (delivery, taken over); the delivery is None if nothing came, or the entry was
        unreadable (it is then dead-lettered and acknowledged)."""
        reply = await self._redis.xautoclaim(TRANSCODE_JOBS, GROUP, self.consumer, idle_ms, "0-0", count=1)
        claimed = reply[1]
        taken_over = bool(claimed)
        if taken_over:
            entry_id, fields = claimed[0]
        else:
            read = await self._redis.xreadgroup(GROUP, self.consumer, {TRANSCODE_JOBS: ">"}, count=1, block=block_ms)
            entries = _entries(read, TRANSCODE_JOBS)
            if not entries:
                return None, False
            entry_id, fields = entries[0]
        entry = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        raw = fields.get(ENTRY) if fields else None
        try:
            job = QueuedJob.FromString(raw) if raw else None
        except Exception:
            job = None
        if job is None or not job.job:
            await self._redis.xadd(DEAD_LETTERS, {b"reason": b"unreadable queue entry", b"fields": repr(fields).encode()})
            await self.ack(entry)
            return None, taken_over
        return Delivery(entry, job), taken_over

    async def heartbeat(self, delivery: Delivery) -> None:
        """Resets the entry's idle time, so no other worker takes it over while this one works."""
        await self._redis.xclaim(TRANSCODE_JOBS, GROUP, self.consumer, 0, [delivery.entry_id], justid=True)

    async def ack(self, entry_id: str) -> None:
        await self._redis.xack(TRANSCODE_JOBS, GROUP, entry_id)

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        await self._redis.xadd(DEAD_LETTERS, {ENTRY: delivery.job.SerializeToString(), b"reason": reason.encode()})

    async def retry_at(self, delivery: Delivery, due: float) -> None:
        """Schedules the job again at due (unix seconds); requeue_due() puts it back in the stream."""
        await self._redis.zadd(RETRIES, {delivery.job.SerializeToString(): due})

    async def requeue_due(self, at: float, limit: int = 10) -> int:
        moved = 0
        due = await self._redis.zrangebyscore(RETRIES, "-inf", at, start=0, num=limit)
        for raw in map(reply_bytes, due):
            if await self._redis.zrem(RETRIES, raw):  # only the worker that removes it re-queues it
                await self._redis.xadd(TRANSCODE_JOBS, {ENTRY: raw})
                moved += 1
        return moved


def _entries(read: object, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """XREADGROUP's entries of stream, from either reply shape redis-py gives: RESP2 a list of
    [stream, entries] pairs, RESP3 a map of stream -> [entries]."""
    if isinstance(read, dict):
        pairs = [(name, value[0] if value else []) for name, value in read.items()]
    else:
        pairs = [(name, entries) for name, entries in (read or [])]  # type: ignore[attr-defined]
    for name, entries in pairs:
        if (name.decode() if isinstance(name, bytes) else name) == stream:
            return list(entries)
    return []


def retry_delay(attempt: int, base_seconds: float) -> float:
    """Backoff before attempt+1: base, 4x base, 16x base, ... capped at 10 minutes."""
    return min(base_seconds * 4.0 ** (attempt - 1), 600.0)
