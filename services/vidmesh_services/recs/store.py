"""The recs service's storage port on Redis/Valkey: what serving reads (one atomic script per
request), reactions and shares, and recommendation feedback. Key layout: keys.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as redis

from ..storage.redis_replies import optional_reply_text
from . import keys

# One request's state, read atomically: the deployed version and, under it, the viewer's personal
# list and the seed's related list; the trending list; what the viewer watched and dislikes.
# Keys are built inside the script (vidmesh's Valkey is one node), so a deployment's switch can
# never fall between reading the version and reading its lists.
# KEYS: current. ARGV: key prefix, viewer ('' for none), seed video ('' for none), watched kept.
_READ = """
local p, viewer, seed = ARGV[1], ARGV[2], ARGV[3]
local v = redis.call('GET', KEYS[1]) or ''
local personal, related, watched, disliked = false, false, {}, {}
if v ~= '' and viewer ~= '' then personal = redis.call('GET', p .. 'm:' .. v .. ':u:' .. viewer) end
if v ~= '' and seed ~= '' then related = redis.call('GET', p .. 'm:' .. v .. ':i:' .. seed) end
if viewer ~= '' then
  watched = redis.call('ZREVRANGE', p .. 'watched:' .. viewer, 0, tonumber(ARGV[4]) - 1)
  disliked = redis.call('SMEMBERS', p .. 'disliked:' .. viewer)
end
return {v, personal, related, redis.call('GET', p .. 'trending'), watched, disliked}
"""

# Sets a viewer's reaction to a video and keeps the video's counts and the dislike set in step.
# KEYS: reactions:{viewer}, disliked:{viewer}, counts:{video}. ARGV: video, new reaction (1 like,
# -1 dislike, 0 none), the most videos one viewer may react to.
# Returns {reaction now, likes, dislikes, shares}, or {'quota'} when the viewer is at the limit.
_REACT = """
local video, new = ARGV[1], tonumber(ARGV[2])
local old = tonumber(redis.call('HGET', KEYS[1], video) or '0')
if old ~= new then
  if old == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return {'quota'} end
  if old == 1 then redis.call('HINCRBY', KEYS[3], 'likes', -1) end
  if old == -1 then redis.call('HINCRBY', KEYS[3], 'dislikes', -1); redis.call('SREM', KEYS[2], video) end
  if new == 1 then redis.call('HINCRBY', KEYS[3], 'likes', 1) end
  if new == -1 then redis.call('HINCRBY', KEYS[3], 'dislikes', 1); redis.call('SADD', KEYS[2], video) end
  if new == 0 then redis.call('HDEL', KEYS[1], video) else redis.call('HSET', KEYS[1], video, new) end
end
local c = redis.call('HMGET', KEYS[3], 'likes', 'dislikes', 'shares')
return {new, c[1] or '0', c[2] or '0', c[3] or '0'}
"""

# Counts a share once per request id. KEYS: share:{viewer}:{id}, shares:{viewer}, counts:{video},
# reactions:{viewer}. ARGV: video, seconds a request id is remembered, the most videos one viewer
# may have shared. Returns as _REACT.
_SHARE = """
local video = ARGV[1]
if redis.call('HEXISTS', KEYS[2], video) == 0 and redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[3]) then return {'quota'} end
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
  redis.call('HINCRBY', KEYS[2], video, 1)
  redis.call('HINCRBY', KEYS[3], 'shares', 1)
end
local c = redis.call('HMGET', KEYS[3], 'likes', 'dislikes', 'shares')
return {tonumber(redis.call('HGET', KEYS[4], video) or '0'), c[1] or '0', c[2] or '0', c[3] or '0'}
"""

# Counts each token once per kind. ARGV: key prefix, token lifetime, then (digest, kind, version)
# triples. Returns how many were counted.
_FEEDBACK = """
local p, counted = ARGV[1], 0
for i = 3, #ARGV, 3 do
  local digest, kind, version = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('SET', p .. 'token:' .. digest .. ':' .. kind, '1', 'NX', 'EX', ARGV[2]) then
    redis.call('HINCRBY', p .. 'feedback:' .. version, kind == 'i' and 'impressions' or 'clicks', 1)
    counted = counted + 1
  end
end
return counted
"""


@dataclass(frozen=True)
class Snapshot:
    """What one request may recommend from, as of one instant."""

    version: str
    personal: bytes | None
    related: bytes | None
    trending: list[tuple[str, float]]
    watched: frozenset[str]
    disliked: frozenset[str]


@dataclass(frozen=True)
class Reactions:
    reaction: int  # 1 like, -1 dislike, 0 none
    likes: int
    dislikes: int
    shares: int


class QuotaReached(Exception):
    """The viewer reacts to (or has shared) as many videos as allowed."""


@dataclass
class _TrendingCache:
    raw: bytes | None = None
    parsed: list[tuple[str, float]] = field(default_factory=list)


class RecsStore:
    def __init__(self, client: redis.Redis, watched_kept: int, max_reactions: int):
        self._client = client
        self._watched_kept = watched_kept
        self._max_reactions = max_reactions
        self._read = client.register_script(_READ)
        self._react = client.register_script(_REACT)
        self._share = client.register_script(_SHARE)
        self._feedback = client.register_script(_FEEDBACK)
        self._items: dict[str, list[str]] = {}
        self._trending = _TrendingCache()

    async def snapshot(self, viewer: str, seed: str) -> Snapshot:
        reply: Any = await self._read(keys=[keys.CURRENT], args=[keys.PREFIX, viewer, seed, self._watched_kept])
        version, personal, related, trending, watched, disliked = reply
        return Snapshot(
            optional_reply_text(version),
            personal,
            related,
            self._parse_trending(trending),
            frozenset(map(optional_reply_text, watched)),
            frozenset(map(optional_reply_text, disliked)),
        )

    def _parse_trending(self, raw: bytes | None) -> list[tuple[str, float]]:
        """The trending list changes once a refresh: parse it once per change, not per request."""
        cache = self._trending
        if raw != cache.raw:
            document = json.loads(raw) if raw else {"videos": [], "scores": []}
            cache.parsed = list(zip(document["videos"], document["scores"], strict=True))
            cache.raw = raw
        return cache.parsed

    async def items(self, version: str) -> list[str]:
        """The videos of a deployed model, by list index (fixed per version, so kept in memory)."""
        found = self._items.get(version)
        if found is None:
            raw = await self._client.get(keys.items_key(version))
            found = optional_reply_text(raw).split("\n") if raw else []
            if len(self._items) >= 4:  # current, previous and a little history
                self._items.pop(next(iter(self._items)))
            self._items[version] = found
        return found

    async def react(self, viewer: str, video_id: str, reaction: int) -> Reactions:
        reply: Any = await self._react(
            keys=[keys.reactions_key(viewer), keys.disliked_key(viewer), keys.counts_key(video_id)],
            args=[video_id, reaction, self._max_reactions],
        )
        return _reactions(reply)

    async def share(self, viewer: str, video_id: str, request_id: str) -> Reactions:
        reply: Any = await self._share(
            keys=[
                keys.share_request_key(viewer, request_id),
                keys.shares_key(viewer),
                keys.counts_key(video_id),
                keys.reactions_key(viewer),
            ],
            args=[video_id, 86_400, self._max_reactions],
        )
        return _reactions(reply)

    async def reactions(self, viewer: str, video_id: str) -> Reactions:
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.counts_key(video_id), "likes", "dislikes", "shares")
            pipe.hget(keys.reactions_key(viewer or "-"), video_id)  # ('-' is no viewer's hash)
            (likes, dislikes, shares), mine = await pipe.execute()
        return Reactions(_int(mine) if viewer else 0, _int(likes), _int(dislikes), _int(shares))

    async def count_feedback(self, events: list[tuple[str, str, str]]) -> int:
        """Counts (digest, 'i' or 'c', version) events not counted before; returns how many."""
        if not events:
            return 0
        args: list[str | int] = [keys.PREFIX, keys.TOKEN_SECONDS]
        for event in events:
            args += event
        counted: Any = await self._feedback(args=args)
        return int(counted)


def _reactions(reply: list[Any]) -> Reactions:
    if reply[0] == b"quota":
        raise QuotaReached()
    mine, likes, dislikes, shares = map(_int, reply)
    return Reactions(mine, likes, dislikes, shares)


def _int(raw: bytes | str | int | None) -> int:
    return int(raw.decode() if isinstance(raw, bytes) else raw or 0)
