"""InitUpload takes no disk up front and keeps each owner within their quotas: open uploads,
their bytes, and stored sources (a mesh with small limits, real Valkey, real blob store)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import google_crc32c
import grpc
import pytest
import redis.asyncio as redis
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from vidmesh.catalog.v1 import catalog_service_pb2 as catalog_pb2
from vidmesh.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
from vidmesh.upload.v1 import upload_service_pb2 as pb2
from vidmesh.upload.v1 import upload_service_pb2_grpc as pb2_grpc

from tests.conftest import bearer
from tests.integration.test_upload_expiry import NoJobs, NoVideos, init_upload
from tests.support.media import make_video
from tests.support.processes import Mesh, start_mesh, stop_mesh, valkey_server
from vidmesh_services.runtime.auth import Identity
from vidmesh_services.runtime.config import UploadLimits
from vidmesh_services.runtime.errors import QuotaExceeded
from vidmesh_services.storage.blob_fs import FilesystemBlobStore
from vidmesh_services.upload.probe import Prober
from vidmesh_services.upload.store import UploadState, Usage
from vidmesh_services.upload.uploads import Uploads

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
CHUNK = 64 * KiB
MAX_OPEN_UPLOADS = 3
MAX_OPEN_BYTES = 600 * KiB
MAX_STORED_BYTES = 1 * MiB


# -- through the gateway ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    running = start_mesh(
        tmp_path_factory.mktemp("limited"),
        VIDMESH_UPLOAD_MIN_CHUNK_SIZE=str(CHUNK),
        VIDMESH_UPLOAD_MAX_OPEN_UPLOADS=str(MAX_OPEN_UPLOADS),
        VIDMESH_UPLOAD_MAX_OPEN_BYTES=str(MAX_OPEN_BYTES),
        VIDMESH_UPLOAD_MAX_STORED_BYTES=str(MAX_STORED_BYTES),
        VIDMESH_TRANSCODE_WORKERS="1",
    )
    yield running
    assert stop_mesh(running) == 0, "".join(running.output)


@pytest.fixture(scope="module")
def channel(limited_mesh: Mesh) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(limited_mesh.gateway) as opened:
        yield opened


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> pb2_grpc.UploadServiceStub:
    return pb2_grpc.UploadServiceStub(channel)


def init(stub: pb2_grpc.UploadServiceStub, key: str, size: int) -> pb2.InitUploadResponse:
    request = pb2.InitUploadRequest(filename="f.ts", size_bytes=size, title="t", chunk_size_bytes=CHUNK)
    response: pb2.InitUploadResponse = stub.InitUpload(request, metadata=bearer(key))
    return response


def abort(stub: pb2_grpc.UploadServiceStub, key: str, name: str) -> None:
    stub.AbortUpload(pb2.AbortUploadRequest(name=name), metadata=bearer(key))


def refusal(stub: pb2_grpc.UploadServiceStub, key: str, size: int) -> tuple[error_details_pb2.ErrorInfo, error_details_pb2.QuotaFailure]:
    """The ErrorInfo and QuotaFailure of an InitUpload that must be RESOURCE_EXHAUSTED."""
    with pytest.raises(grpc.RpcError) as caught:
        init(stub, key, size)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, caught.value.details()
    status = rpc_status.from_call(caught.value)  # type: ignore[arg-type]
    assert status is not None
    info, quota = error_details_pb2.ErrorInfo(), error_details_pb2.QuotaFailure()
    found = set()
    for detail in status.details:
        for message in (info, quota):
            if detail.Is(message.DESCRIPTOR):
                detail.Unpack(message)
                found.add(type(message).__name__)
    assert found == {"ErrorInfo", "QuotaFailure"}
    return info, quota


def test_open_uploads_are_capped_per_owner_and_abort_gives_the_slot_back(limited_mesh: Mesh, stub: pb2_grpc.UploadServiceStub) -> None:
    carol, dave = limited_mesh.create_key("carol"), limited_mesh.create_key("dave")
    names = [init(stub, carol, KiB).name for _ in range(MAX_OPEN_UPLOADS)]
    info, quota = refusal(stub, carol, KiB)
    assert info.reason == "OPEN_UPLOADS_QUOTA_EXCEEDED"
    metadata = dict(info.metadata)
    assert metadata.pop("request_id")
    assert metadata == {"limit": "max_open_uploads", "used": "3", "requested": "1", "maximum": "3"}
    (violation,) = quota.violations
    assert violation.subject == "carol"
    assert "max_open_uploads" in violation.description and "3" in violation.description
    init(stub, dave, KiB)  # another owner's quota is their own
    abort(stub, carol, names.pop())
    names.append(init(stub, carol, KiB).name)
    for name in names:
        abort(stub, carol, name)


def test_concurrent_inits_of_one_owner_cannot_pass_the_limit(limited_mesh: Mesh, stub: pb2_grpc.UploadServiceStub) -> None:
    key = limited_mesh.create_key("frank")

    def attempt(_: int) -> str | grpc.StatusCode:
        try:
            return init(stub, key, KiB).name
        except grpc.RpcError as error:
            return error.code()

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(attempt, range(12)))
    started = [name for name in outcomes if isinstance(name, str)]
    assert len(started) == MAX_OPEN_UPLOADS
    assert set(outcomes) - set(started) == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    for name in started:
        abort(stub, key, name)


def test_init_takes_no_disk_and_open_bytes_are_capped(limited_mesh: Mesh, stub: pb2_grpc.UploadServiceStub) -> None:
    key = limited_mesh.create_key("gina")
    started = init(stub, key, 400 * KiB)
    data = limited_mesh.home / "data" / "blobs" / started.name / "data"
    assert data.stat().st_size == 400 * KiB
    assert data.stat().st_blocks == 0, "InitUpload must not allocate the declared size"
    chunk = bytes(range(256)) * (CHUNK // 256)
    stub.UploadChunks(
        iter([pb2.UploadChunksRequest(name=started.name, index=2, data=chunk, crc32c=google_crc32c.value(chunk))]),
        metadata=bearer(key),
    )
    assert data.stat().st_blocks * 512 <= CHUNK + 8 * KiB  # one chunk's blocks (plus filesystem slack)
    with open(data, "rb") as written:
        assert written.read(CHUNK) == bytes(CHUNK)  # chunk 0 is still a hole: zeros
        written.seek(2 * CHUNK)
        assert written.read(CHUNK) == chunk

    info, quota = refusal(stub, key, 300 * KiB)
    assert info.reason == "OPEN_UPLOAD_BYTES_QUOTA_EXCEEDED"
    assert (info.metadata["used"], info.metadata["requested"], info.metadata["maximum"]) == (
        str(400 * KiB),
        str(300 * KiB),
        str(MAX_OPEN_BYTES),
    )
    assert quota.violations[0].subject == "gina" and "max_open_bytes" in quota.violations[0].description
    abort(stub, key, started.name)
    abort(stub, key, init(stub, key, 300 * KiB).name)


def padded_video(path: Path, size: int) -> bytes:
    """A real MPEG-TS video repeated to at least size bytes (repeated TS is still valid TS)."""
    clip = make_video(path, seconds=1.0, width=160, height=120, audio=False).read_bytes()
    return clip * (size // len(clip) + 1)


def test_stored_sources_count_until_their_video_is_deleted(
    limited_mesh: Mesh, stub: pb2_grpc.UploadServiceStub, channel: grpc.Channel, tmp_path: Path
) -> None:
    key = limited_mesh.create_key("hana")
    video = padded_video(tmp_path / "clip.ts", 500 * KiB)
    started = init(stub, key, len(video))
    pieces = [video[i : i + CHUNK] for i in range(0, len(video), CHUNK)]
    messages = [pb2.UploadChunksRequest(name=started.name, index=i, data=p, crc32c=google_crc32c.value(p)) for i, p in enumerate(pieces)]
    stub.UploadChunks(iter(messages), metadata=bearer(key))
    video_id = stub.CompleteUpload(pb2.CompleteUploadRequest(name=started.name), metadata=bearer(key)).video_id

    # Nothing is open now, but the source is stored: it and a new upload would pass 1 MiB.
    wanted = MAX_STORED_BYTES - len(video) + 1
    info, quota = refusal(stub, key, wanted)
    assert info.reason == "STORED_BYTES_QUOTA_EXCEEDED"
    assert (info.metadata["used"], info.metadata["maximum"]) == (str(len(video)), str(MAX_STORED_BYTES))
    assert quota.violations[0].subject == "hana" and "max_stored_bytes" in quota.violations[0].description
    abort(stub, key, init(stub, key, wanted - 1).name)  # exactly at the limit is allowed

    catalog_grpc.CatalogServiceStub(channel).DeleteVideo(catalog_pb2.DeleteVideoRequest(name=f"videos/{video_id}"), metadata=bearer(key))
    abort(stub, key, init(stub, key, wanted).name)  # the deleted source no longer counts


# -- the rules, on a real Valkey and blob store ----------------------------------------------


@pytest.fixture
async def state_and_uploads(tmp_path: Path) -> AsyncIterator[tuple[UploadState, Uploads]]:
    with valkey_server(tmp_path / "valkey") as url:
        client = redis.Redis.from_url(url)
        limits = UploadLimits(min_chunk_size=KiB, max_file_size=16 * GiB, ttl_seconds=1, max_open_uploads=2, max_open_bytes=8 * GiB)
        state = UploadState(client, limits.ttl_seconds, 60)
        prober = Prober(tmp_path / "blobs", workers=1)
        blobs = FilesystemBlobStore(tmp_path / "blobs")
        yield state, Uploads(state, blobs, prober, NoVideos(), NoJobs(), limits)
        prober.close()
        await client.aclose()


async def _init(manager: Uploads, owner: str, size: int) -> str:
    upload, _ = await init_upload(manager, Identity(owner), size, MiB)
    return upload.upload_id


async def test_expiry_gives_quota_back_after_the_uploads_own_keys_expired(
    state_and_uploads: tuple[UploadState, Uploads],
) -> None:
    state, manager = state_and_uploads
    await asyncio.gather(_init(manager, "ivan", 3 * GiB), _init(manager, "ivan", 3 * GiB))
    assert await state.usage("ivan") == Usage(open_uploads=2, open_bytes=6 * GiB, stored_bytes=0)
    with pytest.raises(QuotaExceeded) as refused:
        await _init(manager, "ivan", KiB)
    assert refused.value.reason == "OPEN_UPLOADS_QUOTA_EXCEEDED"
    await asyncio.sleep(1.3)  # past the 1 s TTL: Redis has dropped the uploads' fields already
    assert await manager.sweep_expired() == 2
    assert await state.usage("ivan") == Usage(open_uploads=0, open_bytes=0, stored_bytes=0)
    await _init(manager, "ivan", KiB)


async def test_a_refused_init_stores_nothing(state_and_uploads: tuple[UploadState, Uploads], tmp_path: Path) -> None:
    state, manager = state_and_uploads
    with pytest.raises(QuotaExceeded) as refused:
        await _init(manager, "judy", 9 * GiB)  # over max_open_bytes (8 GiB)
    assert refused.value.reason == "OPEN_UPLOAD_BYTES_QUOTA_EXCEEDED"
    assert await state.usage("judy") == Usage(open_uploads=0, open_bytes=0, stored_bytes=0)
    assert not (tmp_path / "blobs" / "uploads").exists()
