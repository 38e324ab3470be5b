"""The transcode job stream (a Redis Stream read by a consumer group of workers)."""

from __future__ import annotations

import time

import redis.asyncio as redis

TRANSCODE_JOBS = "vidmesh:transcode:jobs"


class TranscodeJobQueue:
    def __init__(self, client: redis.Redis):
        self._redis = client

    async def publish(self, video_id: str, source_key: str, owner: str) -> str:
        """Appends a job; returns its stream entry id. Duplicates are fine: workers are idempotent."""
        entry = await self._redis.xadd(
            TRANSCODE_JOBS,
            {"video_id": video_id, "source_key": source_key, "owner": owner, "submitted_at": f"{time.time():.3f}"},
        )
        return entry.decode()
