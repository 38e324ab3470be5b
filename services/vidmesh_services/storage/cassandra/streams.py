"""Live's StreamStore on Cassandra.

streams_by_id holds each stream; streams_by_key and streams_by_owner only point at it, and
whatever is found through them is checked against it (the key hash it names, the row existing),
so a pointer that outlived its stream or key is harmless. So:
- insert: a lightweight transaction on streams_by_id (ids are unique), then the two pointers.
  A retried insert that finds its row writes them again, which repairs an insert that died
  between the two steps.
- replace: compare-and-set on the rev the etag names; then, if the key changed, the new
  key's pointer (the old one stops matching at once, and is removed afterwards).
- delete: compare-and-set delete of the row, then its pointers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from vidmesh.live.v1 import resources_pb2

from ...live.store import StaleStream, StoredStream
from ...runtime.config import CassandraSettings
from ..sqlite import etag_of, rev_of
from ..sqlite_streams import create_us, stored_bytes
from .session import Statement, release_connection, shared_connection

LiveStream = resources_pb2.LiveStream

GET = Statement("SELECT data, key_hash, rev FROM {ks}.streams_by_id WHERE id = ?")
GET_SERIAL = Statement("SELECT data, key_hash, rev FROM {ks}.streams_by_id WHERE id = ?", serial=True)
INSERT = Statement("INSERT INTO {ks}.streams_by_id (id, owner, create_us, key_hash, rev, data) VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS")
UPDATE = Statement("UPDATE {ks}.streams_by_id SET key_hash = ?, rev = ?, data = ? WHERE id = ? IF rev = ?")
DELETE = Statement("DELETE FROM {ks}.streams_by_id WHERE id = ? IF rev = ?")
KEY_PUT = Statement("INSERT INTO {ks}.streams_by_key (key_hash, id) VALUES (?, ?)", idempotent=True)
KEY_GET = Statement("SELECT id FROM {ks}.streams_by_key WHERE key_hash = ?")
KEY_DEL = Statement("DELETE FROM {ks}.streams_by_key WHERE key_hash = ?", idempotent=True)
OWNER_PUT = Statement("INSERT INTO {ks}.streams_by_owner (owner, create_us, id) VALUES (?, ?, ?)", idempotent=True)
OWNER_LIST = Statement("SELECT id FROM {ks}.streams_by_owner WHERE owner = ?")
OWNER_DEL = Statement("DELETE FROM {ks}.streams_by_owner WHERE owner = ? AND create_us = ? AND id = ?", idempotent=True)


def _loaded(row: Any) -> StoredStream:
    return StoredStream(LiveStream.FromString(row.data), row.key_hash, etag_of(row.rev))


class CassandraStreamStore:
    def __init__(self, settings: CassandraSettings, *, migrate: bool = False):
        # The catalog owns the schema; other processes wait until its migrations are in place.
        self._db = shared_connection(settings, migrate=migrate)

    async def insert_stream(self, stream: LiveStream, key_hash: str) -> str | None:
        rev, created = time.time_ns() // 1000, create_us(stream)
        rows, applied = await self._db.query(INSERT, stream.id, stream.owner, created, key_hash, rev, stored_bytes(stream))
        found = rows[0] if rows and not applied else None
        if found is not None and found.owner != stream.owner:
            return None
        # The pointers of the row now stored (this insert's, or the one an earlier try left).
        await self._db.query(KEY_PUT, found.key_hash if found else key_hash, stream.id)
        await self._db.query(OWNER_PUT, stream.owner, found.create_us if found else created, stream.id)
        return etag_of(rev) if applied else None

    async def get_stream(self, stream_id: str) -> StoredStream | None:
        rows, _ = await self._db.query(GET, stream_id)
        return _loaded(rows[0]) if rows else None

    async def get_streams(self, stream_ids: Sequence[str]) -> dict[str, StoredStream]:
        found = await asyncio.gather(*(self.get_stream(i) for i in dict.fromkeys(stream_ids)))
        return {s.stream.id: s for s in found if s is not None}

    async def stream_for_key(self, key_hash: str) -> StoredStream | None:
        rows, _ = await self._db.query(KEY_GET, key_hash)
        if not rows:
            return None
        stored = await self.get_stream(rows[0].id)
        return stored if stored is not None and stored.key_hash == key_hash else None

    async def replace_stream(self, stored: StoredStream) -> str:
        stream, expected = stored.stream, rev_of(stored.etag)
        before = await self._read_serial(stream.id)
        if before is None or before.etag != stored.etag:
            raise StaleStream(stream.id)
        if before.key_hash != stored.key_hash:
            await self._db.query(KEY_PUT, stored.key_hash, stream.id)  # before the row names it
        rev = max(time.time_ns() // 1000, expected + 1)
        _, applied = await self._db.query(UPDATE, stored.key_hash, rev, stored_bytes(stream), stream.id, expected)
        if not applied:
            raise StaleStream(stream.id)
        if before.key_hash != stored.key_hash:
            await self._db.query(KEY_DEL, before.key_hash)
        return etag_of(rev)

    async def _read_serial(self, stream_id: str) -> StoredStream | None:
        rows, _ = await self._db.query(GET_SERIAL, stream_id)
        return _loaded(rows[0]) if rows else None

    async def delete_stream(self, stored: StoredStream) -> None:
        stream = stored.stream
        _, applied = await self._db.query(DELETE, stream.id, rev_of(stored.etag))
        if not applied:
            raise StaleStream(stream.id)
        await self._db.query(KEY_DEL, stored.key_hash)
        await self._db.query(OWNER_DEL, stream.owner, create_us(stream), stream.id)

    async def owner_streams(self, owner: str) -> list[StoredStream]:
        rows, _ = await self._db.query(OWNER_LIST, owner)
        found = await self.get_streams([r.id for r in rows])
        # Newest first, as the clustering order gives them; a pointer whose row is gone is skipped.
        return [found[r.id] for r in rows if r.id in found and found[r.id].stream.owner == owner]

    async def wait_ready(self) -> None:
        await self._db.wait_ready()

    async def close(self) -> None:
        await release_connection(self._db)
