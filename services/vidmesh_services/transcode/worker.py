"""Transcode workers: take the next job of the fair line, run the ladder, publish it all at once.

Delivery is at-least-once and nothing gets stuck:
- a worker takes jobs from the line fair between owners (fair_queue.py); the job it takes is a
  pending entry of the 'transcoders' group on the running stream, and it heart-beats that entry
  (XCLAIM ... JUSTID resets its idle time); a worker that dies stops heart-beating, and after
  the visibility timeout another worker takes the entry over with XAUTOCLAIM;
- a failed attempt is acknowledged and re-queued after a backoff (retry zset); after the last
  attempt, or at once for media that can never transcode, the video is marked FAILED with the
  reason and the job goes to the dead-letter stream;
- outputs are idempotent: an attempt encodes into a private staging folder that replaces any
  earlier partial attempt, and the finished ladder becomes visible with one rename under its
  versioned path, so a player never sees half a ladder;
- a video deleted before or during its job ends the job CANCELLED: no error, no retry, nothing
  published. The worker asks the catalog before it starts, on every heartbeat, before it
  publishes, and whenever an attempt fails (deleting removes the files under a running encoder);
  if the catalog cannot answer then, vanished source or staging files count as the deletion.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
from pathlib import Path
from typing import Protocol

import redis.asyncio as redis
from vidmesh.catalog.v1 import resources_pb2 as catalog_pb2
from vidmesh.transcode.v1 import resources_pb2

from ..catalog.client import CatalogClient
from ..runtime.calls import RemoteError, ServiceChannels
from ..runtime.config import Config, load_config
from ..runtime.errors import DeadlineExceeded, Unavailable
from ..runtime.logs import setup_logging
from ..runtime.metrics import serve_metrics
from ..storage.blobs import hls_prefix
from ..storage.redis_client import open_redis
from .encode import EncodedLadder, MediaRejected, Progress, encode_ladder
from .store import FINAL_STATES, Delivery, Job, JobQueue, JobStore, now, retry_delay

log = logging.getLogger("vidmesh.transcode.worker")
DELETED = "the video was deleted"
# What a catalog call raises when the catalog cannot answer now.
CATALOG_DOWN = (Unavailable, DeadlineExceeded, RemoteError)


class Abandoned(Exception):
    """The worker is stopping mid-job; the job is left for another worker to take over."""


class VideoDeleted(Exception):
    """The video was deleted while it was being transcoded; the work is thrown away."""


class Encoder(Protocol):
    def __call__(self, source: Path, out_dir: Path, progress: Progress) -> EncodedLadder: ...


class Worker:
    def __init__(self, config: Config, client: redis.Redis, catalog: CatalogClient, encode: Encoder, name: str):
        self._config = config
        self._jobs = JobStore(client, config.transcode.max_attempts)
        self._queue = JobQueue(client, name)
        self._catalog = catalog
        self._encode = encode
        self.name = name
        self._settings = config.transcode
        self._stop = asyncio.Event()
        self._deleted = asyncio.Event()
        self._saving = asyncio.Lock()

    async def ensure_group(self) -> None:
        await self._queue.ensure_group()

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        await self.ensure_group()
        while not stop.is_set():
            await self.requeue_due_retries()
            delivery = await self.next_delivery(block_ms=1000)
            if delivery is not None:
                await self.handle(delivery)

    async def requeue_due_retries(self) -> None:
        await self._queue.requeue_due(now().ToMilliseconds() / 1000)

    async def next_delivery(self, block_ms: int) -> Delivery | None:
        """An entry abandoned by a dead worker first, else a new one."""
        idle_ms = int(self._settings.visibility_timeout_seconds * 1000)
        delivery, taken_over = await self._queue.next(block_ms=block_ms, idle_ms=idle_ms)
        if delivery is not None and taken_over:
            log.warning("took over an abandoned job", extra={"fields": {"entry": delivery.entry_id, "job": delivery.job.job}})
        return delivery

    async def handle(self, delivery: Delivery) -> None:
        job = await self._jobs.get(delivery.job_id)
        if job is None or job.state in FINAL_STATES:
            await self._ack(delivery)  # a duplicate delivery of finished work
            return
        if await self._catalog_says_deleted(delivery.video_id):
            await self._cancel(job, delivery)
            return
        job.attempt += 1
        job.state = resources_pb2.JOB_STATE_RUNNING
        job.stage = resources_pb2.JOB_STAGE_PROBING
        job.percent = 0
        if not job.HasField("start_time"):
            job.start_time.CopyFrom(now())
        await self._save(job)
        heartbeat = asyncio.create_task(self._heartbeat(delivery))
        try:
            ladder, version = await self._transcode(job, delivery)
            await self._mark_ready(job, delivery, ladder, version)
        except Abandoned:
            log.info("stopping: %s is left for another worker", job.name)
        except Exception as exc:
            # Deleting a video removes its files under the encoder: not a failure, whatever it raised.
            if isinstance(exc, VideoDeleted) or await self._deleted_meanwhile(delivery):
                await self._cancel(job, delivery)
            elif isinstance(exc, MediaRejected):
                await self._fail(job, delivery, str(exc))
            else:
                log.exception("attempt %d of %s failed", job.attempt, job.name)
                if job.attempt >= job.max_attempts:
                    await self._fail(job, delivery, f"transcoding failed after {job.attempt} attempts: {exc}")
                else:
                    await self._retry_later(job, delivery, str(exc))
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self, delivery: Delivery) -> None:
        """Keeps the entry ours while we work, and notices when the video is deleted meanwhile."""
        self._deleted.clear()
        interval = max(self._settings.visibility_timeout_seconds / 3, 0.2)
        while True:
            await asyncio.sleep(interval)
            await self._queue.heartbeat(delivery)
            if await self._catalog_says_deleted(delivery.video_id):
                self._deleted.set()

    async def _catalog_says_deleted(self, video_id: str) -> bool:
        """True only if the catalog answers that the video is gone (False while it cannot answer)."""
        try:
            return not await self._video_exists(video_id)
        except CATALOG_DOWN as exc:
            log.warning("cannot ask the catalog whether the video still exists", extra={"fields": {"video": video_id, "error": str(exc)}})
            return False

    async def _deleted_meanwhile(self, delivery: Delivery) -> bool:
        """After an attempt failed: was its video deleted under it? The catalog decides; if it
        cannot answer, vanished files do (the catalog removes the record before the bytes)."""
        try:
            return not await self._video_exists(delivery.video_id)
        except CATALOG_DOWN:
            staging, _ = self._paths(delivery.video_id, delivery.job_id)
            source = self._config.blob_root / delivery.job.source_path
            return not await asyncio.to_thread(lambda: source.exists() and staging.parent.exists())

    async def _cancel(self, job: Job, delivery: Delivery) -> None:
        """Ends the job of a deleted video: CANCELLED, its partial and published files removed."""
        job.state, job.failure_reason = resources_pb2.JOB_STATE_CANCELLED, DELETED
        job.stage = resources_pb2.JOB_STAGE_UNSPECIFIED
        job.end_time.CopyFrom(now())
        await self._save(job)
        staging, final = self._paths(delivery.video_id, delivery.job_id)
        for path in (staging, final):
            await asyncio.to_thread(shutil.rmtree, path, True)
        with contextlib.suppress(OSError):  # the video's folder, unless another job's output is there
            await asyncio.to_thread(staging.parent.rmdir)
        await self._ack(delivery)
        log.info("cancelled: %s", DELETED, extra={"fields": {"job": job.name, "video": delivery.video_id, "attempt": job.attempt}})

    def _paths(self, video_id: str, job_id: str) -> tuple[Path, Path]:
        root = self._config.blob_root / hls_prefix(video_id)
        return root / f".staging-{job_id}", root / job_id

    async def _transcode(self, job: Job, delivery: Delivery) -> tuple[EncodedLadder, str]:
        version = delivery.job_id  # one version per job, shared by all its attempts
        staging, final = self._paths(delivery.video_id, version)
        marker = final / ".complete"
        if marker.exists():  # an earlier attempt published everything, then died: reuse it
            return _read_marker(marker), version
        await asyncio.to_thread(shutil.rmtree, staging, True)
        staging.mkdir(parents=True)
        loop = asyncio.get_running_loop()
        last: list[tuple[int, int]] = [(-1, -1)]

        def progress(stage: resources_pb2.JobStage, percent: float) -> None:
            # Called from the encoding thread; saves only whole-percent changes.
            if self._stop.is_set():
                raise Abandoned()
            if self._deleted.is_set():
                raise VideoDeleted()
            key = (stage, int(percent))
            if key != last[0]:
                last[0] = key
                asyncio.run_coroutine_threadsafe(self._report(job, *key), loop)

        source = self._config.blob_root / delivery.job.source_path
        ladder = await asyncio.to_thread(self._encode, source, staging, progress)
        if self._deleted.is_set() or await self._catalog_says_deleted(delivery.video_id):
            raise VideoDeleted()  # never publish a ladder for a deleted video
        job.stage, job.percent = resources_pb2.JOB_STAGE_PUBLISHING, overall_percent(resources_pb2.JOB_STAGE_PUBLISHING, 0)
        await self._save(job)
        await asyncio.to_thread(_publish, staging, final, ladder)
        return ladder, version

    async def _report(self, job: Job, stage: resources_pb2.JobStage, percent: int) -> None:
        """Progress from the encoding thread, applied on the loop in the order it was reported."""
        job.stage, job.percent = stage, overall_percent(stage, percent)
        await self._save(job)

    async def _save(self, job: Job) -> None:
        # One save at a time: watchers then see changes in the order they were made.
        async with self._saving:
            await self._jobs.save(job)

    async def _video_exists(self, video_id: str) -> bool:
        return await self._catalog.get_video(video_id) is not None

    async def _mark_ready(self, job: Job, delivery: Delivery, ladder: EncodedLadder, version: str) -> None:
        master = f"/{hls_prefix(delivery.video_id)}/{version}/{ladder.master_playlist}"
        video = await self._catalog.set_processing_result(
            delivery.video_id, catalog_pb2.VIDEO_STATUS_READY, renditions=ladder.renditions, master_playlist_path=master
        )
        if video is None:
            raise VideoDeleted()
        job.state, job.stage = resources_pb2.JOB_STATE_SUCCEEDED, resources_pb2.JOB_STAGE_UNSPECIFIED
        job.percent = 100
        job.failure_reason = ""
        job.end_time.CopyFrom(now())
        job.output.CopyFrom(resources_pb2.JobOutput(version=version, master_playlist_path=master, renditions=ladder.renditions))
        await self._save(job)
        await self._ack(delivery)
        log.info("ready", extra={"fields": {"job": job.name, "video": delivery.video_id, "attempt": job.attempt}})

    async def _fail(self, job: Job, delivery: Delivery, reason: str) -> None:
        await self._catalog.set_processing_result(delivery.video_id, catalog_pb2.VIDEO_STATUS_FAILED, failure_reason=reason)
        job.state, job.stage = resources_pb2.JOB_STATE_FAILED, resources_pb2.JOB_STAGE_UNSPECIFIED
        job.failure_reason = reason
        job.end_time.CopyFrom(now())
        await self._save(job)
        await self._queue.dead_letter(delivery, reason)
        staging, _ = self._paths(delivery.video_id, delivery.job_id)
        await asyncio.to_thread(shutil.rmtree, staging, True)
        await self._ack(delivery)
        log.warning("failed", extra={"fields": {"job": job.name, "reason": reason}})

    async def _retry_later(self, job: Job, delivery: Delivery, reason: str) -> None:
        job.state, job.stage, job.percent = resources_pb2.JOB_STATE_QUEUED, resources_pb2.JOB_STAGE_UNSPECIFIED, 0
        job.failure_reason = f"attempt {job.attempt} failed: {reason}"
        await self._save(job)
        due = now().ToMilliseconds() / 1000 + retry_delay(job.attempt, self._settings.retry_base_seconds)
        await self._queue.retry_at(delivery, due)
        await self._ack(delivery)

    async def _ack(self, delivery: Delivery) -> None:
        await self._queue.ack(delivery.entry_id)


# Each stage's share of an attempt's progress, as (first, last) percent: encoding is nearly all
# of the time, so Job.percent runs 0 to 100 over the whole attempt as its contract says.
STAGE_PERCENTS = {
    resources_pb2.JOB_STAGE_PROBING: (0, 0),
    resources_pb2.JOB_STAGE_ENCODING: (0, 95),
    resources_pb2.JOB_STAGE_PACKAGING: (95, 98),
    resources_pb2.JOB_STAGE_PUBLISHING: (99, 99),
}


def overall_percent(stage: resources_pb2.JobStage, percent_of_stage: float) -> int:
    """Where `percent_of_stage` of `stage` puts the whole attempt, 0 to 99 (100 is SUCCEEDED)."""
    first, last = STAGE_PERCENTS[stage]
    return first + int((last - first) * min(max(percent_of_stage, 0), 100) / 100)


def _publish(staging: Path, final: Path, ladder: EncodedLadder) -> None:
    """Makes a finished ladder visible at once: fsync, then one rename of the whole folder."""
    for path in staging.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    record = resources_pb2.JobOutput(master_playlist_path=ladder.master_playlist, renditions=ladder.renditions)
    (staging / ".complete").write_bytes(record.SerializeToString())
    if final.exists():
        shutil.rmtree(final)
    os.rename(staging, final)


def _read_marker(marker: Path) -> EncodedLadder:
    record = resources_pb2.JobOutput.FromString(marker.read_bytes())
    return EncodedLadder(renditions=list(record.renditions), master_playlist=record.master_playlist_path)


def main() -> None:
    config = load_config()
    name = f"{socket.gethostname()}-{os.getpid()}"
    setup_logging(f"transcode-worker-{os.getpid()}", config.log_level)
    serve_metrics(config, "transcode_worker", int(os.environ.get("VIDMESH_WORKER_INDEX", "0")))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        client = open_redis(config.effective_redis_url)  # reconnects after a Valkey restart
        channels = ServiceChannels(config)
        try:
            await Worker(config, client, CatalogClient(channels), encode_ladder, name).run(stop)
        finally:
            await channels.close()
            await client.aclose()

    asyncio.run(run())


if __name__ == "__main__":
    main()
