"""runtime.auth's ApiKeyStore on Cassandra: one table, keyed by the key's sha256."""

from __future__ import annotations

import time

from ...runtime.config import CassandraSettings
from .session import Statement, release_connection, shared_connection

PUT = Statement("INSERT INTO {ks}.api_keys_by_hash (key_hash, owner, create_us) VALUES (?, ?, ?)", idempotent=True)
GET = Statement("SELECT owner FROM {ks}.api_keys_by_hash WHERE key_hash = ?")


class CassandraApiKeyStore:
    def __init__(self, settings: CassandraSettings, *, migrate: bool = False):
        # Only the catalog migrates; other processes wait until the schema is in place.
        self._db = shared_connection(settings, migrate=migrate)

    async def put_api_key(self, key_hash: str, owner: str) -> None:
        await self._db.query(PUT, key_hash, owner, time.time_ns() // 1000)

    async def find_api_key_owner(self, key_hash: str) -> str | None:
        rows, _ = await self._db.query(GET, key_hash)
        return str(rows[0].owner) if rows else None

    async def wait_ready(self) -> None:
        await self._db.wait_ready()

    async def close(self) -> None:
        await release_connection(self._db)
