"""Cassandra MetadataStore: the cluster profile's backend (cassandra-driver, bridged to asyncio).

Tables are shaped by the queries (migrations/cassandra/): videos_by_id is the truth; the listing
tables (videos_by_owner, public_videos_by_owner, public_videos_by_day) hold copies of each
video, written in one logged batch at the version's write timestamp `rev`. So:
- insert: a lightweight transaction on videos_by_id (ids are unique), then the listing batch.
  A retried insert that finds its row re-writes that row's listing batch (same values, same
  timestamp), which repairs an insert that died between the two steps.
- replace: read, then compare-and-set on rev, then the listing batch at the new rev. A stale
  or late listing write loses to a newer one whatever order they land in.
- delete: listing tombstones at rev + 1, then a compare-and-set delete of the row.
Nothing else uses a lightweight transaction. Reads and writes run at the configured consistency
(LOCAL_QUORUM by default). The store connects in the background: until it has, calls wait up to
connect_timeout_seconds and then fail UNAVAILABLE; wait_ready() is what health reporting awaits.
Driver errors become UNAVAILABLE (retry) or DEADLINE_EXCEEDED (may have taken effect), never INTERNAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Sequence

from cassandra.cluster import Cluster, Session
from cassandra.query import BatchStatement, BatchType, PreparedStatement
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from .cassandra_schema import DRIVER_TIMEOUTS, DRIVER_UNAVAILABLE, connect, consistency, migrate
from .config import CassandraSettings
from .errors import DeadlineExceeded, Unavailable, VidmeshError
from .ports import VideoPage
from .sqlite_store import decode_cursor, encode_cursor

log = logging.getLogger("vidmesh.cassandra")
PUBLIC = media_pb2.VISIBILITY_PUBLIC
DAY_US = 86_400 * 1_000_000
FEED = "public"
# Compare-and-set rounds before a write under heavy contention on one video gives up.
MAX_CAS_ROUNDS = 8
RECONNECT_MAX_SECONDS = 5.0

# {ks}: the keyspace, filled in when the statements are prepared.
_STATEMENTS = {
    "get": "SELECT data FROM {ks}.videos_by_id WHERE id = ?",
    "get_row": "SELECT owner, create_us, is_public, rev, data FROM {ks}.videos_by_id WHERE id = ?",
    "insert": "INSERT INTO {ks}.videos_by_id (id, owner, create_us, is_public, rev, data) VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS",
    "update": "UPDATE {ks}.videos_by_id SET is_public = ?, rev = ?, data = ? WHERE id = ? IF rev = ?",
    "delete": "DELETE FROM {ks}.videos_by_id WHERE id = ? IF rev = ?",
    "owner_put": "INSERT INTO {ks}.videos_by_owner (owner, create_us, id, data) VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
    "owner_del": "DELETE FROM {ks}.videos_by_owner USING TIMESTAMP ? WHERE owner = ? AND create_us = ? AND id = ?",
    "owner_public_put": "INSERT INTO {ks}.public_videos_by_owner (owner, create_us, id, data) VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
    "owner_public_del": "DELETE FROM {ks}.public_videos_by_owner USING TIMESTAMP ? WHERE owner = ? AND create_us = ? AND id = ?",
    "day_put": "INSERT INTO {ks}.public_videos_by_day (day, create_us, id, data) VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
    "day_del": "DELETE FROM {ks}.public_videos_by_day USING TIMESTAMP ? WHERE day = ? AND create_us = ? AND id = ?",
    "days_put": "INSERT INTO {ks}.public_video_days (feed, day) VALUES (?, ?) USING TIMESTAMP ?",
    "days": "SELECT day FROM {ks}.public_video_days WHERE feed = ? AND day <= ? LIMIT ?",
    "list_owner": "SELECT create_us, id, data FROM {ks}.videos_by_owner WHERE owner = ? LIMIT ?",
    "list_owner_after": "SELECT create_us, id, data FROM {ks}.videos_by_owner WHERE owner = ? AND (create_us, id) < (?, ?) LIMIT ?",
    "list_owner_public": "SELECT create_us, id, data FROM {ks}.public_videos_by_owner WHERE owner = ? LIMIT ?",
    "list_owner_public_after": "SELECT create_us, id, data FROM {ks}.public_videos_by_owner WHERE owner = ? AND (create_us, id) < (?, ?) LIMIT ?",
    "list_day": "SELECT create_us, id, data FROM {ks}.public_videos_by_day WHERE day = ? LIMIT ?",
    "list_day_after": "SELECT create_us, id, data FROM {ks}.public_videos_by_day WHERE day = ? AND (create_us, id) < (?, ?) LIMIT ?",
    "key_put": "INSERT INTO {ks}.api_keys_by_hash (key_hash, owner, create_us) VALUES (?, ?, ?)",
    "key_get": "SELECT owner FROM {ks}.api_keys_by_hash WHERE key_hash = ?",
}
# Plain writes that may be sent again safely (the driver may retry them on another node).
_IDEMPOTENT = {"owner_put", "owner_del", "owner_public_put", "owner_public_del", "day_put", "day_del", "days_put", "key_put"}


def _create_us(video: resources_pb2.Video) -> int:
    return video.create_time.seconds * 1_000_000 + video.create_time.nanos // 1000


def _now_us() -> int:
    return time.time_ns() // 1000


def translate(exc: BaseException) -> BaseException:
    """The VidmeshError a driver error means for callers; other errors are returned unchanged."""
    if isinstance(exc, DRIVER_TIMEOUTS):
        return DeadlineExceeded(f"the metadata store did not answer in time: {exc}", reason="METADATA_STORE_TIMEOUT")
    if isinstance(exc, DRIVER_UNAVAILABLE):
        return Unavailable(f"the metadata store is unavailable: {exc}", reason="METADATA_STORE_UNAVAILABLE")
    return exc


class CassandraMetadataStore:
    def __init__(self, settings: CassandraSettings):
        self._settings = settings
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._prepared: dict[str, PreparedStatement] = {}
        self._ready = asyncio.Event()
        self._closed = False
        self._starter: asyncio.Task[None] | None = None
        self.last_error = ""

    # -- connection -------------------------------------------------------------------------

    def _start(self) -> None:
        if self._starter is None and not self._closed:
            self._starter = asyncio.get_running_loop().create_task(self._connect_until_ready())

    async def _connect_until_ready(self) -> None:
        delay = 0.5
        while not self._closed:
            try:
                await asyncio.to_thread(self._connect)
            except Exception as exc:  # Cassandra down or still starting: report, wait, retry
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("cannot reach Cassandra yet; retrying", extra={"fields": {"error": self.last_error, "retry_in_seconds": delay}})
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            self.last_error = ""
            self._ready.set()
            log.info("connected to Cassandra", extra={"fields": {"keyspace": self._settings.keyspace}})
            return

    def _connect(self) -> None:
        cluster, session = connect(self._settings)
        try:
            migrate(session, self._settings)
            prepared = {name: session.prepare(cql.format(ks=self._settings.keyspace)) for name, cql in _STATEMENTS.items()}
        except BaseException:
            cluster.shutdown()
            raise
        for name in _IDEMPOTENT:
            prepared[name].is_idempotent = True
        prepared["get_row"].consistency_level = consistency(self._settings.serial_consistency)  # sees the latest compare-and-set
        if self._closed:  # closed while connecting
            cluster.shutdown()
            return
        self._cluster, self._session, self._prepared = cluster, session, prepared

    async def wait_ready(self) -> None:
        """Returns once connected with the schema in place (it keeps trying until then)."""
        self._start()
        await self._ready.wait()

    async def _session_ready(self) -> Session:
        if not self._ready.is_set():
            self._start()
            try:
                await asyncio.wait_for(self._ready.wait(), self._settings.connect_timeout_seconds)
            except asyncio.TimeoutError:
                raise Unavailable(
                    f"the metadata store is not reachable yet ({self.last_error or 'connecting'})",
                    reason="METADATA_STORE_STARTING",
                ) from None
        assert self._session is not None
        return self._session

    async def _run(self, statement: Any, args: Sequence[Any] | None = None) -> tuple[list[Any], bool]:
        """Executes one statement; returns its first page of rows and, for a conditional write, whether it applied."""
        session = await self._session_ready()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Any]] = loop.create_future()

        def settle(result: Any, failed: bool) -> None:
            if done.done():
                return
            if failed:
                done.set_exception(result)
            else:
                done.set_result(result)

        def from_driver(result: Any, failed: bool) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(settle, result, failed)

        future = session.execute_async(statement, args)
        future.add_callbacks(lambda rows: from_driver(rows, False), lambda exc: from_driver(exc, True))
        try:
            rows = await done
        except VidmeshError:
            raise
        except Exception as exc:
            translated = translate(exc)
            if translated is exc:
                raise
            raise translated from exc
        rows = list(rows or [])
        applied = bool(getattr(rows[0], "applied", True)) if rows else True
        return rows, applied

    async def _query(self, name: str, *args: Any) -> tuple[list[Any], bool]:
        await self._session_ready()
        return await self._run(self._prepared[name], args)

    # -- videos -----------------------------------------------------------------------------

    async def _write_listings(self, video_id: str, owner: str, create_us: int, public: bool, data: bytes, rev: int) -> None:
        """The listing rows of one version, all at timestamp rev, in one logged batch."""
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        p = self._prepared.__getitem__
        day = create_us // DAY_US
        batch.add(p("owner_put"), (owner, create_us, video_id, data, rev))
        if public:
            batch.add(p("owner_public_put"), (owner, create_us, video_id, data, rev))
            batch.add(p("day_put"), (day, create_us, video_id, data, rev))
            batch.add(p("days_put"), (FEED, day, rev))
        else:
            batch.add(p("owner_public_del"), (rev, owner, create_us, video_id))
            batch.add(p("day_del"), (rev, day, create_us, video_id))
        await self._run(batch)

    async def insert_video(self, video: resources_pb2.Video) -> bool:
        data, create_us, public = video.SerializeToString(), _create_us(video), video.visibility == PUBLIC
        rev = _now_us()
        rows, applied = await self._query("insert", video.id, video.owner, create_us, public, rev, data)
        if applied:
            await self._write_listings(video.id, video.owner, create_us, public, data, rev)
            return True
        row = rows[0]  # the video already stored: make sure its listing rows exist too
        await self._write_listings(video.id, row.owner, row.create_us, row.is_public, row.data, row.rev)
        return False

    async def get_video(self, video_id: str) -> resources_pb2.Video | None:
        rows, _ = await self._query("get", video_id)
        return resources_pb2.Video.FromString(rows[0].data) if rows else None

    async def get_videos(self, video_ids: Sequence[str]) -> dict[str, resources_pb2.Video]:
        ids = list(dict.fromkeys(video_ids))
        found = await asyncio.gather(*(self.get_video(i) for i in ids))
        return {v.id: v for v in found if v is not None}

    async def replace_video(self, video: resources_pb2.Video) -> None:
        data, public = video.SerializeToString(), video.visibility == PUBLIC
        for _ in range(MAX_CAS_ROUNDS):
            rows, _ = await self._query("get_row", video.id)
            if not rows:
                return  # deleted meanwhile: nothing to overwrite
            row = rows[0]
            if row.data == data and row.is_public == public:
                rev = row.rev  # a retry of a replace that got this far: only the listings may be missing
            else:
                rev = max(_now_us(), row.rev + 2)  # + 2: above a delete's tombstones at row.rev + 1
                _, applied = await self._query("update", public, rev, data, video.id, row.rev)
                if not applied:
                    continue  # someone wrote in between: read again
            await self._write_listings(video.id, row.owner, row.create_us, public, data, rev)
            return
        raise Unavailable(f"video {video.id} is being changed by many writers at once; retry", reason="METADATA_STORE_CONTENTION")

    async def delete_video(self, video_id: str) -> bool:
        for _ in range(MAX_CAS_ROUNDS):
            rows, _ = await self._query("get_row", video_id)
            if not rows:
                return False
            row = rows[0]
            await self._delete_listings(video_id, row.owner, row.create_us, row.rev + 1)
            _, applied = await self._query("delete", video_id, row.rev)
            if applied:
                return True
        raise Unavailable(f"video {video_id} is being changed by many writers at once; retry", reason="METADATA_STORE_CONTENTION")

    async def _delete_listings(self, video_id: str, owner: str, create_us: int, at: int) -> None:
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        p = self._prepared.__getitem__
        batch.add(p("owner_del"), (at, owner, create_us, video_id))
        batch.add(p("owner_public_del"), (at, owner, create_us, video_id))
        batch.add(p("day_del"), (at, create_us // DAY_US, create_us, video_id))
        await self._run(batch)

    async def list_videos(self, *, owner: str | None, include_non_public: bool, limit: int, cursor: str) -> VideoPage:
        after = decode_cursor(cursor) if cursor else None
        if owner is not None:
            table = "list_owner" if include_non_public else "list_owner_public"
            if after:
                rows, _ = await self._query(f"{table}_after", owner, *after, limit + 1)
            else:
                rows, _ = await self._query(table, owner, limit + 1)
        elif include_non_public:
            raise NotImplementedError("listing every owner's non-public videos is a full scan; no RPC needs it")
        else:
            rows = await self._list_public(after, limit + 1)
        videos = [resources_pb2.Video.FromString(r.data) for r in rows[:limit]]
        more = len(rows) > limit
        next_cursor = encode_cursor(rows[limit - 1].create_us, rows[limit - 1].id) if more else ""
        return VideoPage(videos=videos, next_cursor=next_cursor)

    async def _list_public(self, after: tuple[int, str] | None, wanted: int) -> list[Any]:
        """Walks the public days newest first from the cursor's day until wanted rows are found."""
        rows: list[Any] = []
        below = after[0] // DAY_US if after else 2**31 - 1
        while len(rows) < wanted:
            days, _ = await self._query("days", FEED, below, 16)
            for d in days:
                need = wanted - len(rows)
                if after and d.day == after[0] // DAY_US:
                    found, _ = await self._query("list_day_after", d.day, *after, need)
                else:
                    found, _ = await self._query("list_day", d.day, need)
                rows += found
                if len(rows) >= wanted:
                    break
            if len(days) < 16:
                break
            below = days[-1].day - 1
        return rows

    # -- API keys ---------------------------------------------------------------------------

    async def put_api_key(self, key_hash: str, owner: str) -> None:
        await self._query("key_put", key_hash, owner, _now_us())

    async def find_api_key_owner(self, key_hash: str) -> str | None:
        rows, _ = await self._query("key_get", key_hash)
        return rows[0].owner if rows else None

    async def close(self) -> None:
        self._closed = True
        if self._starter is not None:
            self._starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starter
        if self._cluster is not None:
            await asyncio.to_thread(self._cluster.shutdown)
            self._cluster = self._session = None
