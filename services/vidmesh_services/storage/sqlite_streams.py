"""Live's StreamStore on SQLite: one row per stream (its proto, its key hash, its revision), in
the same database file as the videos. The revision is a microsecond clock reading, strictly
increasing per stream; its hex form is the etag, compared in the UPDATE or DELETE itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from vidmesh.live.v1 import resources_pb2

from ..live.store import StaleStream, StoredStream
from .sqlite import _atomically, _Connection, etag_of, next_rev, rev_of

LiveStream = resources_pb2.LiveStream

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    create_us INTEGER NOT NULL,
    key_hash TEXT NOT NULL,
    data BLOB NOT NULL,
    rev INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS streams_by_owner ON streams (owner, create_us DESC, id DESC);
CREATE UNIQUE INDEX IF NOT EXISTS streams_by_key ON streams (key_hash);
"""
_COLUMNS = "data, key_hash, rev"


def create_us(stream: LiveStream) -> int:
    return stream.create_time.seconds * 1_000_000 + stream.create_time.nanos // 1000


def stored_bytes(stream: LiveStream) -> bytes:
    """The stream as stored: never its key, nor the figures that live in Valkey."""
    copy = LiveStream()
    copy.CopyFrom(stream)
    for name in ("stream_key", "health", "viewer_count", "renditions", "ingest"):
        copy.ClearField(name)
    return copy.SerializeToString()


def _loaded(row: tuple[bytes, str, int]) -> StoredStream:
    data, key_hash, rev = row
    return StoredStream(LiveStream.FromString(data), key_hash, etag_of(rev))


class SqliteStreamStore:
    def __init__(self, path: Path):
        self._conn = _Connection(path, _SCHEMA)

    async def insert_stream(self, stream: LiveStream, key_hash: str) -> str | None:
        rev = next_rev()
        row = (stream.id, stream.owner, create_us(stream), key_hash, stored_bytes(stream), rev)
        sql = "INSERT OR IGNORE INTO streams (id, owner, create_us, key_hash, data, rev) VALUES (?, ?, ?, ?, ?, ?)"
        inserted = await self._conn.run(lambda db: db.execute(sql, row).rowcount == 1)
        return etag_of(rev) if inserted else None

    async def get_stream(self, stream_id: str) -> StoredStream | None:
        sql = f"SELECT {_COLUMNS} FROM streams WHERE id = ?"
        row = await self._conn.run(lambda db: db.execute(sql, (stream_id,)).fetchone())
        return _loaded(row) if row else None

    async def get_streams(self, stream_ids: Sequence[str]) -> dict[str, StoredStream]:
        ids = list(dict.fromkeys(stream_ids))
        if not ids:
            return {}
        sql = f"SELECT {_COLUMNS} FROM streams WHERE id IN ({','.join('?' * len(ids))})"
        rows = await self._conn.run(lambda db: db.execute(sql, ids).fetchall())
        found = (_loaded(r) for r in rows)
        return {s.stream.id: s for s in found}

    async def stream_for_key(self, key_hash: str) -> StoredStream | None:
        sql = f"SELECT {_COLUMNS} FROM streams WHERE key_hash = ?"
        row = await self._conn.run(lambda db: db.execute(sql, (key_hash,)).fetchone())
        return _loaded(row) if row else None

    async def replace_stream(self, stored: StoredStream) -> str:
        expected = rev_of(stored.etag)
        data, stream_id = stored_bytes(stored.stream), stored.stream.id

        def replace(db: sqlite3.Connection) -> str:
            rev = next_rev(expected)
            sql = "UPDATE streams SET data = ?, key_hash = ?, rev = ? WHERE id = ? AND rev = ?"
            if db.execute(sql, (data, stored.key_hash, rev, stream_id, expected)).rowcount:
                return etag_of(rev)
            raise StaleStream(stream_id)

        return await self._conn.run(lambda db: _atomically(db, replace))

    async def delete_stream(self, stored: StoredStream) -> None:
        def delete(db: sqlite3.Connection) -> None:
            sql = "DELETE FROM streams WHERE id = ? AND rev = ?"
            if not db.execute(sql, (stored.stream.id, rev_of(stored.etag))).rowcount:
                raise StaleStream(stored.stream.id)

        await self._conn.run(delete)

    async def owner_streams(self, owner: str) -> list[StoredStream]:
        sql = f"SELECT {_COLUMNS} FROM streams WHERE owner = ? ORDER BY create_us DESC, id DESC"
        rows = await self._conn.run(lambda db: db.execute(sql, (owner,)).fetchall())
        return [_loaded(r) for r in rows]

    async def wait_ready(self) -> None:
        return  # the file is open from the constructor on

    async def close(self) -> None:
        await self._conn.close()
