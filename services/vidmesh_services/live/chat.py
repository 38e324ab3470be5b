"""Live chat in Redis/Valkey: the history of each stream's chat, its moderation, and the fan-out
of its events to every Live server, each of which subscribes once and hands events to its own
watchers.

Keys (all under 'vidmesh:live:chat:'), expiring a day after the chat's last post:
  {stream}:log               stream  the messages (entry id = message id), capped
  {stream}:deleted           set     ids the owner deleted (history skips them)
  {stream}:muted             hash    author -> muted until (ms)
  {stream}:rate:{author}     hash    the author's token bucket: tokens, at (ms)
  {stream}:req:{author}:{id} string  a post's request id -> its message id, for 10 minutes
  {stream}:viewers           zset    open watch calls -> when they lapse (ms)
  events                     channel JSON events: {"s": stream, "k": "m" | "d" | "e", ...}

A post is one script: idempotency, mute, rate limit, append and publish happen at once, so a
retried post is never published twice and a muted author's message never reaches anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as redis
from google.protobuf import timestamp_pb2
from vidmesh.live.v1 import resources_pb2

log = logging.getLogger("vidmesh.live.chat")
PREFIX = "vidmesh:live:chat:"
EVENTS = f"{PREFIX}events"
MAX_TEXT = 500
HISTORY_KEPT = 100
MAX_HISTORY = 100
KEY_TTL_SECONDS = 86_400
REQUEST_MEMORY_SECONDS = 600
KEEPALIVE_SECONDS = 10.0
# A watcher further behind than this is cut off (RESOURCE_EXHAUSTED) rather than buffered.
MAX_BEHIND = 1000
VIEWER_LAPSE_MS = 30_000

ChatMessage = resources_pb2.ChatMessage

_POST = """
local log, muted, rate, req = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local author, text, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local burst, refill_ms = tonumber(ARGV[4]), tonumber(ARGV[5])
local done = redis.call('GET', req)
if done then return {'dup', done} end
local until_ms = tonumber(redis.call('HGET', muted, author) or '0')
if until_ms > now then return {'muted', tostring(until_ms)} end
local tokens = tonumber(redis.call('HGET', rate, 'tokens') or ARGV[4])
local at = tonumber(redis.call('HGET', rate, 'at') or ARGV[3])
tokens = math.min(burst, tokens + (now - at) / refill_ms)
if tokens < 1 then return {'rate', tostring(math.ceil((1 - tokens) * refill_ms))} end
redis.call('HSET', rate, 'tokens', tostring(tokens - 1), 'at', ARGV[3])
redis.call('PEXPIRE', rate, math.ceil(burst * refill_ms) + 1000)
local id = redis.call('XADD', log, 'MAXLEN', '~', ARGV[6], '*', 'a', author, 't', text, 'ms', ARGV[3])
if req ~= log then redis.call('SET', req, id, 'EX', ARGV[8]) end
redis.call('EXPIRE', log, ARGV[9])
redis.call('PUBLISH', ARGV[7], cjson.encode({s = ARGV[10], k = 'm', id = id, a = author, t = text, ms = now}))
return {'ok', id}
"""


class Muted(Exception):
    def __init__(self, until_ms: int):
        super().__init__(until_ms)
        self.until_ms = until_ms


class RateLimited(Exception):
    def __init__(self, retry_after_ms: int):
        super().__init__(retry_after_ms)
        self.retry_after_ms = retry_after_ms


@dataclass(frozen=True)
class Watch:
    """One open watch call: its events arrive in queue (None: it fell too far behind)."""

    stream_id: str
    watcher: str
    queue: asyncio.Queue[ChatEvent | None]


@dataclass(frozen=True)
class ChatEvent:
    message: ChatMessage | None = None
    deleted: str = ""  # the deleted message's name
    ended: bool = False


def _key(stream_id: str, *rest: str) -> str:
    return PREFIX + ":".join((stream_id, *rest))


def message_name(stream_id: str, message_id: str) -> str:
    return f"streams/{stream_id}/chatMessages/{message_id}"


def _message(stream_id: str, message_id: str, author: str, text: str, ms: int) -> ChatMessage:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMilliseconds(ms)
    return ChatMessage(name=message_name(stream_id, message_id), author=author, text=text, create_time=stamp)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _messages(stream_id: str, entries: object) -> list[ChatMessage]:
    """ChatMessages from an XRANGE / XREVRANGE reply: (id, {a, t, ms}) pairs."""
    found = []
    for entry_id, fields in entries or []:  # type: ignore[attr-defined]
        f = {_text(k): _text(v) for k, v in (fields or {}).items()}
        found.append(_message(stream_id, _text(entry_id), f["a"], f["t"], int(f["ms"])))
    return found


class Chat:
    def __init__(self, client: redis.Redis, burst: int, refill_seconds: float):
        self._redis = client
        self._burst = burst
        self._refill_ms = refill_seconds * 1000
        self._post = client.register_script(_POST)
        self._watchers: dict[str, set[asyncio.Queue[ChatEvent | None]]] = {}

    # -- writes -----------------------------------------------------------------------------

    async def post(self, stream_id: str, author: str, text: str, request_id: str) -> ChatMessage:
        now = int(time.time() * 1000)
        log_key = _key(stream_id, "log")
        request = _key(stream_id, "req", author, request_id) if request_id else log_key  # no id: nothing remembered
        keys = [log_key, _key(stream_id, "muted"), _key(stream_id, "rate", author), request]
        args: list[str | int | float] = [
            author,
            text,
            now,
            self._burst,
            self._refill_ms,
            HISTORY_KEPT,
            EVENTS,
            REQUEST_MEMORY_SECONDS,
            KEY_TTL_SECONDS,
            stream_id,
        ]
        outcome, value = (_text(v) for v in await self._post(keys=keys, args=args))
        if outcome == "muted":
            raise Muted(int(value))
        if outcome == "rate":
            raise RateLimited(int(value))
        if outcome == "dup":
            earlier = await self.get(stream_id, value)
            if earlier is not None:
                return earlier
        return _message(stream_id, value, author, text, now)

    async def get(self, stream_id: str, message_id: str) -> ChatMessage | None:
        found = _messages(stream_id, await self._redis.xrange(_key(stream_id, "log"), message_id, message_id))
        return found[0] if found else None

    async def delete(self, stream_id: str, message_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(_key(stream_id, "deleted"), message_id)
            pipe.expire(_key(stream_id, "deleted"), KEY_TTL_SECONDS)
            pipe.xdel(_key(stream_id, "log"), message_id)
            pipe.publish(EVENTS, json.dumps({"s": stream_id, "k": "d", "id": message_id}))
            await pipe.execute()

    async def mute(self, stream_id: str, author: str, until_ms: int) -> None:
        key = _key(stream_id, "muted")
        async with self._redis.pipeline(transaction=True) as pipe:
            if until_ms:
                pipe.hset(key, author, until_ms)
            else:
                pipe.hdel(key, author)
            pipe.expire(key, KEY_TTL_SECONDS)
            await pipe.execute()

    async def end(self, stream_id: str) -> None:
        """Tells every watcher of the stream's chat that it ended."""
        await self._redis.publish(EVENTS, json.dumps({"s": stream_id, "k": "e"}))

    # -- reads ------------------------------------------------------------------------------

    async def history(self, stream_id: str, count: int) -> list[ChatMessage]:
        if count <= 0:
            return []
        newest_first = _messages(stream_id, await self._redis.xrevrange(_key(stream_id, "log"), count=count))
        deleted = {message_name(stream_id, _text(d)) for d in await self._redis.smembers(_key(stream_id, "deleted"))}
        return [m for m in reversed(newest_first) if m.name not in deleted]

    async def viewers(self, stream_ids: list[str]) -> dict[str, int]:
        now = int(time.time() * 1000)
        async with self._redis.pipeline(transaction=False) as pipe:
            for stream_id in stream_ids:
                pipe.zcount(_key(stream_id, "viewers"), now, "+inf")
            counts = await pipe.execute()
        return {s: int(c) for s, c in zip(stream_ids, counts, strict=True)}

    @contextlib.asynccontextmanager
    async def watching(self, stream_id: str) -> AsyncIterator[Watch]:
        """A watcher of the stream's events, who counts as a viewer meanwhile (seen() keeps
        the count fresh)."""
        watch = Watch(stream_id, uuid.uuid4().hex, asyncio.Queue(MAX_BEHIND))
        self._watchers.setdefault(stream_id, set()).add(watch.queue)
        try:
            await self.seen(watch)
            yield watch
        finally:
            self._watchers[stream_id].discard(watch.queue)
            if not self._watchers[stream_id]:
                del self._watchers[stream_id]
            with contextlib.suppress(Exception):  # Valkey away: the entry lapses by itself
                await self._redis.zrem(_key(stream_id, "viewers"), watch.watcher)

    async def seen(self, watch: Watch) -> None:
        now = int(time.time() * 1000)
        key = _key(watch.stream_id, "viewers")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {watch.watcher: now + VIEWER_LAPSE_MS})
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.expire(key, KEY_TTL_SECONDS)
            await pipe.execute()

    async def follow(self) -> None:
        """Hands every chat event to this process's watchers (runs for the server's life)."""
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(EVENTS)
                    async for raw in pubsub.listen():
                        if raw.get("type") == "message":
                            self._dispatch(json.loads(raw["data"]))
            except Exception as exc:  # Valkey away: watchers get keep-alives until it is back
                log.warning("chat events: %s; resubscribing", exc)
                await asyncio.sleep(1)

    def _dispatch(self, event: dict[str, object]) -> None:
        stream_id = str(event["s"])
        watchers = self._watchers.get(stream_id)
        if not watchers:
            return
        kind = event["k"]
        if kind == "m":
            message = _message(stream_id, str(event["id"]), str(event["a"]), str(event["t"]), int(str(event["ms"])))
            item = ChatEvent(message=message)
        elif kind == "d":
            item = ChatEvent(deleted=message_name(stream_id, str(event["id"])))
        else:
            item = ChatEvent(ended=True)
        for queue in list(watchers):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                watchers.discard(queue)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.get_nowait()
                    queue.put_nowait(None)
