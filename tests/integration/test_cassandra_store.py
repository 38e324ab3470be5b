"""The Cassandra metadata store against a real node: migrations, an outage at start-up, a restart mid-traffic."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import pytest
from cassandra import WriteTimeout, WriteType
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vidmesh.catalog.v1 import catalog_internal_service_pb2 as internal_pb2
from vidmesh.catalog.v1 import catalog_internal_service_pb2_grpc as internal_grpc
from vidmesh.catalog.v1 import catalog_service_pb2 as catalog_pb2
from vidmesh.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from tests.conftest import bearer
from tests.support.cassandra import CassandraNode
from vidmesh_services.catalog.server import create_catalog_server
from vidmesh_services.runtime.config import CassandraSettings, Config
from vidmesh_services.storage.blob_fs import FilesystemBlobStore
from vidmesh_services.storage.cassandra.api_keys import CassandraApiKeyStore
from vidmesh_services.storage.cassandra.schema import LOCK_TTL_SECONDS, MigrationError, connect, load_migrations, migrate
from vidmesh_services.storage.cassandra.videos import CassandraVideoStore

RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def run_migrations(settings: CassandraSettings, **kwargs: object) -> list[int]:
    """What one starting replica does: connect, migrate, disconnect."""
    cluster, session = connect(settings)
    try:
        return migrate(session, settings, **kwargs)  # type: ignore[arg-type]
    finally:
        cluster.shutdown()


async def test_replicas_starting_together_apply_each_migration_once(cassandra_node: CassandraNode) -> None:
    settings = cassandra_node.settings()
    results = await asyncio.gather(*(asyncio.to_thread(run_migrations, settings) for _ in range(4)))
    versions = [m.version for m in load_migrations()]
    assert sorted(v for applied in results for v in applied) == versions  # each once, by someone
    recorded = cassandra_node.cql(f"SELECT version FROM {settings.keyspace}.schema_migrations")
    assert sorted(r.version for r in recorded) == versions
    assert cassandra_node.cql(f"SELECT * FROM {settings.keyspace}.schema_lock") == []  # released
    assert run_migrations(settings) == []  # a later start finds nothing to do
    edited = [dataclasses.replace(m, checksum="edited") if m.version == 1 else m for m in load_migrations()]
    with pytest.raises(MigrationError, match="changed after it was applied"):
        run_migrations(settings, migrations=edited)


class TimesOutOnce:
    """A real session whose first statement containing `marker` runs, then reports a timeout:
    what a client sees when a coordinator gives up on a lightweight transaction that still lands."""

    def __init__(self, session: Any, marker: str):
        self._session, self._marker, self.tripped = session, marker, False

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        result = self._session.execute(statement, *args, **kwargs)
        if not self.tripped and self._marker in str(getattr(statement, "query_string", statement)):
            self.tripped = True
            raise WriteTimeout("CAS operation timed out (injected after it was applied)", write_type=WriteType.CAS)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def test_a_lock_taken_by_a_timed_out_attempt_is_still_ours_and_migration_goes_on(cassandra_node: CassandraNode) -> None:
    settings = cassandra_node.settings()
    cluster, session = connect(settings)
    try:
        flaky = TimesOutOnce(session, "INSERT INTO schema_lock")
        started = time.monotonic()
        applied = migrate(flaky, settings, sleep=lambda _: None)  # type: ignore[arg-type]
        assert flaky.tripped and applied == [m.version for m in load_migrations()]
        assert time.monotonic() - started < LOCK_TTL_SECONDS, "it did not wait for its own lock to expire"
    finally:
        cluster.shutdown()
    assert cassandra_node.cql(f"SELECT * FROM {settings.keyspace}.schema_lock") == []


async def test_keyspace_replication_comes_from_config(cassandra_node: CassandraNode) -> None:
    settings = cassandra_node.settings(replication_strategy="NetworkTopologyStrategy", datacenters={"datacenter1": 1})
    await asyncio.to_thread(run_migrations, settings)
    (row,) = cassandra_node.cql(f"SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = '{settings.keyspace}'")
    assert row.replication == {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "datacenter1": "1"}


async def health_status(channel: grpc.aio.Channel) -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    return response.status


async def wait_serving(channel: grpc.aio.Channel) -> None:
    deadline = time.monotonic() + 60
    while await health_status(channel) != SERVING:
        assert time.monotonic() < deadline, "the catalog never reported SERVING after Cassandra came up"
        await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_catalog_waits_for_cassandra_then_rides_out_a_node_restart(cassandra_node: CassandraNode, tmp_path: Path) -> None:
    settings = cassandra_node.settings(connect_timeout_seconds=1.0, request_timeout_seconds=3.0)
    token = secrets.token_urlsafe(16)
    store = CassandraVideoStore(settings)
    keys = CassandraApiKeyStore(settings)
    await asyncio.to_thread(cassandra_node.stop)
    try:
        # Cassandra down at start-up: the server starts, reports NOT_SERVING, and calls say UNAVAILABLE.
        server = await create_catalog_server(
            Config(home=tmp_path, service_token=token), "127.0.0.1:0", store, keys, FilesystemBlobStore(tmp_path / "blobs")
        )
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        assert await health_status(channel) == NOT_SERVING
        catalog = catalog_grpc.CatalogServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await catalog.GetVideo(catalog_pb2.GetVideoRequest(name="videos/nothing"), timeout=10)
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE, failed.value
        assert await health_status(channel) == NOT_SERVING
    finally:
        await asyncio.to_thread(cassandra_node.start)
    try:
        await wait_serving(channel)  # ...and recovers on its own
        await mid_traffic_restart(cassandra_node, channel, token)
    finally:
        await channel.close()
        await server.stop(0)
        await keys.close()
        await store.close()


async def mid_traffic_restart(node: CassandraNode, channel: grpc.aio.Channel, token: str) -> None:
    """Creates videos one after another while the node is killed and restarted; each create is
    retried until it succeeds. Failures must be UNAVAILABLE or DEADLINE_EXCEEDED, and every video
    must end up listed exactly once."""
    internal = internal_grpc.CatalogInternalServiceStub(channel)
    failures: Counter[grpc.StatusCode] = Counter()
    created: list[str] = []
    total = 40

    async def create(i: int) -> None:
        video_id = f"r{i:03d}"
        request = internal_pb2.CreateVideoRequest(
            video_id=video_id, owner="restarter", video=resources_pb2.Video(title=f"v{i}", visibility=media_pb2.VISIBILITY_PUBLIC)
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                await internal.CreateVideo(request, metadata=bearer(token), timeout=10)
            except grpc.aio.AioRpcError as exc:
                failed = exc
            else:
                created.append(video_id)
                return
            assert failed.code() in RETRYABLE, failed
            failures[failed.code()] += 1
            assert time.monotonic() < deadline, f"create {video_id} kept failing: {failed}"
            await asyncio.sleep(0.2)

    async def writer() -> None:
        for i in range(total):
            await create(i)

    writing = asyncio.create_task(writer())
    while len(created) < 10:
        assert not writing.done()
        await asyncio.sleep(0.01)
    await asyncio.to_thread(node.kill)
    await asyncio.sleep(1.0)  # calls fail while the node is down
    await asyncio.to_thread(node.start)
    await asyncio.wait_for(writing, 180)
    assert failures, "no call saw the outage"

    catalog = catalog_grpc.CatalogServiceStub(channel)
    listed, page_token = [], ""
    while True:
        page = await catalog.ListVideos(catalog_pb2.ListVideosRequest(owner="restarter", page_size=7, page_token=page_token), timeout=10)
        listed += [v.id for v in page.videos]
        page_token = page.next_page_token
        if not page_token:
            break
    assert sorted(listed) == [f"r{i:03d}" for i in range(total)]  # nothing lost, nothing twice
