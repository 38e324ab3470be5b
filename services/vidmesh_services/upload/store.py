"""Upload state in Redis: what an upload is, which chunks arrived, and when it expires.

Keys (all under 'vidmesh:upload:'):
  {id}            hash    the upload's fields; expires with the upload
  {id}:chunks     set     indexes of chunks that are durably stored
  {id}:done       string  'owner video_id' of a completed upload, so a retried complete is answered
  {id}:lock       string  held while one CompleteUpload runs
  expiry          zset    upload id -> expiry time, so the janitor can remove abandoned parts
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import redis.asyncio as redis
from redis.typing import EncodableT, FieldT

from ..storage.redis_replies import reply_text

PREFIX = "vidmesh:upload:"
EXPIRY = PREFIX + "expiry"


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


class UploadState:
    def __init__(self, client: redis.Redis, ttl_seconds: int, completed_memory_seconds: int):
        self._redis = client
        self._ttl = ttl_seconds
        self._completed_memory = completed_memory_seconds

    async def create(self, upload: Upload) -> float:
        """Stores a new upload; returns its expiry time."""
        expires = time.time() + self._ttl
        data: dict[FieldT, EncodableT] = {k: json.dumps(v) for k, v in asdict(upload).items()}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(PREFIX + upload.upload_id, mapping=data)
            pipe.expire(PREFIX + upload.upload_id, self._ttl)
            pipe.zadd(EXPIRY, {upload.upload_id: expires})
            await pipe.execute()
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
        """Forgets the upload but remembers which video it became."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(PREFIX + upload.upload_id + ":done", f"{upload.owner} {upload.video_id}", ex=self._completed_memory)
            pipe.delete(PREFIX + upload.upload_id, PREFIX + upload.upload_id + ":chunks")
            pipe.zrem(EXPIRY, upload.upload_id)
            await pipe.execute()

    async def done(self, upload_id: str) -> tuple[str, str] | None:
        """(owner, video_id) of a completed upload, if it is still remembered."""
        raw = await self._redis.get(PREFIX + upload_id + ":done")
        if not raw:
            return None
        owner, _, video_id = reply_text(raw).partition(" ")
        return owner, video_id

    async def forget(self, upload_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(PREFIX + upload_id, PREFIX + upload_id + ":chunks", PREFIX + upload_id + ":lock")
            pipe.zrem(EXPIRY, upload_id)
            await pipe.execute()

    async def expired(self, now: float, limit: int = 100) -> list[str]:
        ids = await self._redis.zrangebyscore(EXPIRY, "-inf", now, start=0, num=limit)
        return [reply_text(i) for i in ids]
