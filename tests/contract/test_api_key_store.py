"""The ApiKeyStore contract (runtime.auth), on SQLite and on Cassandra (a real node)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from vidmesh_services.runtime.auth import ApiKeyStore
from vidmesh_services.storage.cassandra.api_keys import CassandraApiKeyStore
from vidmesh_services.storage.cassandra.videos import CassandraVideoStore
from vidmesh_services.storage.sqlite import SqliteApiKeyStore


@pytest.fixture(params=["sqlite", "cassandra"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiKeyStore]:
    backend: ApiKeyStore
    if request.param == "sqlite":
        backend = SqliteApiKeyStore(tmp_path / "meta.sqlite3")
    else:
        node = request.getfixturevalue("cassandra_node")
        await asyncio.to_thread(node.empty_keyspace, "contract")
        backend = CassandraApiKeyStore(node.settings("contract"), migrate=True)
        await backend.wait_ready()
    yield backend
    await backend.close()


async def test_keys_resolve_to_their_owner(store: ApiKeyStore) -> None:
    await store.put_api_key("hash1", "alice")
    await store.put_api_key("hash2", "bob")
    assert await store.find_api_key_owner("hash1") == "alice"
    assert await store.find_api_key_owner("hash2") == "bob"
    assert await store.find_api_key_owner("hash3") is None


async def test_putting_a_key_again_is_harmless(store: ApiKeyStore) -> None:
    await store.put_api_key("hash1", "alice")
    await store.put_api_key("hash1", "alice")
    assert await store.find_api_key_owner("hash1") == "alice"


async def test_a_key_store_without_migrations_waits_for_the_catalogs_schema(cassandra_node: object, tmp_path: Path) -> None:
    """Processes other than the catalog never migrate: they report not ready until the schema exists."""
    settings = cassandra_node.settings()  # type: ignore[attr-defined]  # a fresh keyspace nobody created yet
    keys = CassandraApiKeyStore(settings)
    try:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(keys.wait_ready(), 3)
        videos = CassandraVideoStore(settings)  # the catalog's store applies the migrations
        try:
            await asyncio.wait_for(videos.wait_ready(), 90)
            await asyncio.wait_for(keys.wait_ready(), 30)
            await keys.put_api_key("hash1", "alice")
            assert await keys.find_api_key_owner("hash1") == "alice"
        finally:
            await videos.close()
    finally:
        await keys.close()
