"""The real VideoStore backends, opened for a test by name: sqlite, cassandra (the session's
node; one keyspace, emptied per test) and cached (the Redis cache over SQLite)."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
import redis.asyncio as redis

from vidmesh_services.catalog.cache import CachedVideoStore
from vidmesh_services.catalog.store import VideoStore
from vidmesh_services.runtime.config import CatalogCacheSettings
from vidmesh_services.storage.cassandra.videos import CassandraVideoStore
from vidmesh_services.storage.sqlite import SqliteVideoStore


async def open_video_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> VideoStore:
    """A ready store of `kind`; "cached" needs a `valkey_url` fixture in scope."""
    if kind == "sqlite":
        return SqliteVideoStore(tmp_path / "meta.sqlite3")
    if kind == "cached":
        client = redis.Redis.from_url(request.getfixturevalue("valkey_url"))
        settings = CatalogCacheSettings(key_prefix=f"test:{secrets.token_hex(4)}:")
        return CachedVideoStore(SqliteVideoStore(tmp_path / "meta.sqlite3"), client, settings, owns_client=True)
    # One keyspace for every test (migrated once), emptied before each: faster than a keyspace
    # per test, which costs a few seconds of schema changes each.
    node = request.getfixturevalue("cassandra_node")
    await asyncio.to_thread(node.empty_keyspace, "contract")
    store = CassandraVideoStore(node.settings("contract"))
    await store.wait_ready()
    return store
