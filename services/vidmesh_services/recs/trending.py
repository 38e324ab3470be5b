"""What the recs worker keeps current from analytics' feed of new views: each viewer's recently
watched videos (never recommended again) and trending scores.

Trending is views with exponential time decay, kept exactly with forward decay: a view at time t
adds 2 ** ((t - epoch) / half_life) to its video's score, so old views never need touching, and
score / 2 ** ((now - epoch) / half_life) is the video's decayed view count now. When the weights
grow large the epoch moves forward and every score is scaled down once (rebase). A page of
views, its scores and the feed cursor are applied in one script that first checks the cursor,
so a page is counted once even if the worker dies between reading and applying it.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis.asyncio as redis
from prometheus_client import Counter

from ..analytics.client import AnalyticsClient
from ..runtime.config import RecsSettings
from ..storage.redis_replies import optional_reply_text
from . import keys

log = logging.getLogger("vidmesh.recs.worker")

VIEWS_APPLIED = Counter("vidmesh_recs_views_applied_total", "New views applied to watched sets and trending")
FEED_PAGE = 500
TRENDING_KEPT = 10_000  # scored videos kept (the top; the rest have decayed to nothing that matters)
REBASE_HALF_LIVES = 40  # weights stay below 2 ** 40 before the epoch moves

# KEYS: views-cursor, trending:scores, trending:epoch. ARGV: expected cursor, new cursor, half-life
# ms, watched kept, watched ttl seconds, key prefix, now ms, then (viewer, video, ms) triples.
_APPLY = """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
local epoch = tonumber(redis.call('GET', KEYS[3]) or '')
if not epoch then epoch = tonumber(ARGV[7]); redis.call('SET', KEYS[3], ARGV[7]) end
local half_life, kept = tonumber(ARGV[3]), tonumber(ARGV[4])
for i = 8, #ARGV, 3 do
  local watched = ARGV[6] .. 'watched:' .. ARGV[i]
  local at = tonumber(ARGV[i + 2])
  redis.call('ZADD', watched, at, ARGV[i + 1])
  redis.call('ZREMRANGEBYRANK', watched, 0, -(kept + 1))
  redis.call('EXPIRE', watched, ARGV[5])
  redis.call('ZINCRBY', KEYS[2], 2 ^ ((at - epoch) / half_life), ARGV[i + 1])
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""

# Moves the epoch forward by ARGV[1] ms and scales every score by ARGV[2] (= 2 ** -half-lives).
# KEYS: trending:scores, trending:epoch.
_REBASE = """
local epoch = tonumber(redis.call('GET', KEYS[2]) or '')
if not epoch then return 0 end
redis.call('ZUNIONSTORE', KEYS[1], 1, KEYS[1], 'WEIGHTS', ARGV[2])
redis.call('SET', KEYS[2], string.format('%d', epoch + tonumber(ARGV[1])))
return 1
"""


class Trending:
    def __init__(self, client: redis.Redis, analytics: AnalyticsClient, settings: RecsSettings):
        self._client = client
        self._analytics = analytics
        self._settings = settings
        self._half_life_ms = settings.trending_half_life_hours * 3_600_000
        self._apply = client.register_script(_APPLY)
        self._rebase = client.register_script(_REBASE)

    async def follow_once(self) -> int:
        """Applies one page of new views; returns how many (0: caught up)."""
        cursor = optional_reply_text(await self._client.get(keys.VIEWS_CURSOR))
        views, after = await self._analytics.views(cursor or "0-0", FEED_PAGE)
        if after == cursor:
            return 0
        s = self._settings
        args: list[str | int | float] = [cursor, after, self._half_life_ms, s.watched_kept, keys.WATCHED_SECONDS, keys.PREFIX]
        args.append(int(time.time() * 1000))
        for view in views:
            args += (view.viewer, view.video_id, view.view_time_ms)
        applied: Any = await self._apply(keys=[keys.VIEWS_CURSOR, keys.TRENDING_SCORES, keys.TRENDING_EPOCH], args=args)
        if applied:
            VIEWS_APPLIED.inc(len(views))
        return len(views) if applied else 0

    async def refresh(self, now_ms: int | None = None) -> list[tuple[str, float]]:
        """Writes the trending list as of now: the top videos by decayed views."""
        now_ms = now_ms or int(time.time() * 1000)
        epoch = await self._epoch()
        if epoch is None:
            return []
        if (now_ms - epoch) / self._half_life_ms > REBASE_HALF_LIVES:
            await self._rebase(
                keys=[keys.TRENDING_SCORES, keys.TRENDING_EPOCH],
                args=[int(REBASE_HALF_LIVES * self._half_life_ms), 2.0**-REBASE_HALF_LIVES],
            )
            epoch = await self._epoch() or epoch
        top: list[Any] = await self._client.zrevrange(keys.TRENDING_SCORES, 0, self._settings.trending_size - 1, withscores=True)
        scale = 2.0 ** (-(now_ms - epoch) / self._half_life_ms)
        ranked = [(optional_reply_text(video), round(score * scale, 4)) for video, score in top]
        document = {"videos": [v for v, _ in ranked], "scores": [s for _, s in ranked], "as_of_ms": now_ms}
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.set(keys.TRENDING, json.dumps(document, separators=(",", ":")))
            pipe.zremrangebyrank(keys.TRENDING_SCORES, 0, -(TRENDING_KEPT + 1))
            await pipe.execute()
        return ranked

    async def _epoch(self) -> int | None:
        raw = await self._client.get(keys.TRENDING_EPOCH)
        return int(optional_reply_text(raw)) if raw else None
