"""The catalog's read-through video cache: a VideoStore that keeps videos in Redis/Valkey.

`CachedVideoStore` wraps the real store (SQLite, Cassandra). `get_video` and `get_videos`
read Redis first (one `SET NX GET`, or one `MGET` for a batch) and fill it from the store on a
miss; every write (`insert_video`, `replace_video`, `delete_video`) invalidates the video's key.
Listings, scans and the change feed pass through uncached. All writes to videos go through the catalog
process, so wrapping its store covers every write path (update, delete, status, renditions).

One key per video, `<prefix><video id>`, whose value is tagged by its first byte:

    V<Video proto>   the video, for ttl_seconds (minus up to 10% jitter, so hot keys expire apart)
    N                no such video, for negative_ttl_seconds
    L<token>         a reader's fill lease: it is reading the store and may fill the key, for
                     lease_seconds at most
    W<count>         count writers are writing this video: readers read the store and fill
                     nothing; expires after write_marker_seconds if a writer never clears it

Reads. A reader sends `SET key L<token> NX PX lease GET`: one round trip that returns the cached
value, or someone's lease or write marker, or nothing, in which case the reader now holds the
lease. The lease holder reads the store and fills the key with a Lua compare-and-set: only if
the key still holds its own lease. A reader that finds another's lease waits for that reader
instead of reading the store itself: in the same process it awaits that load's task (single
flight, no polling), in another process it polls the key (2 ms, doubling up to 50 ms) until the
value appears or the lease is gone (then it takes the lease itself). So a stampede of misses on
one key costs one store read across every catalog process. A batch uses one `MGET`, then leases
its misses in one pipeline and reads them from the store in one `get_videos` call.

Writes. A writer first sets the key to its write marker (Lua: `W1`, or `W<n+1>` over another
writer's marker, overwriting whatever was there), then writes the store, then clears its marker
(Lua: `W<n-1>`, or deletes the key when it was the last writer or the marker is gone).

Why no reader sees a stale video after a write has returned:
- A fill succeeds only if the key still holds the filler's lease, and every write overwrites
  the key (marker) before it changes the store. So a lease that survives until the fill was
  taken after any write's marker was gone, i.e. after that write's store change, and its store
  read saw that change; a value read before a write's change can never be filled after the
  write's marker was set. The marker is replaced only when its last writer clears it, so a
  second writer still in flight keeps readers off the cache (a count, not a flag, for this).
- A value that was filled before a write started is overwritten by the marker; a value filled
  while a marker was briefly absent is removed by the clearing step (it deletes any non-marker).
- Waiting for another reader's load is safe for the same reason: a reader joins a load only
  after it has seen that load's lease in Redis, after the reader started; a lease still there
  means no write has begun since the load took it, so any write that had returned before the
  reader started had changed the store before the load read it. Joining an in-process read that
  started earlier without this check would not be safe (it may predate a write that returned
  meanwhile), which is why single flight is keyed by the lease seen in Redis, not by video id.
- Tokens are random per process plus a counter, so an expired lease can never be mistaken for a
  newer one (no ABA), and lease expiry only costs an extra store read, never correctness.

Failures. Redis errors never fail a read: the video is read from the store, counted as `error`,
and for one second afterwards reads skip Redis (so an unreachable Redis does not add a timeout
to every read). A write whose marker cannot be set (Redis unreachable, after three tries) fails
with UNAVAILABLE before the store is touched: writing anyway would leave the old cached value
readable for up to ttl_seconds once Redis answers again (the embedded Valkey keeps its data
across restarts), and the platform cannot upload or transcode without Redis in any case. A
marker that cannot be cleared after the store write is left to expire: until then readers of
that video read the store, which is always correct, so the write still succeeds. Two limits:
a writer that takes longer than write_marker_seconds *and* cannot clear its marker may leave a
stale value for up to ttl_seconds, and a Redis crash that loses acknowledged writes (Valkey's
append-only file is fsynced every second) may resurrect a value a write had removed.

Commands used: SET (NX, PX, GET, KEEPTTL), GET, MGET, DEL, EVALSHA/EVAL. `SET NX GET` needs
Redis 7.0+ or any Valkey. A batch touches many keys in one command or script, so a Redis Cluster
would need the batch split by hash slot (not done: vidmesh uses one Redis/Valkey).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import redis.asyncio as redis
from prometheus_client import Counter
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from vidmesh.catalog.v1 import resources_pb2

from ..runtime.config import CatalogCacheSettings, Config
from ..runtime.errors import Unavailable
from ..storage.redis_replies import optional_reply_bytes, reply_bytes
from .store import ChangePage, VideoPage, VideoStore

Video = resources_pb2.Video
T = TypeVar("T")
log = logging.getLogger(__name__)

REQUESTS = Counter(
    "vidmesh_catalog_cache_requests",
    "Videos looked up through the catalog cache, by where the answer came from: hit (a cached video), "
    "negative_hit (cached 'no such video'), miss (read from the store), error (Redis failed; read from the store)",
    ["result"],
)
INVALIDATION_ERRORS = Counter(
    "vidmesh_catalog_cache_invalidation_errors",
    "Catalog writes whose cache marker could not be set (the write failed) or cleared (readers bypass the key until it expires)",
    ["step"],
)
HIT, NEGATIVE_HIT, MISS, ERROR = (REQUESTS.labels(result=r) for r in ("hit", "negative_hit", "miss", "error"))

VALUE, ABSENT, LEASE = b"V", b"N", b"L"  # and b"W": a write marker, set by the Lua scripts
POLL_FIRST, POLL_MAX = 0.002, 0.05
BYPASS_SECONDS = 1.0
WRITE_TRIES = 3

# KEYS: the keys; ARGV[1]: the caller's lease; then per key a TTL in ms and a value ('' releases).
_FILL = """
local filled = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    local value = ARGV[2 * i + 1]
    if value == '' then
      redis.call('DEL', key)
    else
      redis.call('SET', key, value, 'PX', ARGV[2 * i])
      filled = filled + 1
    end
  end
end
return filled
"""

# KEYS[1]: the key; ARGV[1]: the marker's TTL in ms. Returns how many writers now hold it.
_MARK = """
local v = redis.call('GET', KEYS[1])
local n = 1
if v and string.sub(v, 1, 1) == 'W' then
  n = (tonumber(string.sub(v, 2)) or 0) + 1
end
redis.call('SET', KEYS[1], 'W' .. n, 'PX', ARGV[1])
return n
"""

# KEYS[1]: the key. Returns how many writers still hold it.
_UNMARK = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) == 'W' then
  local n = (tonumber(string.sub(v, 2)) or 1) - 1
  if n > 0 then
    redis.call('SET', KEYS[1], 'W' .. n, 'KEEPTTL')
    return n
  end
end
redis.call('DEL', KEYS[1])
return 0
"""

Rows = dict[str, "bytes | None"]  # video id -> serialized Video, None if there is no such video


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class CachedVideoStore:
    """A VideoStore that caches videos of `inner` in Redis; see the module docstring."""

    def __init__(self, inner: VideoStore, client: redis.Redis, settings: CatalogCacheSettings, *, owns_client: bool = False):
        self._inner = inner
        self._redis = client
        self._settings = settings
        self._owns_client = owns_client
        self._fill = client.register_script(_FILL)
        self._mark = client.register_script(_MARK)
        self._unmark = client.register_script(_UNMARK)
        self._me = os.urandom(6).hex().encode()
        self._counter = itertools.count()
        # Store reads this process is running under a lease, by lease value (see "single flight").
        self._loads: dict[bytes, asyncio.Task[Rows]] = {}
        self._bypass_until = 0.0

    def _key(self, video_id: str) -> str:
        return self._settings.key_prefix + video_id

    # -- reads ----------------------------------------------------------------------------------

    async def get_video(self, video_id: str) -> Video | None:
        raw = (await self._lookup([video_id], None)).get(video_id)
        return None if raw is None else Video.FromString(raw)

    async def get_videos(self, video_ids: Sequence[str]) -> dict[str, Video]:
        ids = list(dict.fromkeys(video_ids))
        if not ids:
            return {}
        rows = await self._lookup(ids, self._mget)
        return {i: Video.FromString(raw) for i, raw in rows.items() if raw is not None}

    async def _mget(self, ids: list[str]) -> list[bytes | None]:
        return [optional_reply_bytes(raw) for raw in await self._redis.mget([self._key(i) for i in ids])]

    async def _lookup(self, ids: list[str], first_read: Callable[[list[str]], Awaitable[list[bytes | None]]] | None) -> Rows:
        """Rows of ids (None: no such video). first_read is a plain read to try before leasing."""
        found: Rows = {}
        if time.monotonic() >= self._bypass_until:
            try:
                replies = await first_read(ids) if first_read else None
                await self._resolve(ids, replies, found)
                return found
            except RedisError as exc:
                self._redis_failed(exc)
        rest = [i for i in ids if i not in found]
        ERROR.inc(len(rest))
        found.update(await self._read_store(rest))
        return found

    async def _resolve(self, ids: list[str], replies: list[bytes | None] | None, found: Rows) -> None:
        todo = ids
        lease: bytes | None = None  # this round's lease, once it has asked for leases
        delay = POLL_FIRST
        give_up = time.monotonic() + 2 * self._settings.lease_seconds
        while todo:
            if replies is None:
                lease = LEASE + self._me + b"." + str(next(self._counter)).encode()
                replies = await self._claim(todo, lease)
            unclaimed: list[str] = []  # absent from a plain read: lease them next round
            mine: list[str] = []  # leased by this round: read the store and fill
            bypass: list[str] = []  # being written: read the store, fill nothing
            waiting: list[str] = []  # leased by another process: ask again shortly
            joins: dict[asyncio.Task[Rows], list[str]] = {}  # leased by a load of this process
            for video_id, raw in zip(todo, replies, strict=True):
                if raw is None:
                    unclaimed.append(video_id)
                elif raw == lease:
                    mine.append(video_id)  # (a cached value never equals a lease)
                elif raw[:1] == VALUE:
                    found[video_id] = raw[1:]
                    HIT.inc()
                elif raw == ABSENT:
                    found[video_id] = None
                    NEGATIVE_HIT.inc()
                elif raw[:1] == LEASE:
                    task = self._loads.get(raw)
                    if task is None:
                        waiting.append(video_id)
                    else:
                        joins.setdefault(task, []).append(video_id)
                else:  # a write marker (or a value this version cannot read): read the store, fill nothing
                    bypass.append(video_id)
            if waiting and not unclaimed and time.monotonic() > give_up:
                bypass += waiting  # a lease that keeps being renewed: stop waiting for it
                waiting = []
            if mine or bypass:
                joins.setdefault(self._start_load(lease or b"", mine, bypass), []).extend(mine + bypass)
            for task, joined in joins.items():
                rows = await asyncio.shield(task)
                found.update((i, rows[i]) for i in joined)
                MISS.inc(len(joined))
            todo, replies = unclaimed + waiting, None
            if waiting and not unclaimed:
                await asyncio.sleep(delay)
                delay = min(delay * 2, POLL_MAX)

    async def _claim(self, ids: list[str], lease: bytes) -> list[bytes | None]:
        """The cached value of each id, or `lease` where this call now holds the key's lease."""
        px = _ms(self._settings.lease_seconds)
        if len(ids) == 1:
            replies = [await self._redis.set(self._key(ids[0]), lease, nx=True, px=px, get=True)]
        else:
            async with self._redis.pipeline(transaction=False) as pipe:
                for video_id in ids:
                    pipe.set(self._key(video_id), lease, nx=True, px=px, get=True)
                replies = await pipe.execute()
        return [lease if raw is None else reply_bytes(raw) for raw in replies]

    def _start_load(self, lease: bytes, mine: list[str], bypass: list[str]) -> asyncio.Task[Rows]:
        """Reads mine + bypass from the store in a task that outlives a cancelled caller, and fills mine."""
        task = asyncio.ensure_future(self._load(lease, mine, bypass))
        if mine:
            self._loads[lease] = task

        def done(t: asyncio.Task[Rows]) -> None:
            if self._loads.get(lease) is t:
                del self._loads[lease]
            if not t.cancelled():
                t.exception()  # retrieved here too, in case every caller was cancelled

        task.add_done_callback(done)
        return task

    async def _load(self, lease: bytes, mine: list[str], bypass: list[str]) -> Rows:
        try:
            rows = await self._read_store(mine + bypass)
        except BaseException:
            if mine:
                await self._settle(lease, {i: None for i in mine}, release=True)
            raise
        if mine:
            await self._settle(lease, {i: rows[i] for i in mine})
        return rows

    async def _settle(self, lease: bytes, rows: Rows, release: bool = False) -> None:
        """Fills (or releases) the keys that still hold lease; a failure only leaves leases to expire."""
        args: list[bytes | int] = [lease]
        for raw in rows.values():
            if release:
                args += [0, b""]
            elif raw is None:
                args += [_ms(self._settings.negative_ttl_seconds), ABSENT]
            else:
                args += [_ms(self._settings.ttl_seconds * random.uniform(0.9, 1.0)), VALUE + raw]
        try:
            await self._fill(keys=[self._key(i) for i in rows], args=args)
        except RedisError as exc:
            log.debug("cache fill failed: %s", exc)

    async def _read_store(self, ids: list[str]) -> Rows:
        if not ids:
            return {}
        if len(ids) == 1:
            video = await self._inner.get_video(ids[0])
            return {ids[0]: None if video is None else video.SerializeToString()}
        videos = await self._inner.get_videos(ids)
        return {i: videos[i].SerializeToString() if i in videos else None for i in ids}

    def _redis_failed(self, exc: RedisError) -> None:
        if time.monotonic() >= self._bypass_until:
            log.warning("catalog cache unavailable, reading the store for %.0fs: %s", BYPASS_SECONDS, exc)
        self._bypass_until = time.monotonic() + BYPASS_SECONDS

    # -- writes ---------------------------------------------------------------------------------

    async def insert_video(self, video: Video) -> str | None:
        return await self._write(video.id, lambda: self._inner.insert_video(video))

    async def replace_video(self, video: Video, *, etag: str) -> str:
        return await self._write(video.id, lambda: self._inner.replace_video(video, etag=etag))

    async def delete_video(self, video_id: str, *, etag: str = "") -> bool:
        return await self._write(video_id, lambda: self._inner.delete_video(video_id, etag=etag))

    async def _write(self, video_id: str, write: Callable[[], Awaitable[T]]) -> T:
        key = self._key(video_id)
        if not await self._retry(lambda: self._mark(keys=[key], args=[_ms(self._settings.write_marker_seconds)])):
            INVALIDATION_ERRORS.labels(step="mark").inc()
            raise Unavailable(
                "the video cache cannot be invalidated, so nothing was changed; try again",
                reason="CACHE_UNAVAILABLE",
                metadata={"video": f"videos/{video_id}"},
            )
        try:
            return await write()
        finally:
            if not await self._retry(lambda: self._unmark(keys=[key])):
                INVALIDATION_ERRORS.labels(step="clear").inc()
                log.warning(
                    "could not clear the cache marker of video %s; readers bypass it for up to %.0fs",
                    video_id,
                    self._settings.write_marker_seconds,
                )

    @staticmethod
    async def _retry(command: Callable[[], Awaitable[object]]) -> bool:
        for attempt in range(WRITE_TRIES):
            try:
                await command()
                return True
            except RedisError as exc:
                log.debug("cache marker attempt %d failed: %s", attempt + 1, exc)
                if attempt + 1 < WRITE_TRIES:
                    await asyncio.sleep(0.02 * 4**attempt)
        return False

    # -- uncached -------------------------------------------------------------------------------

    async def list_videos(self, *, owner: str | None, include_non_public: bool, limit: int, cursor: str) -> VideoPage:
        return await self._inner.list_videos(owner=owner, include_non_public=include_non_public, limit=limit, cursor=cursor)

    async def scan_videos(self, *, limit: int, cursor: str) -> VideoPage:
        return await self._inner.scan_videos(limit=limit, cursor=cursor)

    async def change_cursor(self) -> str:
        return await self._inner.change_cursor()

    async def changes_after(self, cursor: str, *, limit: int) -> ChangePage:
        return await self._inner.changes_after(cursor, limit=limit)

    async def wait_ready(self) -> None:
        await self._inner.wait_ready()

    async def close(self) -> None:
        try:
            await self._inner.close()
        finally:
            if self._owns_client:
                await self._redis.aclose()


def redis_client(config: Config) -> redis.Redis:
    """A client for the cache: short timeouts and one immediate retry, so a sick Redis costs reads little."""
    timeout = config.catalog_cache.timeout_seconds
    return redis.Redis.from_url(
        config.effective_redis_url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1)
    )


def with_cache(config: Config, inner: VideoStore) -> VideoStore:
    """inner behind the video cache if config enables it for its backend (the returned store closes both)."""
    if not config.catalog_cache.active(config.metadata_backend):
        return inner
    return CachedVideoStore(inner, redis_client(config), config.catalog_cache, owns_client=True)
