"""Concurrent writes to one video: an owner's edit racing the transcoder's result, on each real
store (SQLite, Cassandra, and the Redis cache over SQLite). Neither write may be lost, and a
caller who names an etag gets ABORTED when the video moved on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest
from google.protobuf import field_mask_pb2
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from tests.support.processes import valkey_server
from tests.support.stores import open_video_store
from vidmesh_services.catalog.store import VideoStore
from vidmesh_services.catalog.videos import Catalog
from vidmesh_services.runtime.auth import Identity
from vidmesh_services.runtime.errors import Aborted
from vidmesh_services.runtime.ids import new_id
from vidmesh_services.storage.blob_fs import FilesystemBlobStore

Video = resources_pb2.Video
ALICE = Identity("alice")
READY = resources_pb2.VIDEO_STATUS_READY
RENDITION = media_pb2.Rendition(name="720p", width=1280, height=720, bandwidth=3_000_000)


class PausingStore:
    """A real store whose next read of a video stops after reading until released: the window in
    which a read-modify-write holds a version that someone else is about to replace."""

    def __init__(self, inner: VideoStore):
        self.inner = inner
        self._pause: tuple[asyncio.Event, asyncio.Event] | None = None

    def pause_next_read(self) -> tuple[asyncio.Event, asyncio.Event]:
        self._pause = (asyncio.Event(), asyncio.Event())
        return self._pause

    async def get_video(self, video_id: str) -> Video | None:
        video = await self.inner.get_video(video_id)
        if self._pause is not None:
            paused, resume = self._pause
            self._pause = None
            paused.set()
            await resume.wait()
        return video

    async def get_videos(self, video_ids: Sequence[str]) -> dict[str, Video]:
        return await self.inner.get_videos(video_ids)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with valkey_server(tmp_path_factory.mktemp("valkey")) as url:
        yield url


@pytest.fixture(params=["sqlite", "cassandra", "cached"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VideoStore]:
    backend = await open_video_store(request.param, request, tmp_path)
    yield backend
    await backend.close()


async def new_video(catalog: Catalog) -> Video:
    fields = Video(title="before", visibility=media_pb2.VISIBILITY_PUBLIC)
    return await catalog.create(new_id(), "alice", fields, None)


def retitle(name: str, title: str, etag: str = "") -> tuple[Video, field_mask_pb2.FieldMask]:
    return Video(name=name, title=title, etag=etag), field_mask_pb2.FieldMask(paths=["title"])


async def test_an_edit_racing_the_transcoders_result_loses_neither(store: VideoStore, tmp_path: Path) -> None:
    pausing = PausingStore(store)
    catalog = Catalog(pausing, FilesystemBlobStore(tmp_path / "blobs"))  # type: ignore[arg-type]
    video = await new_video(catalog)
    paused, resume = pausing.pause_next_read()
    edit = asyncio.create_task(catalog.update(*retitle(video.name, "after"), ALICE))
    await paused.wait()  # the edit holds the PROCESSING version it read
    await catalog.set_processing_result(video.name, READY, "", [RENDITION], f"/hls/{video.id}/v1/master.m3u8")
    resume.set()
    edited = await edit
    final = await store.get_video(video.id)
    assert final is not None
    assert final.status == READY, "the owner's edit overwrote the transcoder's result"
    assert final.title == "after" and [r.name for r in final.renditions] == ["720p"]
    assert edited == final


async def test_a_processing_result_racing_an_edit_loses_neither(store: VideoStore, tmp_path: Path) -> None:
    pausing = PausingStore(store)
    catalog = Catalog(pausing, FilesystemBlobStore(tmp_path / "blobs"))  # type: ignore[arg-type]
    video = await new_video(catalog)
    paused, resume = pausing.pause_next_read()
    result = asyncio.create_task(catalog.set_processing_result(video.name, READY, "", [RENDITION], f"/hls/{video.id}/v1/master.m3u8"))
    await paused.wait()
    await catalog.update(*retitle(video.name, "after"), ALICE)
    resume.set()
    await result
    final = await store.get_video(video.id)
    assert final is not None and final.status == READY and final.title == "after"


async def test_a_stale_etag_is_aborted_and_changes_nothing(store: VideoStore, tmp_path: Path) -> None:
    catalog = Catalog(store, FilesystemBlobStore(tmp_path / "blobs"))
    video = await new_video(catalog)
    first = await catalog.update(*retitle(video.name, "first", etag=video.etag), ALICE)
    assert first.etag and first.etag != video.etag
    with pytest.raises(Aborted) as refused:
        await catalog.update(*retitle(video.name, "second", etag=video.etag), ALICE)  # read before "first"
    assert refused.value.reason == "ETAG_MISMATCH" and refused.value.metadata == {"video": video.name}
    with pytest.raises(Aborted):
        await catalog.delete(video.name, ALICE, etag=video.etag)
    current = await catalog.get(video.name, ALICE)
    assert current.title == "first" and current.etag == first.etag
    await catalog.delete(video.name, ALICE, etag=current.etag)
    assert await store.get_video(video.id) is None


async def test_a_delete_racing_a_processing_result_still_deletes(store: VideoStore, tmp_path: Path) -> None:
    pausing = PausingStore(store)
    catalog = Catalog(pausing, FilesystemBlobStore(tmp_path / "blobs"))  # type: ignore[arg-type]
    video = await new_video(catalog)
    paused, resume = pausing.pause_next_read()
    deleting = asyncio.create_task(catalog.delete(video.name, ALICE))
    await paused.wait()
    await catalog.set_processing_result(video.name, READY, "", [RENDITION], f"/hls/{video.id}/v1/master.m3u8")
    resume.set()
    await deleting
    assert await store.get_video(video.id) is None
