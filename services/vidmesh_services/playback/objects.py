"""Playback rules: which HLS object a path names, who may read it, and how it is sent.

Objects are read from the blob store under `hls/{video}/{version}/`. Caching is decided here
because the edge caches trust it: versioned objects never change; playlists never change either
but may disappear (a delete, a switch to private), so browsers keep them long and shared caches
briefly (config `hls`); and anything fetched with a token is private to that viewer.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from ..runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, PermissionDenied
from ..storage.blobs import AUDIO_FOLDER, BlobStore, hls_prefix
from .tokens import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, MIN_TTL_SECONDS, InvalidToken, PlaybackTokens

Video = resources_pb2.Video
# Looks a video up with the service's own identity (sees private videos); None if absent.
VideoLookup = Callable[[str], Awaitable[Video | None]]

# A plain file or folder name: no separators, no leading dot (staging folders start with one).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/mp4",
    ".mp4": "video/mp4",
    ".ts": "video/mp2t",
    ".aac": "audio/aac",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt; charset=utf-8",
}
IMMUTABLE = "public, max-age=31536000, immutable"
# Browsers may keep what one viewer fetched with a token; shared caches must not.
PRIVATE = "private, max-age=60"
# Quoted URI attributes in playlists (EXT-X-MAP, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF).
_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')


def content_type_of(path: str) -> str:
    """The media type of the object at `path` inside a version: fMP4 is audio/mp4 in the audio
    track's folder (RFC 4337), video/mp4 everywhere else."""
    suffix = path[path.rfind(".") :] if "." in path else ""
    if path.startswith(f"{AUDIO_FOLDER}/") and suffix in (".m4s", ".mp4"):
        return "audio/mp4"
    return CONTENT_TYPES.get(suffix, "application/octet-stream")


@dataclass(frozen=True)
class PlaybackObject:
    data: bytes
    content_type: str
    cache_control: str


@dataclass(frozen=True)
class SignedUrl:
    url: str
    token: str
    expires: int


def plain_name(value: str, field: str) -> str:
    if not _PLAIN_NAME.fullmatch(value) or ".." in value:
        raise InvalidArgument(FieldViolation(field, "must be a plain file or folder name"))
    return value


def with_token(uri: str, token: str) -> str:
    """Adds the token query parameter to a relative URI, before any #fragment."""
    path, hash_, fragment = uri.partition("#")
    separator = "&" if "?" in path else "?"
    return f"{path}{separator}token={token}{hash_}{fragment}"


def sign_playlist(text: str, token: str) -> str:
    """Carries the token onto every URI of an HLS playlist, so relative fetches keep access."""
    lines = []
    for line in text.splitlines():
        if line.startswith("#"):
            line = _URI_ATTRIBUTE.sub(lambda m: f'URI="{with_token(m.group(1), token)}"', line)
        elif line.strip():
            line = with_token(line.strip(), token)
        lines.append(line)
    return "\n".join(lines) + "\n"


def sign_storyboard(text: str, token: str) -> str:
    """Carries the token onto the sprite URIs of a WebVTT thumbnail track (the cue payloads)."""
    lines = []
    for line in text.splitlines():
        if line and "-->" not in line and not line.startswith("WEBVTT") and ("#xywh=" in line or line.endswith(".jpg")):
            line = with_token(line, token)
        lines.append(line)
    return "\n".join(lines) + "\n"


def version_of(video: Video) -> str:
    """The version folder of the video's current output: /hls/{video}/{version}/master.m3u8
    (videos transcoded before that form was documented say hls/... without the slash)."""
    parts = video.master_playlist_path.lstrip("/").split("/")
    return parts[2] if len(parts) == 4 else ""


class Playback:
    def __init__(
        self, blobs: BlobStore, lookup: VideoLookup, tokens: PlaybackTokens, playlist_cache_control: str, lookup_ttl_seconds: float = 2.0
    ):
        self._blobs = blobs
        self._lookup = lookup
        self._tokens = tokens
        self._playlist_cache_control = playlist_cache_control
        # Segment misses arrive in bursts of one video; a short memory spares the catalog
        # a call per object while keeping deletes and visibility changes prompt.
        self._lookup_ttl = lookup_ttl_seconds
        self._recent: dict[str, tuple[float, Video | None]] = {}

    async def read(self, video_id: str, version: str, parts: list[tuple[str, str]], token: str) -> PlaybackObject:
        """Reads hls/{video}/{version}/{parts...}; parts are (value, field name) pairs to validate."""
        plain_name(video_id, "video_id")
        plain_name(version, "version")
        path = "/".join(plain_name(value, field) for value, field in parts)
        await self._authorize(video_id, token)
        key = f"{hls_prefix(video_id)}/{version}/{path}"
        try:
            data = await asyncio.to_thread(self._read_blob, key)
        except FileNotFoundError:
            raise NotFound("playback object", f"/{key}") from None
        suffix = path[path.rfind(".") :] if "." in path else ""
        content_type = content_type_of(path)
        if token:
            if suffix == ".m3u8":
                data = sign_playlist(data.decode(), token).encode()
            elif suffix == ".vtt":
                data = sign_storyboard(data.decode(), token).encode()
            return PlaybackObject(data, content_type, PRIVATE)
        return PlaybackObject(data, content_type, self._playlist_cache_control if suffix == ".m3u8" else IMMUTABLE)

    async def _authorize(self, video_id: str, token: str) -> None:
        name = f"videos/{video_id}"
        video = await self._video(video_id)
        if video is None:
            raise NotFound("video", name)
        if token:
            try:
                self._tokens.verify(token, name)
            except InvalidToken as exc:
                raise PermissionDenied("video", name, f"playback token refused: {exc}", reason="INVALID_PLAYBACK_TOKEN") from None
        elif video.visibility == media_pb2.VISIBILITY_PRIVATE:
            raise NotFound("video", name)  # private videos are not revealed without a token

    async def _video(self, video_id: str) -> Video | None:
        now = time.monotonic()
        remembered = self._recent.get(video_id)
        if remembered and remembered[0] > now:
            return remembered[1]
        video = await self._lookup(video_id)
        if len(self._recent) > 10_000:
            self._recent.clear()
        self._recent[video_id] = (now + self._lookup_ttl, video)
        return video

    def _read_blob(self, key: str) -> bytes:
        with self._blobs.open_read(key) as f:
            return f.read()

    async def create_url(self, name: str, owner: str, ttl_seconds: int) -> SignedUrl:
        """A signed master-playlist URL for the owner of a READY video."""
        collection, _, video_id = name.partition("/")
        if collection != "videos":
            if collection == "streams":
                raise NotFound("stream", name)  # live streams are not served yet
            raise InvalidArgument(FieldViolation("name", 'must be "videos/{video}" or "streams/{stream}"'))
        plain_name(video_id, "name")
        ttl = ttl_seconds or DEFAULT_TTL_SECONDS
        if not MIN_TTL_SECONDS <= ttl <= MAX_TTL_SECONDS:
            raise InvalidArgument(FieldViolation("ttl", "must be between 1 minute and 24 hours"))
        video = await self._lookup(video_id)  # fresh: ownership is decided on current data
        if video is None or (video.owner != owner and video.visibility == media_pb2.VISIBILITY_PRIVATE):
            raise NotFound("video", name)
        if video.owner != owner:
            raise PermissionDenied("video", name, "only the owner may create playback URLs", owner=video.owner)
        version = version_of(video)
        if video.status != resources_pb2.VIDEO_STATUS_READY or not version:
            raise FailedPrecondition(f"{name} is not READY yet", reason="VIDEO_NOT_READY")
        token, expires = self._tokens.sign(name, ttl)
        return SignedUrl(f"/hls/{video_id}/{version}/master.m3u8?token={token}", token, expires)
