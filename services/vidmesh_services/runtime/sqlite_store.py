"""SQLite MetadataStore (WAL mode): the embedded default, safe for several processes at once.

Each video is stored as its serialized proto plus the few columns queries need, the same
shape the Cassandra backend uses (a row per video, a listing ordered by creation time).
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from .ports import VideoPage

T = TypeVar("T")
PUBLIC = media_pb2.VISIBILITY_PUBLIC

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    is_public INTEGER NOT NULL,
    create_us INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS videos_by_owner ON videos (owner, create_us DESC, id DESC);
CREATE INDEX IF NOT EXISTS public_videos ON videos (is_public, create_us DESC, id DESC);
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


def _create_us(video: resources_pb2.Video) -> int:
    return video.create_time.seconds * 1_000_000 + video.create_time.nanos // 1000


class SqliteMetadataStore:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection, used from one thread: SQLite calls are short, and WAL lets the
        # other processes read while this one writes.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db = self._executor.submit(self._open, path).result()

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        return db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._db)

    async def insert_video(self, video: resources_pb2.Video) -> bool:
        row = (video.id, video.owner, int(video.visibility == PUBLIC), _create_us(video), video.SerializeToString())
        return await self._run(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO videos (id, owner, is_public, create_us, data) VALUES (?, ?, ?, ?, ?)", row
            ).rowcount
            == 1
        )

    async def get_video(self, video_id: str) -> resources_pb2.Video | None:
        row = await self._run(lambda db: db.execute("SELECT data FROM videos WHERE id = ?", (video_id,)).fetchone())
        return resources_pb2.Video.FromString(row[0]) if row else None

    async def get_videos(self, video_ids: Sequence[str]) -> dict[str, resources_pb2.Video]:
        ids = list(dict.fromkeys(video_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = await self._run(lambda db: db.execute(f"SELECT data FROM videos WHERE id IN ({marks})", ids).fetchall())
        videos = (resources_pb2.Video.FromString(r[0]) for r in rows)
        return {v.id: v for v in videos}

    async def replace_video(self, video: resources_pb2.Video) -> None:
        args = (int(video.visibility == PUBLIC), video.SerializeToString(), video.id)
        await self._run(lambda db: db.execute("UPDATE videos SET is_public = ?, data = ? WHERE id = ?", args))

    async def delete_video(self, video_id: str) -> bool:
        return await self._run(lambda db: db.execute("DELETE FROM videos WHERE id = ?", (video_id,)).rowcount == 1)

    async def list_videos(self, *, owner: str | None, include_non_public: bool, limit: int, cursor: str) -> VideoPage:
        where: list[str] = []
        args: list[Any] = []
        if owner is not None:
            where.append("owner = ?")
            args.append(owner)
        if not include_non_public:
            where.append("is_public = 1")
        if cursor:
            create_us, last_id = decode_cursor(cursor)
            where.append("(create_us < ? OR (create_us = ? AND id < ?))")
            args += [create_us, create_us, last_id]
        sql = "SELECT data FROM videos"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY create_us DESC, id DESC LIMIT ?"
        args.append(limit + 1)
        rows = await self._run(lambda db: db.execute(sql, args).fetchall())
        videos = [resources_pb2.Video.FromString(r[0]) for r in rows[:limit]]
        more = len(rows) > limit
        next_cursor = encode_cursor(_create_us(videos[-1]), videos[-1].id) if more else ""
        return VideoPage(videos=videos, next_cursor=next_cursor)

    async def put_api_key(self, key_hash: str, owner: str) -> None:
        row = (key_hash, owner, int(time.time() * 1_000_000))
        await self._run(lambda db: db.execute("INSERT OR REPLACE INTO api_keys (key_hash, owner, create_us) VALUES (?, ?, ?)", row))

    async def find_api_key_owner(self, key_hash: str) -> str | None:
        row = await self._run(
            lambda db: db.execute("SELECT owner FROM api_keys WHERE key_hash = ?", (key_hash,)).fetchone()
        )
        return row[0] if row else None

    async def wait_ready(self) -> None:
        return  # the file is open from the constructor on

    async def close(self) -> None:
        await self._run(lambda db: db.close())
        self._executor.shutdown(wait=True)
