"""Abandoned uploads expire and their parts are removed (real Valkey, real blob store)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import google_crc32c
import pytest
import redis.asyncio as redis

from tests.support.processes import valkey_server
from vidmesh_services.runtime.auth import Identity
from vidmesh_services.runtime.config import UploadLimits
from vidmesh_services.runtime.errors import NotFound
from vidmesh_services.storage.blob_fs import FilesystemBlobStore
from vidmesh_services.upload.probe import Prober
from vidmesh_services.upload.store import Upload, UploadState
from vidmesh_services.upload.uploads import Chunk, Uploads

KiB = 1024
ALICE = Identity("alice")


class NoVideos:
    async def create_video(self, video_id: str, owner: str, fields: object, source: object) -> None:
        raise AssertionError("nothing completes in these tests")


class NoJobs:
    async def submit_job(self, video_id: str, owner: str, source_key: str, request_id: str) -> None:
        raise AssertionError("nothing completes in these tests")


@pytest.fixture
async def uploads(tmp_path: Path) -> AsyncIterator[tuple[Uploads, FilesystemBlobStore]]:
    with valkey_server(tmp_path / "valkey") as url:
        client = redis.Redis.from_url(url)
        blobs = FilesystemBlobStore(tmp_path / "blobs")
        limits = UploadLimits(min_chunk_size=KiB, ttl_seconds=2)
        prober = Prober(tmp_path / "blobs", workers=1)
        yield Uploads(UploadState(client, limits.ttl_seconds, 60), blobs, prober, NoVideos(), NoJobs(), limits), blobs
        prober.close()
        await client.aclose()


async def _chunks(name: str, count: int) -> AsyncIterator[Chunk]:
    for index in range(count):
        data = bytes([index]) * KiB
        yield Chunk(name, index, data, google_crc32c.value(data))


async def init_upload(manager: Uploads, owner: Identity = ALICE, size_bytes: int = 4 * KiB, chunk_size: int = KiB) -> tuple[Upload, float]:
    """An upload with no checksum or metadata beyond a title (4 KiB of 1 KiB chunks by alice unless told)."""
    return await manager.init(
        owner,
        filename="a.mp4",
        size_bytes=size_bytes,
        content_type="",
        sha256="",
        chunk_size=chunk_size,
        title="t",
        description="",
        tags=[],
        visibility=0,
    )


async def test_abandoned_upload_expires_and_its_parts_are_removed(uploads: tuple[Uploads, FilesystemBlobStore]) -> None:
    manager, blobs = uploads
    upload, _ = await init_upload(manager)
    name = f"uploads/{upload.upload_id}"
    await manager.receive(ALICE, _chunks(name, 2))
    assert len(list(blobs.list(f"uploads/{upload.upload_id}"))) > 0
    assert await manager.sweep_expired() == 0  # still fresh
    await asyncio.sleep(2.2)
    with pytest.raises(NotFound):
        await manager.status(ALICE, name)
    assert await manager.sweep_expired() == 1
    assert list(blobs.list(f"uploads/{upload.upload_id}")) == []


async def test_each_chunk_extends_the_expiry(uploads: tuple[Uploads, FilesystemBlobStore]) -> None:
    manager, _ = uploads
    upload, first_expiry = await init_upload(manager)
    await asyncio.sleep(1.2)
    await manager.receive(ALICE, _chunks(f"uploads/{upload.upload_id}", 1))
    status = await manager.status(ALICE, f"uploads/{upload.upload_id}")
    assert status.expire_time > first_expiry + 1
    assert status.expire_time > time.time() + 1.5
