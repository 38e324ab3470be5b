"""Live playback: a stream's playlists and media from the live window in Valkey (live/segments.py),
with LL-HLS blocking playlist reload and blocking requests for the hinted part.

A blocked request waits for the packager's update messages (one subscription per process, fanned
out to every waiter of that stream) and re-reads at least every POLL_SECONDS in case a message
was lost, for at most BLOCK_SECONDS (three target durations, as RFC 8216bis asks) before
answering 503. The stream's owner and visibility come from Live, remembered briefly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as redis
from vidmesh.live.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from ..live.segments import UPDATES, MediaReader, PlaylistState
from ..runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, PermissionDenied, Unavailable
from .objects import PRIVATE, PlaybackObject, SignedUrl, plain_name, sign_playlist
from .tokens import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, MIN_TTL_SECONDS, InvalidToken, PlaybackTokens

log = logging.getLogger("vidmesh.playback.live")
T = TypeVar("T")
LiveStream = resources_pb2.LiveStream
StreamLookup = Callable[[str], Awaitable[LiveStream | None]]
PLAYLIST = "application/vnd.apple.mpegurl"
MEDIA = "video/mp4"  # init segments and parts alike: fMP4 with video and audio
BLOCK_SECONDS = 6.0  # 3 x the 2 s target duration
POLL_SECONDS = 0.5
# How far ahead of the live edge a blocking request may ask (RFC 8216bis: two segments).
MAX_AHEAD_SEGMENTS = 2
# A part or segment never changes once it exists; a blocking reload's answer is the same for
# every viewer who asks that URL, so shared caches may keep it briefly (collapsing viewers).
MEDIA_CACHE = "public, max-age=60"
BLOCKED_PLAYLIST_CACHE = "public, max-age=2"
FRESH_PLAYLIST_CACHE = "no-cache"
_PART = re.compile(r"^(\d{1,12})\.(\d{1,4})\.m4s$")


class LiveUpdates:
    """Wakes waiters of a stream when its packager writes (pub/sub on the updates channel)."""

    def __init__(self, client: redis.Redis):
        self._redis = client
        self._events: dict[str, asyncio.Event] = {}

    def event(self, stream_id: str) -> asyncio.Event:
        return self._events.setdefault(stream_id, asyncio.Event())

    async def follow(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(UPDATES)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            data = message["data"]
                            self._wake(data.decode() if isinstance(data, bytes) else str(data))
            except Exception as exc:  # Valkey away: waiters fall back to polling meanwhile
                log.warning("live updates: %s; resubscribing", exc)
                await asyncio.sleep(1)

    def _wake(self, stream_id: str) -> None:
        event = self._events.pop(stream_id, None)
        if event is not None:
            event.set()


class LivePlayback:
    def __init__(
        self, reader: MediaReader, updates: LiveUpdates, lookup: StreamLookup, tokens: PlaybackTokens, lookup_ttl_seconds: float = 2.0
    ):
        self._reader = reader
        self._updates = updates
        self._lookup = lookup
        self._tokens = tokens
        self._lookup_ttl = lookup_ttl_seconds
        self._recent: dict[str, tuple[float, LiveStream | None]] = {}

    async def _stream(self, stream_id: str) -> LiveStream | None:
        now = time.monotonic()
        remembered = self._recent.get(stream_id)
        if remembered and remembered[0] > now:
            return remembered[1]
        stream = await self._lookup(stream_id)
        if len(self._recent) > 10_000:
            self._recent.clear()
        self._recent[stream_id] = (now + self._lookup_ttl, stream)
        return stream

    async def _authorize(self, stream_id: str, token: str) -> None:
        plain_name(stream_id, "stream_id")
        name = f"streams/{stream_id}"
        stream = await self._stream(stream_id)
        if stream is None:
            raise NotFound("stream", name)
        if token:
            try:
                self._tokens.verify(token, name)
            except InvalidToken as exc:
                raise PermissionDenied("stream", name, f"playback token refused: {exc}", reason="INVALID_PLAYBACK_TOKEN") from None
        elif stream.visibility == media_pb2.VISIBILITY_PRIVATE:
            raise NotFound("stream", name)

    @staticmethod
    def _not_live(stream_id: str) -> NotFound:
        return NotFound("stream", f"streams/{stream_id}", reason="STREAM_NOT_LIVE")

    async def master(self, stream_id: str, token: str) -> PlaybackObject:
        await self._authorize(stream_id, token)
        text = await self._reader.master(stream_id)
        if text is None:
            raise self._not_live(stream_id)
        return self._playlist(text, token, FRESH_PLAYLIST_CACHE)

    def _playlist(self, text: str, token: str, cache_control: str) -> PlaybackObject:
        if token:
            return PlaybackObject(sign_playlist(text, token).encode(), PLAYLIST, PRIVATE)
        return PlaybackObject(text.encode(), PLAYLIST, cache_control)

    async def media_playlist(self, stream_id: str, rendition: str, token: str, msn: int | None, part: int | None) -> PlaybackObject:
        plain_name(rendition, "rendition")
        if part is not None and msn is None:
            raise InvalidArgument(FieldViolation("_HLS_part", "needs _HLS_msn"))
        for value, field in ((msn, "_HLS_msn"), (part, "_HLS_part")):
            if value is not None and value < 0:
                raise InvalidArgument(FieldViolation(field, "must not be negative"))
        await self._authorize(stream_id, token)
        state = await self._reader.playlist(stream_id, rendition)
        if state is None:
            raise self._not_live(stream_id)
        if msn is None:
            return self._playlist(state.text, token, FRESH_PLAYLIST_CACHE)
        if msn > state.msn + MAX_AHEAD_SEGMENTS and not state.ended:
            raise InvalidArgument(
                FieldViolation("_HLS_msn", f"{msn} is more than {MAX_AHEAD_SEGMENTS} segments ahead of the live edge ({state.msn})")
            )
        wanted = part if part is not None else 0

        async def holds() -> PlaylistState | None:
            found = await self._reader.playlist(stream_id, rendition)
            if found is None:
                raise self._not_live(stream_id)
            return found if _satisfies(found, msn, wanted, whole=part is None) else None

        found = await self._wait(stream_id, holds, f"{rendition} segment {msn} part {wanted}")
        return self._playlist(found.text, token, BLOCKED_PLAYLIST_CACHE)

    async def media(self, stream_id: str, rendition: str, file: str, token: str) -> PlaybackObject:
        plain_name(rendition, "rendition")
        plain_name(file, "segment")
        await self._authorize(stream_id, token)
        data = await self._reader.object(stream_id, rendition, file)
        if data is None and (hinted := _PART.match(file)):
            msn, index = int(hinted.group(1)), int(hinted.group(2))
            state = await self._reader.playlist(stream_id, rendition)
            if state is not None and not state.ended and _next_part(state, msn, index):

                async def stored() -> bytes | None:
                    return await self._reader.object(stream_id, rendition, file)

                data = await self._wait(stream_id, stored, f"{rendition}/{file}")
        if data is None:
            raise NotFound("live object", f"/live/{stream_id}/{rendition}/{file}")
        return PlaybackObject(data, MEDIA, PRIVATE if token else MEDIA_CACHE)

    async def create_url(self, stream_id: str, owner: str, ttl_seconds: int) -> SignedUrl:
        """A signed master-playlist URL for the owner of a stream that has not ended."""
        plain_name(stream_id, "name")
        name = f"streams/{stream_id}"
        ttl = ttl_seconds or DEFAULT_TTL_SECONDS
        if not MIN_TTL_SECONDS <= ttl <= MAX_TTL_SECONDS:
            raise InvalidArgument(FieldViolation("ttl", "must be between 1 minute and 24 hours"))
        stream = await self._lookup(stream_id)  # fresh: ownership is decided on current data
        if stream is None or (stream.owner != owner and stream.visibility == media_pb2.VISIBILITY_PRIVATE):
            raise NotFound("stream", name)
        if stream.owner != owner:
            raise PermissionDenied("stream", name, "only the owner may create playback URLs", owner=stream.owner)
        if stream.state == resources_pb2.LIVE_STREAM_STATE_ENDED:
            raise FailedPrecondition(f"{name} has ended; its recording is a video", reason="STREAM_ENDED", metadata={"stream": name})
        token, expires = self._tokens.sign(name, ttl)
        return SignedUrl(f"/live/{stream_id}/master.m3u8?token={token}", token, expires)

    async def _wait(self, stream_id: str, ready: Callable[[], Awaitable[T | None]], what: str) -> T:
        deadline = time.monotonic() + BLOCK_SECONDS
        while True:
            event = self._updates.event(stream_id)  # taken before the check: no wake-up is missed
            found = await ready()
            if found is not None:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unavailable(f"{what} did not appear within {BLOCK_SECONDS:.0f} seconds", reason="LIVE_EDGE_TIMEOUT")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(left, POLL_SECONDS))


def _satisfies(state: PlaylistState, msn: int, part: int, *, whole: bool) -> bool:
    """Whether the playlist holds part `part` of segment `msn` (whole: all of that segment). A
    segment before the newest part's is complete, so any part index of it counts as held (RFC
    8216bis: a part past a closed segment's last is the next segment's first, which exists)."""
    if state.ended or msn < state.msn:
        return True
    if msn > state.msn or whole:
        return False
    return part <= state.part


def _next_part(state: PlaylistState, msn: int, index: int) -> bool:
    """Whether msn.index is the part the playlist hints at next (it will exist shortly)."""
    return (msn == state.msn and index == state.part + 1) or (msn == state.msn + 1 and index == 0)
