"""SQLite stores (WAL mode): the embedded default, safe for several processes at once.

Each video is stored as its serialized proto plus the few columns queries need, the same shape
the Cassandra backend uses (a row per video, a listing ordered by creation time). `rev` is the
video's revision: a microsecond clock reading, strictly increasing per video, whose hex form is
the etag; conditional writes compare it in the UPDATE or DELETE itself. Each write adds its row
to video_changes (the change feed) in the same transaction, so the feed has every change that
was committed and nothing else; its sequence numbers are the feed's cursors, and commits come
in their order (SQLite has one writer at a time).

Each store opens its own connection, so a process that only checks API keys never touches the
videos table.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from ..catalog.store import CHANGE_RETENTION_SECONDS, ChangeCursorExpired, ChangePage, StaleEtag, VideoChange, VideoPage

T = TypeVar("T")
PUBLIC = media_pb2.VISIBILITY_PUBLIC
Video = resources_pb2.Video

_VIDEOS_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    is_public INTEGER NOT NULL,
    create_us INTEGER NOT NULL,
    data BLOB NOT NULL,
    rev INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS videos_by_owner ON videos (owner, create_us DESC, id DESC);
CREATE INDEX IF NOT EXISTS public_videos ON videos (is_public, create_us DESC, id DESC);
CREATE TABLE IF NOT EXISTS video_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    rev INTEGER NOT NULL,
    at_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS video_changes_pruned (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    seq INTEGER NOT NULL
);
"""
PRUNE_INTERVAL_SECONDS = 60.0
_API_KEYS_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    create_us INTEGER NOT NULL
);
"""


def encode_cursor(create_us: int, video_id: str) -> str:
    return base64.urlsafe_b64encode(f"{create_us}:{video_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Raises ValueError for a cursor this store did not make."""
    raw = base64.urlsafe_b64decode(cursor.encode()).decode()
    create_us, _, video_id = raw.partition(":")
    if not video_id:
        raise ValueError("bad cursor")
    return int(create_us), video_id


def encode_id_cursor(video_id: str) -> str:
    return base64.urlsafe_b64encode(video_id.encode()).decode()


def decode_id_cursor(cursor: str) -> str:
    """Raises ValueError for a cursor this store did not make."""
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("bad cursor") from exc


def _change_seq(cursor: str) -> int:
    kind, _, seq = cursor.partition(":")
    if kind != "s" or not seq.isdigit():
        raise ValueError("bad change cursor")
    return int(seq)


def _atomically(db: sqlite3.Connection, write: Callable[[sqlite3.Connection], T]) -> T:
    db.execute("BEGIN IMMEDIATE")
    try:
        result = write(db)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return result


def create_us(video: Video) -> int:
    return video.create_time.seconds * 1_000_000 + video.create_time.nanos // 1000


def etag_of(rev: int) -> str:
    return format(rev, "x")


def rev_of(etag: str) -> int:
    """The revision an etag names; -1 (matching none) for a string that is not one of ours."""
    try:
        return int(etag, 16)
    except ValueError:
        return -1


def stored_bytes(video: Video) -> bytes:
    """The video as stored: without its etag, which is derived from the row's revision."""
    if not video.etag:
        return video.SerializeToString()
    copy = Video()
    copy.CopyFrom(video)
    copy.ClearField("etag")
    return copy.SerializeToString()


def loaded(data: bytes, rev: int) -> Video:
    video = Video.FromString(data)
    video.etag = etag_of(rev)
    return video


def next_rev(previous: int = 0) -> int:
    """A revision above previous: the clock in microseconds, or previous + 1 if the clock is behind."""
    return max(time.time_ns() // 1000, previous + 1)


class _Connection:
    """One connection, used from one thread: SQLite calls are short, and WAL lets the other
    processes read while this one writes."""

    def __init__(self, path: Path, schema: str, upgrade: Callable[[sqlite3.Connection], None] | None = None):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db = self._executor.submit(self._open, path, schema, upgrade).result()

    @staticmethod
    def _open(path: Path, schema: str, upgrade: Callable[[sqlite3.Connection], None] | None) -> sqlite3.Connection:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        if upgrade is not None:
            upgrade(db)
        db.executescript(schema)
        return db

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._db)

    async def close(self) -> None:
        await self.run(lambda db: db.close())
        self._executor.shutdown(wait=True)


def _add_rev_column(db: sqlite3.Connection) -> None:
    """Databases made before etags existed have no rev column; give every video revision 1."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(videos)")}
    if columns and "rev" not in columns:
        db.execute("ALTER TABLE videos ADD COLUMN rev INTEGER NOT NULL DEFAULT 1")


class SqliteVideoStore:
    """The catalog's VideoStore on SQLite."""

    def __init__(self, path: Path):
        self._conn = _Connection(path, _VIDEOS_SCHEMA, _add_rev_column)
        self._pruned_at = 0.0

    def _record(self, db: sqlite3.Connection, video_id: str, rev: int) -> None:
        """Adds a change to the feed (inside the write's transaction); now and then drops the
        changes older than the retention, remembering the last sequence number dropped."""
        now_us = time.time_ns() // 1000
        db.execute("INSERT INTO video_changes (id, rev, at_us) VALUES (?, ?, ?)", (video_id, rev, now_us))
        if time.monotonic() - self._pruned_at < PRUNE_INTERVAL_SECONDS:
            return
        self._pruned_at = time.monotonic()
        (last,) = db.execute(
            "SELECT max(seq) FROM video_changes WHERE at_us < ?", (now_us - CHANGE_RETENTION_SECONDS * 1_000_000,)
        ).fetchone()
        if last is not None:
            db.execute("DELETE FROM video_changes WHERE seq <= ?", (last,))
            db.execute("INSERT OR REPLACE INTO video_changes_pruned (one, seq) VALUES (1, ?)", (last,))

    async def insert_video(self, video: Video) -> str | None:
        rev = next_rev()
        row = (video.id, video.owner, int(video.visibility == PUBLIC), create_us(video), stored_bytes(video), rev)
        sql = "INSERT OR IGNORE INTO videos (id, owner, is_public, create_us, data, rev) VALUES (?, ?, ?, ?, ?, ?)"

        def insert(db: sqlite3.Connection) -> bool:
            if db.execute(sql, row).rowcount != 1:
                return False
            self._record(db, video.id, rev)
            return True

        inserted = await self._conn.run(lambda db: _atomically(db, insert))
        return etag_of(rev) if inserted else None

    async def get_video(self, video_id: str) -> Video | None:
        row = await self._conn.run(lambda db: db.execute("SELECT data, rev FROM videos WHERE id = ?", (video_id,)).fetchone())
        return loaded(*row) if row else None

    async def get_videos(self, video_ids: Sequence[str]) -> dict[str, Video]:
        ids = list(dict.fromkeys(video_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = await self._conn.run(lambda db: db.execute(f"SELECT data, rev FROM videos WHERE id IN ({marks})", ids).fetchall())
        videos = (loaded(*r) for r in rows)
        return {v.id: v for v in videos}

    async def replace_video(self, video: Video, *, etag: str) -> str:
        expected = rev_of(etag)
        data = stored_bytes(video)

        def replace(db: sqlite3.Connection) -> str:
            rev = next_rev(expected)
            args = (int(video.visibility == PUBLIC), data, rev, video.id, expected)
            if db.execute("UPDATE videos SET is_public = ?, data = ?, rev = ? WHERE id = ? AND rev = ?", args).rowcount:
                self._record(db, video.id, rev)
                return etag_of(rev)
            raise StaleEtag(video.id)

        return await self._conn.run(lambda db: _atomically(db, replace))

    async def delete_video(self, video_id: str, *, etag: str = "") -> bool:
        def delete(db: sqlite3.Connection) -> bool:
            row = db.execute("SELECT rev FROM videos WHERE id = ?", (video_id,)).fetchone()
            if row is None:
                return False
            if etag and row[0] != rev_of(etag):
                raise StaleEtag(video_id)
            db.execute("DELETE FROM videos WHERE id = ?", (video_id,))
            self._record(db, video_id, next_rev(row[0]))
            return True

        return await self._conn.run(lambda db: _atomically(db, delete))

    async def list_videos(self, *, owner: str | None, include_non_public: bool, limit: int, cursor: str) -> VideoPage:
        where: list[str] = []
        args: list[Any] = []
        if owner is not None:
            where.append("owner = ?")
            args.append(owner)
        if not include_non_public:
            where.append("is_public = 1")
        if cursor:
            after_us, last_id = decode_cursor(cursor)
            where.append("(create_us < ? OR (create_us = ? AND id < ?))")
            args += [after_us, after_us, last_id]
        sql = "SELECT data, rev FROM videos"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY create_us DESC, id DESC LIMIT ?"
        args.append(limit + 1)
        rows = await self._conn.run(lambda db: db.execute(sql, args).fetchall())
        videos = [loaded(*r) for r in rows[:limit]]
        more = len(rows) > limit
        next_cursor = encode_cursor(create_us(videos[-1]), videos[-1].id) if more else ""
        return VideoPage(videos=videos, next_cursor=next_cursor)

    async def scan_videos(self, *, limit: int, cursor: str) -> VideoPage:
        after = decode_id_cursor(cursor) if cursor else ""
        sql = "SELECT data, rev FROM videos WHERE id > ? ORDER BY id LIMIT ?"
        rows = await self._conn.run(lambda db: db.execute(sql, (after, limit + 1)).fetchall())
        videos = [loaded(*r) for r in rows[:limit]]
        return VideoPage(videos=videos, next_cursor=encode_id_cursor(videos[-1].id) if len(rows) > limit else "")

    async def change_cursor(self) -> str:
        sql = "SELECT seq FROM sqlite_sequence WHERE name = 'video_changes'"
        row = await self._conn.run(lambda db: db.execute(sql).fetchone())
        return f"s:{row[0] if row else 0}"

    async def changes_after(self, cursor: str, *, limit: int) -> ChangePage:
        after = _change_seq(cursor)

        def read(db: sqlite3.Connection) -> list[tuple[int, str, int]]:
            pruned = db.execute("SELECT seq FROM video_changes_pruned").fetchone()
            if pruned and after < pruned[0]:
                raise ChangeCursorExpired(cursor)
            sql = "SELECT seq, id, rev FROM video_changes WHERE seq > ? ORDER BY seq LIMIT ?"
            return db.execute(sql, (after, limit)).fetchall()

        rows = await self._conn.run(read)
        changes = [VideoChange(video_id, rev) for _, video_id, rev in rows]
        return ChangePage(changes, f"s:{rows[-1][0]}" if rows else cursor)

    async def wait_ready(self) -> None:
        return  # the file is open from the constructor on

    async def close(self) -> None:
        await self._conn.close()


class SqliteApiKeyStore:
    """runtime.auth's ApiKeyStore on SQLite (the same database file as the videos)."""

    def __init__(self, path: Path):
        self._conn = _Connection(path, _API_KEYS_SCHEMA)

    async def put_api_key(self, key_hash: str, owner: str) -> None:
        row = (key_hash, owner, time.time_ns() // 1000)
        sql = "INSERT OR REPLACE INTO api_keys (key_hash, owner, create_us) VALUES (?, ?, ?)"
        await self._conn.run(lambda db: db.execute(sql, row))

    async def find_api_key_owner(self, key_hash: str) -> str | None:
        sql = "SELECT owner FROM api_keys WHERE key_hash = ?"
        row = await self._conn.run(lambda db: db.execute(sql, (key_hash,)).fetchone())
        return str(row[0]) if row else None

    async def wait_ready(self) -> None:
        return

    async def close(self) -> None:
        await self._conn.close()
