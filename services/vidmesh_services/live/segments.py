"""Where the live window lives: the packager writes each part, segment, init segment and playlist
of a stream to Redis/Valkey, and Playback (any number of replicas) serves them from there.

Keys (all under 'vidmesh:live:'):
  obj:{stream}:{rendition}:{file}  string  an init segment, part or segment, as the playlist
                                           names it ("init-0.mp4", "12.3.m4s", "12.m4s")
  pl:{stream}:{rendition}          hash    text (the rendered media playlist), msn and part
                                           (the newest part), ended ("1" once ENDLIST), init
                                           and dseq (the newest segment's init version and
                                           discontinuity sequence: where a new packager resumes)
  master:{stream}                  string  the master playlist
  updates                          channel a stream id, published after each write

Media expires on its own (MEDIA_TTL_SECONDS, well past the window), so a crashed packager leaves
nothing behind for long; playlists outlive the broadcast by PLAYLIST_TTL_SECONDS so that players
see its ENDLIST. One pipeline writes a part and every playlist that changes with it, so a reader
never finds a playlist naming a part it cannot fetch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

PREFIX = "vidmesh:live:"
UPDATES = f"{PREFIX}updates"
MEDIA_TTL_SECONDS = 120
PLAYLIST_TTL_SECONDS = 3600


def object_key(stream_id: str, rendition: str, file: str) -> str:
    return f"{PREFIX}obj:{stream_id}:{rendition}:{file}"


def playlist_key(stream_id: str, rendition: str) -> str:
    return f"{PREFIX}pl:{stream_id}:{rendition}"


def master_key(stream_id: str) -> str:
    return f"{PREFIX}master:{stream_id}"


@dataclass(frozen=True)
class PlaylistState:
    text: str
    msn: int  # the newest part's segment
    part: int  # and its index; -1 before the first part
    ended: bool
    init: int = 0
    dseq: int = 0


class MediaWriter:
    """The packager's side (a worker process: plain synchronous redis-py)."""

    def __init__(self, client: redis.Redis, stream_id: str):
        self._redis = client
        self._stream = stream_id

    def put(self, objects: Mapping[tuple[str, str], bytes], playlists: Mapping[str, PlaylistState], master: str | None = None) -> None:
        """Stores objects ((rendition, file) -> bytes) and playlists (rendition -> state) at once."""
        pipe = self._redis.pipeline(transaction=True)
        for (rendition, file), data in objects.items():
            pipe.set(object_key(self._stream, rendition, file), data, ex=MEDIA_TTL_SECONDS)
        for rendition, state in playlists.items():
            key = playlist_key(self._stream, rendition)
            pipe.hset(
                key,
                mapping={
                    "text": state.text,
                    "msn": state.msn,
                    "part": state.part,
                    "ended": int(state.ended),
                    "init": state.init,
                    "dseq": state.dseq,
                },
            )
            pipe.expire(key, PLAYLIST_TTL_SECONDS)
        if master is not None:
            pipe.set(master_key(self._stream), master, ex=PLAYLIST_TTL_SECONDS)
        pipe.publish(UPDATES, self._stream)
        pipe.execute()

    def earlier(self) -> dict[str, PlaylistState]:
        """The playlists an earlier packager of this stream left (rendition -> state)."""
        prefix = playlist_key(self._stream, "")
        found = {}
        for key in self._redis.scan_iter(match=f"{prefix}*", count=100):
            name = key.decode() if isinstance(key, bytes) else str(key)
            state = _state(self._redis.hgetall(name))
            if state is not None:
                found[name.removeprefix(prefix)] = state
        return found


def _state(found: Mapping[bytes | str, bytes | str]) -> PlaylistState | None:
    if not found:
        return None
    text = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in found.items()}
    return PlaylistState(
        text["text"], int(text["msn"]), int(text["part"]), text["ended"] == "1", int(text.get("init", 0)), int(text.get("dseq", 0))
    )


class MediaReader:
    """Playback's side."""

    def __init__(self, client: aioredis.Redis):
        self._redis = client

    async def playlist(self, stream_id: str, rendition: str) -> PlaylistState | None:
        return _state(await self._redis.hgetall(playlist_key(stream_id, rendition)))

    async def master(self, stream_id: str) -> str | None:
        found = await self._redis.get(master_key(stream_id))
        return None if found is None else (found.decode() if isinstance(found, bytes) else str(found))

    async def object(self, stream_id: str, rendition: str, file: str) -> bytes | None:
        found = await self._redis.get(object_key(stream_id, rendition, file))
        return None if found is None else (found if isinstance(found, bytes) else str(found).encode())
