"""The catalog's VideoStore on Cassandra: the cluster profile's backend.

Tables are shaped by the queries (migrations/): videos_by_id is the truth; the listing tables
(videos_by_owner, public_videos_by_owner, public_videos_by_day) hold copies of each video,
written in one logged batch at the version's write timestamp `rev`, which is also its etag
(hex). So:
- insert: a lightweight transaction on videos_by_id (ids are unique), then the listing batch.
  A retried insert that finds its row re-writes that row's listing batch (same values, same
  timestamp), which repairs an insert that died between the two steps.
- replace: compare-and-set on the rev the caller's etag names, then the listing batch at the
  new rev. A stale or late listing write loses to a newer one whatever order they land in.
- delete: listing tombstones at rev + 1, then a compare-and-set delete of the row.
Revisions grow by at least 2 per write, so a delete's tombstones (rev + 1) never hide a newer
version.

The change feed (video_changes) gets its row in the listing batch, or right after a delete's
compare-and-set, keyed by the time it is written. A row can land up to a request timeout after
that time, so changes_after reads back FEED_LOOKBACK behind its cursor too, and may return a
change twice (the port allows it; followers keep what they have seen). Two gaps, both closed by
the write's retry (which repairs listings and feed alike): a catalog process killed between a
row's compare-and-set and its listing batch, or between a delete and its feed row. Listings read each row's etag back as WRITETIME(data). Nothing else uses a lightweight
transaction. Reads and writes run at the configured consistency (LOCAL_QUORUM by default).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from cassandra.query import BatchStatement, BatchType
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from ...catalog.store import CHANGE_RETENTION_SECONDS, ChangeCursorExpired, ChangePage, StaleEtag, VideoChange, VideoPage
from ...runtime.config import CassandraSettings
from ...runtime.errors import Unavailable
from ..sqlite import create_us, decode_cursor, decode_id_cursor, encode_cursor, encode_id_cursor, etag_of, loaded, rev_of, stored_bytes
from .session import Statement, release_connection, shared_connection

PUBLIC = media_pb2.VISIBILITY_PUBLIC
DAY_US = 86_400 * 1_000_000
FEED_BUCKET_US = 60 * 1_000_000
FEED_PAGE_MAX = 5000  # rows of one feed partition read at once (the driver's page)
FEED = "public"
# Compare-and-set rounds before a delete under heavy contention on one video gives up.
MAX_CAS_ROUNDS = 8
Video = resources_pb2.Video

GET = Statement("SELECT data, rev FROM {ks}.videos_by_id WHERE id = ?")
GET_ROW = Statement("SELECT owner, create_us, is_public, rev, data FROM {ks}.videos_by_id WHERE id = ?", serial=True)
INSERT = Statement("INSERT INTO {ks}.videos_by_id (id, owner, create_us, is_public, rev, data) VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS")
UPDATE = Statement("UPDATE {ks}.videos_by_id SET is_public = ?, rev = ?, data = ? WHERE id = ? IF rev = ?")
DELETE = Statement("DELETE FROM {ks}.videos_by_id WHERE id = ? IF rev = ?")
OWNER_PUT = Statement(
    "INSERT INTO {ks}.videos_by_owner (owner, create_us, id, data) VALUES (?, ?, ?, ?) USING TIMESTAMP ?", idempotent=True
)
OWNER_DEL = Statement("DELETE FROM {ks}.videos_by_owner USING TIMESTAMP ? WHERE owner = ? AND create_us = ? AND id = ?", idempotent=True)
OWNER_PUBLIC_PUT = Statement(
    "INSERT INTO {ks}.public_videos_by_owner (owner, create_us, id, data) VALUES (?, ?, ?, ?) USING TIMESTAMP ?", idempotent=True
)
OWNER_PUBLIC_DEL = Statement(
    "DELETE FROM {ks}.public_videos_by_owner USING TIMESTAMP ? WHERE owner = ? AND create_us = ? AND id = ?", idempotent=True
)
DAY_PUT = Statement(
    "INSERT INTO {ks}.public_videos_by_day (day, create_us, id, data) VALUES (?, ?, ?, ?) USING TIMESTAMP ?", idempotent=True
)
DAY_DEL = Statement("DELETE FROM {ks}.public_videos_by_day USING TIMESTAMP ? WHERE day = ? AND create_us = ? AND id = ?", idempotent=True)
DAYS_PUT = Statement("INSERT INTO {ks}.public_video_days (feed, day) VALUES (?, ?) USING TIMESTAMP ?", idempotent=True)
DAYS = Statement("SELECT day FROM {ks}.public_video_days WHERE feed = ? AND day <= ? LIMIT ?")
CHANGE_PUT = Statement("INSERT INTO {ks}.video_changes (bucket, at, id, rev) VALUES (?, ?, ?, ?)", idempotent=True)
CHANGES = Statement("SELECT at, id, rev FROM {ks}.video_changes WHERE bucket = ? AND at > ? AND at <= ? LIMIT ?")
SCAN = Statement("SELECT data, rev FROM {ks}.videos_by_id WHERE token(id) > token(?) LIMIT ?")
SCAN_FIRST = Statement("SELECT data, rev FROM {ks}.videos_by_id LIMIT ?")
_LISTED = "SELECT create_us, id, data, WRITETIME(data) AS rev FROM {ks}"
LIST_OWNER = Statement(_LISTED + ".videos_by_owner WHERE owner = ? LIMIT ?")
LIST_OWNER_AFTER = Statement(_LISTED + ".videos_by_owner WHERE owner = ? AND (create_us, id) < (?, ?) LIMIT ?")
LIST_OWNER_PUBLIC = Statement(_LISTED + ".public_videos_by_owner WHERE owner = ? LIMIT ?")
LIST_OWNER_PUBLIC_AFTER = Statement(_LISTED + ".public_videos_by_owner WHERE owner = ? AND (create_us, id) < (?, ?) LIMIT ?")
LIST_DAY = Statement(_LISTED + ".public_videos_by_day WHERE day = ? LIMIT ?")
LIST_DAY_AFTER = Statement(_LISTED + ".public_videos_by_day WHERE day = ? AND (create_us, id) < (?, ?) LIMIT ?")


def _now_us() -> int:
    return time.time_ns() // 1000


class CassandraVideoStore:
    def __init__(self, settings: CassandraSettings):
        # The catalog owns the schema: opening its store applies missing migrations.
        self._db = shared_connection(settings, migrate=True)
        self._lookback_us = int((settings.request_timeout_seconds + 1) * 1_000_000)

    async def wait_ready(self) -> None:
        await self._db.wait_ready()

    async def close(self) -> None:
        await release_connection(self._db)

    # -- writes -----------------------------------------------------------------------------

    async def _write_listings(self, video_id: str, owner: str, created: int, public: bool, data: bytes, rev: int) -> None:
        """The listing rows of one version, all at timestamp rev, in one logged batch."""
        p = self._db.prepared
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        day = created // DAY_US
        batch.add(await p(OWNER_PUT), (owner, created, video_id, data, rev))
        if public:
            batch.add(await p(OWNER_PUBLIC_PUT), (owner, created, video_id, data, rev))
            batch.add(await p(DAY_PUT), (day, created, video_id, data, rev))
            batch.add(await p(DAYS_PUT), (FEED, day, rev))
        else:
            batch.add(await p(OWNER_PUBLIC_DEL), (rev, owner, created, video_id))
            batch.add(await p(DAY_DEL), (rev, day, created, video_id))
        at = _now_us()
        batch.add(await p(CHANGE_PUT), (at // FEED_BUCKET_US, at, video_id, rev))
        await self._db.run(batch)

    async def _delete_listings(self, video_id: str, owner: str, created: int, at: int) -> None:
        p = self._db.prepared
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        batch.add(await p(OWNER_DEL), (at, owner, created, video_id))
        batch.add(await p(OWNER_PUBLIC_DEL), (at, owner, created, video_id))
        batch.add(await p(DAY_DEL), (at, created // DAY_US, created, video_id))
        await self._db.run(batch)

    async def insert_video(self, video: Video) -> str | None:
        data, created, public = stored_bytes(video), create_us(video), video.visibility == PUBLIC
        rev = _now_us()
        rows, applied = await self._db.query(INSERT, video.id, video.owner, created, public, rev, data)
        if applied:
            await self._write_listings(video.id, video.owner, created, public, data, rev)
            return etag_of(rev)
        row = rows[0]  # the video already stored: make sure its listing rows exist too
        await self._write_listings(video.id, row.owner, row.create_us, row.is_public, row.data, row.rev)
        return None

    async def replace_video(self, video: Video, *, etag: str) -> str:
        data, public, expected = stored_bytes(video), video.visibility == PUBLIC, rev_of(etag)
        rev = max(_now_us(), expected + 2)  # + 2: above a delete's tombstones at expected + 1
        _, applied = await self._db.query(UPDATE, public, rev, data, video.id, expected)
        if not applied:
            rows, _ = await self._db.query(GET_ROW, video.id)
            if not rows or rows[0].data != data or rows[0].is_public != public:
                raise StaleEtag(video.id)
            rev = rows[0].rev  # this very version is stored (a retry after a timeout): repair its listings
        await self._write_listings(video.id, video.owner, create_us(video), public, data, rev)
        return etag_of(rev)

    async def delete_video(self, video_id: str, *, etag: str = "") -> bool:
        for _ in range(MAX_CAS_ROUNDS):
            rows, _ = await self._db.query(GET_ROW, video_id)
            if not rows:
                return False
            row = rows[0]
            if etag and row.rev != rev_of(etag):
                raise StaleEtag(video_id)
            await self._delete_listings(video_id, row.owner, row.create_us, row.rev + 1)
            _, applied = await self._db.query(DELETE, video_id, row.rev)
            if applied:
                at = _now_us()
                await self._db.query(CHANGE_PUT, at // FEED_BUCKET_US, at, video_id, row.rev + 1)
                return True
            if etag:
                raise StaleEtag(video_id)  # written in between: the caller's etag is stale now
        raise Unavailable(f"video {video_id} is being changed by many writers at once; retry", reason="METADATA_STORE_CONTENTION")

    # -- the change feed ----------------------------------------------------------------------

    async def change_cursor(self) -> str:
        return f"c:{_now_us()}"

    async def changes_after(self, cursor: str, *, limit: int) -> ChangePage:
        kind, _, mark = cursor.partition(":")
        if kind != "c" or not mark.isdigit():
            raise ValueError("bad change cursor")
        after, now = int(mark), _now_us()
        if after < now - CHANGE_RETENTION_SECONDS * 1_000_000:
            raise ChangeCursorExpired(cursor)
        # Rows that landed late behind the cursor, all of them (bounded by a request timeout of
        # writes), then new ones up to limit.
        rows = await self._feed(after - self._lookback_us, after, FEED_PAGE_MAX)
        fresh = await self._feed(after, now, limit)
        changes = [VideoChange(r.id, r.rev) for r in rows + fresh]
        if len(fresh) >= limit:
            return ChangePage(changes, f"c:{fresh[-1].at}")
        # Read up to now: whatever lands later lands within the lookback of this cursor.
        return ChangePage(changes, f"c:{max(after, now - self._lookback_us, fresh[-1].at if fresh else 0)}")

    async def _feed(self, lo: int, hi: int, limit: int) -> list[Any]:
        """Feed rows with lo < at <= hi, oldest first, at most limit."""
        rows: list[Any] = []
        for bucket in range(max(lo, 0) // FEED_BUCKET_US, hi // FEED_BUCKET_US + 1):
            found, _ = await self._db.query(CHANGES, bucket, lo, hi, limit - len(rows))
            rows += found
            if len(rows) >= limit:
                break
        return rows

    async def scan_videos(self, *, limit: int, cursor: str) -> VideoPage:
        if cursor:
            rows, _ = await self._db.query(SCAN, decode_id_cursor(cursor), limit + 1)
        else:
            rows, _ = await self._db.query(SCAN_FIRST, limit + 1)
        videos = [loaded(r.data, r.rev) for r in rows[:limit]]
        return VideoPage(videos=videos, next_cursor=encode_id_cursor(videos[-1].id) if len(rows) > limit else "")

    # -- reads ------------------------------------------------------------------------------

    async def get_video(self, video_id: str) -> Video | None:
        rows, _ = await self._db.query(GET, video_id)
        return loaded(rows[0].data, rows[0].rev) if rows else None

    async def get_videos(self, video_ids: Sequence[str]) -> dict[str, Video]:
        ids = list(dict.fromkeys(video_ids))
        found = await asyncio.gather(*(self.get_video(i) for i in ids))
        return {v.id: v for v in found if v is not None}

    async def list_videos(self, *, owner: str | None, include_non_public: bool, limit: int, cursor: str) -> VideoPage:
        after = decode_cursor(cursor) if cursor else None
        if owner is not None:
            if include_non_public:
                first, rest = LIST_OWNER, LIST_OWNER_AFTER
            else:
                first, rest = LIST_OWNER_PUBLIC, LIST_OWNER_PUBLIC_AFTER
            if after:
                rows, _ = await self._db.query(rest, owner, *after, limit + 1)
            else:
                rows, _ = await self._db.query(first, owner, limit + 1)
        elif include_non_public:
            raise NotImplementedError("listing every owner's non-public videos is a full scan; no RPC needs it")
        else:
            rows = await self._list_public(after, limit + 1)
        videos = [loaded(r.data, r.rev) for r in rows[:limit]]
        more = len(rows) > limit
        next_cursor = encode_cursor(rows[limit - 1].create_us, rows[limit - 1].id) if more else ""
        return VideoPage(videos=videos, next_cursor=next_cursor)

    async def _list_public(self, after: tuple[int, str] | None, wanted: int) -> list[Any]:
        """Walks the public days newest first from the cursor's day until wanted rows are found."""
        rows: list[Any] = []
        below = after[0] // DAY_US if after else 2**31 - 1
        while len(rows) < wanted:
            days, _ = await self._db.query(DAYS, FEED, below, 16)
            for d in days:
                need = wanted - len(rows)
                if after and d.day == after[0] // DAY_US:
                    found, _ = await self._db.query(LIST_DAY_AFTER, d.day, *after, need)
                else:
                    found, _ = await self._db.query(LIST_DAY, d.day, need)
                rows += found
                if len(rows) >= wanted:
                    break
            if len(days) < 16:
                break
            below = days[-1].day - 1
        return rows
