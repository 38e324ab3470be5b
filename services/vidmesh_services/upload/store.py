"""Upload state in Redis: what an upload is, which chunks arrived, when it expires, and what
each owner holds against their quotas.

Keys (all under 'vidmesh:upload:'):
  {id}            hash    the upload's fields; expires with the upload
  {id}:chunks     set     indexes of chunks that are durably stored
  {id}:done       string  'owner video_id' of a completed upload, so a retried complete is answered
  {id}:lock       string  held while one CompleteUpload runs
  expiry          zset    upload id -> expiry time, so the janitor can remove abandoned parts
  owners          hash    upload id -> owner of every open upload (kept past the upload's own
                          keys, so that expiry can still give the owner's quota back)
  quota:{owner}         hash  open_bytes, stored_bytes: the owner's totals
  quota:{owner}:open    hash  upload id -> declared size of each open upload
  quota:{owner}:stored  hash  video id -> size of each completed upload's source

Every change of quota figures is one Lua script (quotas.py), so concurrent InitUploads of one
owner cannot both pass a limit, and each script is idempotent (a retried call counts nothing
twice).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import redis.asyncio as redis
from redis.typing import EncodableT

from ..runtime.config import UploadLimits
from ..storage.redis_replies import reply_text
from . import quotas

PREFIX = "vidmesh:upload:"
EXPIRY = PREFIX + "expiry"
OWNERS = PREFIX + "owners"


@dataclass(frozen=True)
class Upload:
    upload_id: str
    owner: str
    video_id: str
    filename: str
    size_bytes: int
    chunk_size: int
    chunk_count: int
    content_type: str = ""
    sha256: str = ""
    title: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    visibility: int = 0
    created_at: float = 0.0

    def chunk_length(self, index: int) -> int:
        if index < self.chunk_count - 1:
            return self.chunk_size
        return self.size_bytes - self.chunk_size * (self.chunk_count - 1)


@dataclass(frozen=True)
class Usage:
    """What an owner holds against the quotas."""

    open_uploads: int
    open_bytes: int
    stored_bytes: int


class QuotaRefused(Exception):
    """InitUpload would pass a quota; nothing was stored."""

    def __init__(self, limit: str, used: int, maximum: int):
        super().__init__(f"{limit}: {used} used of {maximum}")
        self.limit = limit  # the UploadLimits field: max_open_uploads, max_open_bytes or max_stored_bytes
        self.used = used
        self.maximum = maximum


def _quota_keys(owner: str) -> tuple[str, str, str]:
    """The owner's totals, open uploads and stored sources."""
    base = f"{PREFIX}quota:{owner}"
    return base, base + ":open", base + ":stored"


def _keys(upload_id: str) -> tuple[str, str, str, str]:
    """The upload's fields, chunks, done marker and lock."""
    base = PREFIX + upload_id
    return base, base + ":chunks", base + ":done", base + ":lock"


class UploadState:
    def __init__(self, client: redis.Redis, ttl_seconds: int, completed_memory_seconds: int):
        self._redis = client
        self._ttl = ttl_seconds
        self._completed_memory = completed_memory_seconds
        self._create = client.register_script(quotas.CREATE)
        self._finish = client.register_script(quotas.FINISH)
        self._release = client.register_script(quotas.RELEASE)
        self._unstore = client.register_script(quotas.UNSTORE)

    async def create(self, upload: Upload, limits: UploadLimits) -> float:
        """Stores a new upload and counts it against its owner's quotas, or raises QuotaRefused
        (storing nothing). Returns its expiry time."""
        expires = time.time() + self._ttl
        fields: list[EncodableT] = []
        for key, value in asdict(upload).items():
            fields += [key, json.dumps(value)]
        totals, open_, _ = _quota_keys(upload.owner)
        args: list[EncodableT] = [upload.upload_id, upload.owner, upload.size_bytes, self._ttl, expires]
        args += [limits.max_open_uploads, limits.max_open_bytes, limits.max_stored_bytes]
        reply = await self._create(keys=[PREFIX + upload.upload_id, EXPIRY, OWNERS, totals, open_], args=args + fields)
        if reply:
            limit, used, maximum = reply
            raise QuotaRefused(reply_text(limit), int(used), int(maximum))
        return expires

    async def get(self, upload_id: str) -> Upload | None:
        raw = await self._redis.hgetall(PREFIX + upload_id)
        if not raw:
            return None
        return Upload(**{reply_text(k): json.loads(v) for k, v in raw.items()})

    async def expiry(self, upload_id: str) -> float:
        return (await self._redis.zscore(EXPIRY, upload_id)) or 0.0

    async def received(self, upload_id: str) -> set[int]:
        return {int(i) for i in await self._redis.smembers(PREFIX + upload_id + ":chunks")}

    async def record_chunk(self, upload_id: str, index: int) -> float:
        """Marks a chunk stored and pushes the expiry out; returns the new expiry time."""
        expires = time.time() + self._ttl
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(PREFIX + upload_id + ":chunks", index)
            pipe.expire(PREFIX + upload_id + ":chunks", self._ttl)
            pipe.expire(PREFIX + upload_id, self._ttl)
            pipe.zadd(EXPIRY, {upload_id: expires}, xx=True)
            await pipe.execute()
        return expires

    async def lock(self, upload_id: str, seconds: int = 900) -> bool:
        return bool(await self._redis.set(PREFIX + upload_id + ":lock", "1", nx=True, ex=seconds))

    async def unlock(self, upload_id: str) -> None:
        await self._redis.delete(PREFIX + upload_id + ":lock")

    async def mark_done(self, upload: Upload) -> None:
        """Forgets the upload but remembers which video it became; its size moves from the
        owner's open uploads to their stored sources."""
        fields, chunks, done, _ = _keys(upload.upload_id)
        totals, open_, stored = _quota_keys(upload.owner)
        await self._finish(
            keys=[fields, chunks, done, EXPIRY, OWNERS, totals, open_, stored],
            args=[upload.upload_id, f"{upload.owner} {upload.video_id}", self._completed_memory, upload.video_id, upload.size_bytes],
        )

    async def done(self, upload_id: str) -> tuple[str, str] | None:
        """(owner, video_id) of a completed upload, if it is still remembered."""
        raw = await self._redis.get(PREFIX + upload_id + ":done")
        if not raw:
            return None
        owner, _, video_id = reply_text(raw).partition(" ")
        return owner, video_id

    async def forget(self, upload_id: str) -> None:
        """Removes an upload that ends without a video (aborted, refused, expired) and gives its
        size back to the owner's quota."""
        owner = await self._redis.hget(OWNERS, upload_id)
        totals, open_, _ = _quota_keys(reply_text(owner) if owner is not None else "")
        fields, chunks, _, lock = _keys(upload_id)
        await self._release(keys=[fields, chunks, lock, EXPIRY, OWNERS, totals, open_], args=[upload_id])

    async def expired(self, now: float, limit: int = 100) -> list[str]:
        ids = await self._redis.zrangebyscore(EXPIRY, "-inf", now, start=0, num=limit)
        return [reply_text(i) for i in ids]

    # -- quotas -----------------------------------------------------------------------------

    async def usage(self, owner: str) -> Usage:
        totals, open_, _ = _quota_keys(owner)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hlen(open_)
            pipe.hmget(totals, ["open_bytes", "stored_bytes"])
            count, (open_bytes, stored_bytes) = await pipe.execute()
        return Usage(open_uploads=int(count), open_bytes=int(open_bytes or 0), stored_bytes=int(stored_bytes or 0))

    async def stored_videos(self, owner: str) -> list[str]:
        """Ids of the videos whose sources count as the owner's stored bytes."""
        _, _, stored = _quota_keys(owner)
        return [reply_text(video_id) async for video_id, _ in self._redis.hscan_iter(stored)]

    async def unstore(self, owner: str, video_ids: list[str]) -> None:
        """Stops counting these videos' sources (they were deleted)."""
        totals, _, stored = _quota_keys(owner)
        await self._unstore(keys=[totals, stored], args=list(video_ids))
