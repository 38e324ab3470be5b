"""The transcoder's storage in Redis: job records (JobStore) and the queue that carries jobs to
workers (JobQueue). Every key the transcoder uses is named here.

Keys (all under 'vidmesh:transcode:'):
  jobs                 stream   one entry per submitted job ({entry: QueuedJob, job, owner, cost,
                                order}), taken into the fair line by its 'transcoders' group
  ready:{owner}, waiting, cost, owners, vtime:{owner}, clock
                                the line of waiting jobs, fair between owners (fair_queue.py)
  running              stream   jobs handed to workers ({entry: QueuedJob}): pending entries of
                                the 'transcoders' group, deleted once acknowledged
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
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as redis
from google.protobuf import timestamp_pb2
from google.protobuf.message import DecodeError
from redis.exceptions import ResponseError
from vidmesh.transcode.v1 import resources_pb2
from vidmesh.transcode.v1 import transcode_internal_service_pb2 as internal_pb2

from ..runtime.config import TranscodeSettings
from ..runtime.ids import new_id
from ..storage.redis_replies import reply_bytes, reply_text, scored_members
from .fair_queue import GROUP, PREFIX, RETRIES, RUNNING, FairQueue, intake_fields
from .fair_queue import INTAKE as TRANSCODE_JOBS

Job = resources_pb2.Job
QueuedJob = internal_pb2.QueuedJob
DEAD_LETTERS = PREFIX + "dead"
ENTRY = b"entry"
FINAL_STATES = (resources_pb2.JOB_STATE_SUCCEEDED, resources_pb2.JOB_STATE_FAILED, resources_pb2.JOB_STATE_CANCELLED)
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
        self._line = FairQueue(client)

    async def submit(self, video_id: str, owner: str, source_key: str, submission_key: str, source_seconds: float = 0.0) -> Job:
        """Creates a QUEUED job and queues it, once per submission key; a repeat returns the first job.
        source_seconds (0: unknown) is the job's cost in the fair line."""
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
        entry = QueuedJob(
            job=job.name, video=job.video, owner=owner, source_path=source_key, source_seconds=source_seconds, submit_time=created
        )
        score = created.ToMilliseconds()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(job_key(job_id), job.SerializeToString())
            pipe.zadd(f"{PREFIX}video:{video_id}", {job_id: score})
            pipe.zadd(f"{PREFIX}owner:{owner}", {job_id: score})
            pipe.xadd(TRANSCODE_JOBS, intake_fields(entry))  # type: ignore[arg-type]  # redis-py's field type is invariant
            await pipe.execute()
        return job

    async def add_queue_positions(self, jobs: list[Job]) -> None:
        """Sets queue_position on the QUEUED jobs among jobs (0 when not in line: waiting for a retry)."""
        if not any(job.state == resources_pb2.JOB_STATE_QUEUED for job in jobs):
            return
        places = await self._line.positions()
        for job in jobs:
            job.queue_position = places.get(job.name.removeprefix("jobs/"), 0) if job.state == resources_pb2.JOB_STATE_QUEUED else 0

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
        job.ClearField("queue_position")  # worked out on every read, never stored
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
    """The jobs handed to workers (the running stream and its consumer group), the fair line they
    come from (fair_queue.py), the retry schedule and the dead letters."""

    def __init__(self, client: redis.Redis, consumer: str):
        self._redis = client
        self._line = FairQueue(client)
        self.consumer = consumer

    async def ensure_group(self) -> None:
        for stream in (TRANSCODE_JOBS, RUNNING):
            with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
                await self._redis.xgroup_create(stream, GROUP, id="0", mkstream=True)

    async def next(self, *, block_ms: int, idle_ms: int) -> tuple[Delivery | None, bool]:
        """An entry a dead worker left for idle_ms first, else the next job of the fair line
        (waiting up to block_ms for a submission). Returns (delivery, taken over); the delivery is
        None if nothing came, or the entry was unreadable (it is then dead-lettered and acknowledged)."""
        reply = await self._redis.xautoclaim(RUNNING, GROUP, self.consumer, idle_ms, "0-0", count=1)
        claimed = reply[1]
        if claimed:
            entry_id, fields = claimed[0]
            return await self._delivery(entry_id, fields), True
        deadline = time.monotonic() + block_ms / 1000
        while True:
            handed = await self._line.dispatch(self.consumer)
            if not isinstance(handed, str):
                return await self._delivery(*handed), False
            wait_ms = int((deadline - time.monotonic()) * 1000)
            if wait_ms <= 0:
                return None, False
            # Wakes on the next submission after the last one the line has taken in.
            await self._redis.xread({TRANSCODE_JOBS: handed}, count=1, block=wait_ms)

    async def _delivery(self, entry_id: bytes | str, fields: dict[bytes, bytes] | None) -> Delivery | None:
        entry = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        job = _queued_job(fields.get(ENTRY) if fields else None)
        if job is None or not job.job:
            await self._redis.xadd(DEAD_LETTERS, {b"reason": b"unreadable queue entry", b"fields": repr(fields).encode()})
            await self.ack(entry)
            return None
        return Delivery(entry, job)

    async def heartbeat(self, delivery: Delivery) -> None:
        """Resets the entry's idle time, so no other worker takes it over while this one works."""
        await self._redis.xclaim(RUNNING, GROUP, self.consumer, 0, [delivery.entry_id], justid=True)

    async def ack(self, entry_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(RUNNING, GROUP, entry_id)
            pipe.xdel(RUNNING, entry_id)  # done with: the running stream holds only work in hand
            await pipe.execute()

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        await self._redis.xadd(DEAD_LETTERS, {ENTRY: delivery.job.SerializeToString(), b"reason": reason.encode()})

    async def retry_at(self, delivery: Delivery, due: float) -> None:
        """Schedules the job again at due (unix seconds); requeue_due() puts it back in line."""
        await self._redis.zadd(RETRIES, {delivery.job.SerializeToString(): due})

    async def requeue_due(self, at: float, limit: int = 10) -> int:
        """Moves retries due by `at` back into the fair line, where they keep their place."""
        moved = 0
        due = await self._redis.zrangebyscore(RETRIES, "-inf", at, start=0, num=limit)
        for raw in map(reply_bytes, due):
            job = _queued_job(raw)
            if job is None or not job.job or not job.owner:
                if await self._redis.zrem(RETRIES, raw):
                    await self._redis.xadd(DEAD_LETTERS, {b"reason": b"unreadable retry entry", b"fields": raw})
                continue
            moved += await self._line.requeue(raw, job)
        return moved


def _queued_job(raw: bytes | None) -> QueuedJob | None:
    """A queue or retry entry's job; None when missing or unreadable (the caller dead-letters it)."""
    if not raw:
        return None
    try:
        return QueuedJob.FromString(raw)
    except DecodeError:
        return None


def retry_delay(attempt: int, base_seconds: float) -> float:
    """Backoff before attempt+1: base, 4x base, 16x base, ... capped at 10 minutes."""
    return min(base_seconds * 4.0 ** (attempt - 1), 600.0)
