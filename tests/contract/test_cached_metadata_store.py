"""The MetadataStore contract again, for the catalog cache over SQLite with a real Valkey: the
decorator must behave as a store itself (reads through it see every write made through it)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest
import redis.asyncio as redis

from tests.contract.test_metadata_store import *  # noqa: F401,F403 (the suite's tests, run with this module's `store`)
from tests.support.processes import valkey_server
from vidmesh_services.catalog.cache import CachedMetadataStore
from vidmesh_services.runtime.config import CatalogCacheSettings
from vidmesh_services.runtime.ports import MetadataStore
from vidmesh_services.runtime.sqlite_store import SqliteMetadataStore


@pytest.fixture(scope="module")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with valkey_server(tmp_path_factory.mktemp("valkey")) as url:
        yield url


@pytest.fixture
async def store(valkey_url: str, tmp_path: Path) -> AsyncIterator[MetadataStore]:
    client = redis.Redis.from_url(valkey_url)
    cached = CachedMetadataStore(
        SqliteMetadataStore(tmp_path / "meta.sqlite3"), client, CatalogCacheSettings(key_prefix=f"c:{secrets.token_hex(4)}:"),
        owns_client=True,
    )
    yield cached
    await cached.close()
