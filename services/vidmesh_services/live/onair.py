"""What is on air now, in Redis/Valkey: the figures of each live session, which change every
second and so never go to the metadata store, and the list of streams on air.

Keys (all under 'vidmesh:live:'):
  status:{stream}   string  a LiveStream holding only the live figures (health, renditions,
                            ingest); written by the ingest about once a second with a short
                            expiry, so a dead ingest's figures vanish by themselves
  on-air            zset    stream -> when its broadcast started (ms), for "who is live"
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as redis
from vidmesh.live.v1 import resources_pb2

PREFIX = "vidmesh:live:"
ON_AIR = f"{PREFIX}on-air"
# The ingest refreshes a status every second; three missed refreshes and it is gone.
STATUS_TTL_SECONDS = 3

LiveStream = resources_pb2.LiveStream


def status_key(stream_id: str) -> str:
    return f"{PREFIX}status:{stream_id}"


class OnAir:
    def __init__(self, client: redis.Redis):
        self._redis = client

    async def publish_status(self, stream_id: str, figures: LiveStream) -> None:
        await self._redis.set(status_key(stream_id), figures.SerializeToString(), ex=STATUS_TTL_SECONDS)

    async def statuses(self, stream_ids: Sequence[str]) -> dict[str, LiveStream]:
        if not stream_ids:
            return {}
        values = await self._redis.mget([status_key(i) for i in stream_ids])
        return {i: LiveStream.FromString(v if isinstance(v, bytes) else v.encode()) for i, v in zip(stream_ids, values, strict=True) if v}

    async def went_on_air(self, stream_id: str, start_ms: int) -> None:
        await self._redis.zadd(ON_AIR, {stream_id: start_ms})

    async def went_off_air(self, stream_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(ON_AIR, stream_id)
            pipe.delete(status_key(stream_id))
            await pipe.execute()

    async def on_air(self, *, offset: int, count: int) -> list[str]:
        """Streams on air, the most recently started first."""
        ids = await self._redis.zrevrange(ON_AIR, offset, offset + count - 1)
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]


ON_AIR_STATES = (resources_pb2.LIVE_STREAM_STATE_LIVE, resources_pb2.LIVE_STREAM_STATE_RECONNECTING)


def with_figures(stream: LiveStream, figures: LiveStream | None) -> LiveStream:
    """The stored stream (which never holds live figures) plus those of its session, if on air."""
    shown = LiveStream()
    shown.CopyFrom(stream)
    if figures is not None and stream.state in ON_AIR_STATES:
        if figures.HasField("health"):
            shown.health.CopyFrom(figures.health)
        if figures.HasField("ingest"):
            shown.ingest.CopyFrom(figures.ingest)
        shown.renditions.extend(figures.renditions)
    return shown
