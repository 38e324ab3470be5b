"""Transcode jobs: their records and the Redis Stream that carries them to workers.

Keys (all under 'vidmesh:transcode:'):
  jobs                 stream   one entry per job to run, read by the 'transcoders' consumer group
  dead                 stream   jobs that failed for good, with the reason
  retry                zset     job id -> when its next attempt may start
  job:{id}             string   the Job message (serialized proto)
  video:{video}        zset     job ids of a video, by creation time
  owner:{owner}        zset     job ids of an owner, by creation time
  submission:{key}     string   job id a submission key created, so a retried submit is a no-op
  progress:{id}        channel  the Job, published on every change (WatchJob listens)
"""

from __future__ import annotations


import redis.asyncio as redis
from google.protobuf import timestamp_pb2
from vidmesh.transcode.v1 import resources_pb2

from .config import TranscodeSettings
from .ids import new_id

Job = resources_pb2.Job
PREFIX = "vidmesh:transcode:"
TRANSCODE_JOBS = PREFIX + "jobs"
DEAD_LETTERS = PREFIX + "dead"
RETRIES = PREFIX + "retry"
GROUP = "transcoders"
FINAL_STATES = (resources_pb2.JOB_STATE_SUCCEEDED, resources_pb2.JOB_STATE_FAILED)


def job_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}"


def progress_channel(job_id: str) -> str:
    return f"{PREFIX}progress:{job_id}"


def now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


class JobStore:
    def __init__(self, client: redis.Redis, max_attempts: int = TranscodeSettings.max_attempts):
        self._redis = client
        self._max_attempts = max_attempts

    async def submit(self, video_id: str, owner: str, source_key: str, submission_key: str) -> Job:
        """Creates a QUEUED job and queues it, once per submission key; a repeat returns the first job."""
        job_id = new_id()
        claimed = await self._redis.set(f"{PREFIX}submission:{submission_key}", job_id, nx=True, ex=30 * 86400)
        if not claimed:
            existing = await self._redis.get(f"{PREFIX}submission:{submission_key}")
            job = await self.get(existing.decode())
            if job is not None:
                return job
        created = now()
        job = Job(
            name=f"jobs/{job_id}", video=f"videos/{video_id}", owner=owner, state=resources_pb2.JOB_STATE_QUEUED,
            max_attempts=self._max_attempts, create_time=created, update_time=created,
        )
        score = created.ToMilliseconds()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(job_key(job_id), job.SerializeToString())
            pipe.zadd(f"{PREFIX}video:{video_id}", {job_id: score})
            pipe.zadd(f"{PREFIX}owner:{owner}", {job_id: score})
            pipe.xadd(TRANSCODE_JOBS, {"job": job_id, "video_id": video_id, "source_key": source_key, "owner": owner})
            await pipe.execute()
        return job

    async def get(self, job_id: str) -> Job | None:
        raw = await self._redis.get(job_key(job_id))
        return Job.FromString(raw) if raw else None

    async def get_many(self, job_ids: list[str]) -> list[Job]:
        """The jobs that exist among job_ids, in the same order, in one round trip."""
        if not job_ids:
            return []
        raws = await self._redis.mget([job_key(i) for i in job_ids])
        return [Job.FromString(raw) for raw in raws if raw]

    async def save(self, job: Job) -> None:
        """Stores the job and tells every watcher."""
        job.update_time.CopyFrom(now())
        data = job.SerializeToString()
        job_id = job.name.removeprefix("jobs/")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(job_key(job_id), data)
            pipe.publish(progress_channel(job_id), data)
            await pipe.execute()

    async def list_ids(self, *, video_id: str | None, owner: str, offset: int, limit: int) -> list[str]:
        """Job ids, newest first, of one video or of every video of owner."""
        key = f"{PREFIX}video:{video_id}" if video_id else f"{PREFIX}owner:{owner}"
        ids = await self._redis.zrevrange(key, offset, offset + limit - 1)
        return [i.decode() for i in ids]


class TranscodeJobQueue:
    """What Upload uses to hand a stored source to the transcoders."""

    def __init__(self, client: redis.Redis, max_attempts: int):
        self._jobs = JobStore(client, max_attempts)

    async def publish(self, video_id: str, source_key: str, owner: str) -> str:
        # The video id is fixed when an upload starts, so it is the natural submission key:
        # a retried CompleteUpload cannot queue a second job.
        job = await self._jobs.submit(video_id, owner, source_key, submission_key=f"videos/{video_id}/source")
        return job.name


def retry_delay(attempt: int, base_seconds: float) -> float:
    """Backoff before attempt+1: base, 4x base, 16x base, ... capped at 10 minutes."""
    return min(base_seconds * 4 ** (attempt - 1), 600.0)
