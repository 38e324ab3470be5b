"""Retries, dead letters and bad media in the worker, against real Valkey and a real catalog."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis
from vidmesh.catalog.v1 import resources_pb2 as catalog_pb2
from vidmesh.transcode.v1 import resources_pb2 as jobs_pb2
from vidmesh.transcode.v1 import transcode_internal_service_pb2 as queue_pb2

from tests.support.media import make_video
from tests.support.processes import valkey_server
from vidmesh_services.catalog.client import CatalogClient
from vidmesh_services.catalog.server import create_catalog_server
from vidmesh_services.runtime.calls import ServiceChannels
from vidmesh_services.runtime.config import Config, Ports, TranscodeSettings
from vidmesh_services.storage.blob_fs import FilesystemBlobStore
from vidmesh_services.storage.sqlite import SqliteApiKeyStore, SqliteVideoStore
from vidmesh_services.transcode.encode import EncodedLadder, Progress, encode_ladder
from vidmesh_services.transcode.store import DEAD_LETTERS, RETRIES, JobStore
from vidmesh_services.transcode.worker import Worker


def copy_blob(source: Path, blob: Path) -> None:
    blob.parent.mkdir(parents=True)
    blob.write_bytes(source.read_bytes())


class Pieces:
    def __init__(self, config: Config, client: redis.Redis, store: SqliteVideoStore, channels: ServiceChannels):
        self.config, self.client, self.store = config, client, store
        self.catalog = CatalogClient(channels)

    def worker(self, encode: object) -> Worker:
        return Worker(self.config, self.client, self.catalog, encode, "test-worker")  # type: ignore[arg-type]

    async def video_with_source(self, source: Path) -> tuple[str, str]:
        video_id = secrets.token_urlsafe(8)
        key = f"raw/{video_id}/source"
        await asyncio.to_thread(copy_blob, source, self.config.blob_root / key)
        await self.store.insert_video(
            catalog_pb2.Video(id=video_id, name=f"videos/{video_id}", owner="alice", title="t", status=catalog_pb2.VIDEO_STATUS_PROCESSING)
        )
        job = await JobStore(self.client, self.config.transcode.max_attempts).submit(video_id, "alice", key, submission_key=video_id)
        return video_id, job.name.removeprefix("jobs/")


@pytest.fixture
async def pieces(tmp_path: Path) -> AsyncIterator[Pieces]:
    with valkey_server(tmp_path / "valkey") as url:
        store = SqliteVideoStore(tmp_path / "meta.sqlite3")
        keys = SqliteApiKeyStore(tmp_path / "meta.sqlite3")
        blobs = FilesystemBlobStore(tmp_path / "blobs")
        token = secrets.token_urlsafe(16)
        config = Config(
            home=tmp_path,
            service_token=token,
            redis_url=url,
            transcode=TranscodeSettings(max_attempts=2, retry_base_seconds=0.0, visibility_timeout_seconds=5),
        )
        server = await create_catalog_server(config, "127.0.0.1:0", store, keys, blobs)
        config = config.replace(ports=Ports(catalog=server.port))
        client = redis.Redis.from_url(url)
        channels = ServiceChannels(config)
        yield Pieces(config, client, store, channels)
        await channels.close()
        await client.aclose()
        await server.stop(0)
        await keys.close()
        await store.close()


async def run_once(worker: Worker) -> None:
    await worker.requeue_due_retries()
    delivery = await worker.next_delivery(block_ms=2000)
    assert delivery is not None
    await worker.handle(delivery)


async def test_a_failed_attempt_is_retried_and_then_succeeds(pieces: Pieces, tmp_path: Path) -> None:
    video_id, job_id = await pieces.video_with_source(make_video(tmp_path / "v.mp4", seconds=1))
    calls: list[int] = []

    def flaky(source: Path, out_dir: Path, progress: Progress) -> EncodedLadder:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("No space left on device")  # a transient failure
        return encode_ladder(source, out_dir, progress)

    worker = pieces.worker(flaky)
    await worker.ensure_group()
    await run_once(worker)
    job = await JobStore(pieces.client).get(job_id)
    assert job is not None and job.state == jobs_pb2.JOB_STATE_QUEUED and job.attempt == 1
    assert "No space left" in job.failure_reason
    assert await pieces.client.zcard(RETRIES) == 1
    await run_once(worker)
    job = await JobStore(pieces.client).get(job_id)
    assert job is not None and job.state == jobs_pb2.JOB_STATE_SUCCEEDED and job.attempt == 2
    video = await pieces.store.get_video(video_id)
    assert video is not None and video.status == catalog_pb2.VIDEO_STATUS_READY and video.renditions


async def test_a_job_that_keeps_failing_is_dead_lettered_and_the_video_failed(pieces: Pieces, tmp_path: Path) -> None:
    video_id, job_id = await pieces.video_with_source(make_video(tmp_path / "v.mp4", seconds=1))

    def broken(source: Path, out_dir: Path, progress: Progress) -> EncodedLadder:
        raise RuntimeError("encoder crashed")

    worker = pieces.worker(broken)
    await worker.ensure_group()
    await run_once(worker)
    await run_once(worker)
    job = await JobStore(pieces.client).get(job_id)
    assert job is not None and job.state == jobs_pb2.JOB_STATE_FAILED and job.attempt == 2
    video = await pieces.store.get_video(video_id)
    assert video is not None and video.status == catalog_pb2.VIDEO_STATUS_FAILED
    assert "after 2 attempts" in video.failure_reason and "encoder crashed" in video.failure_reason
    dead = await pieces.client.xrange(DEAD_LETTERS)
    assert [queue_pb2.QueuedJob.FromString(fields[b"entry"]).job for _, fields in dead] == [f"jobs/{job_id}"]
    assert [fields[b"reason"].decode() for _, fields in dead] == [video.failure_reason]
    assert not list((pieces.config.blob_root / "hls" / video_id).glob(".staging-*"))


async def test_bad_media_fails_at_once_without_retries(pieces: Pieces, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    good = make_video(tmp_path / "v.mp4", seconds=2).read_bytes()
    garbage.write_bytes(good[: len(good) // 3])  # truncated: the moov box is gone
    video_id, job_id = await pieces.video_with_source(garbage)
    worker = pieces.worker(encode_ladder)
    await worker.ensure_group()
    await run_once(worker)
    job = await JobStore(pieces.client).get(job_id)
    assert job is not None and job.state == jobs_pb2.JOB_STATE_FAILED and job.attempt == 1
    video = await pieces.store.get_video(video_id)
    assert video is not None and video.status == catalog_pb2.VIDEO_STATUS_FAILED and video.failure_reason
    assert await pieces.client.zcard(RETRIES) == 0


async def test_a_deleted_video_is_not_transcoded(pieces: Pieces, tmp_path: Path) -> None:
    video_id, job_id = await pieces.video_with_source(make_video(tmp_path / "v.mp4", seconds=1))
    await pieces.store.delete_video(video_id)

    def never(source: Path, out_dir: Path, progress: Progress) -> EncodedLadder:
        raise AssertionError("a deleted video must not be encoded")

    worker = pieces.worker(never)
    await worker.ensure_group()
    await run_once(worker)
    job = await JobStore(pieces.client).get(job_id)
    assert job is not None and job.state == jobs_pb2.JOB_STATE_CANCELLED and job.failure_reason == "the video was deleted"
