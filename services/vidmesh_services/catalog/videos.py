"""Catalog rules: who sees which video, what may change, and how pages are cut.

Every change is a read-modify-write guarded by the video's etag: the store applies it only if
the video is still the version that was read (VideoStore.replace_video). When that fails
because someone else wrote in between (typically the transcoder recording a result while the
owner edits the title), the change is applied again to the fresh version, so neither write is
lost; a caller who sent an etag of their own gets ABORTED instead, since their view is stale.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence

from google.protobuf import field_mask_pb2, timestamp_pb2
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from ..playback.tokens import PlaybackTokens
from ..runtime.auth import Identity
from ..runtime.errors import Aborted, FailedPrecondition, FieldViolation, InvalidArgument, NotFound, PermissionDenied
from ..runtime.pages import decode_page_token, encode_page_token, invalid_page_token, query_id
from ..runtime.validation import parse_name, valid_id
from ..storage.blobs import BlobStore, video_prefixes
from .rules import metadata_violations
from .store import ChangeCursorExpired, StaleEtag, VideoChange, VideoStore

Video = resources_pb2.Video
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_BATCH = 100
DEFAULT_FEED_PAGE, MAX_FEED_PAGE = 500, 1000  # ListVideoChanges and ScanVideos
UPDATABLE_PATHS = frozenset({"title", "description", "tags", "visibility"})
FINAL_STATUSES = (resources_pb2.VIDEO_STATUS_READY, resources_pb2.VIDEO_STATUS_FAILED)
# Rounds of read-modify-write before a change under constant contention gives up (ABORTED); a
# round that lost waits a random moment first (up to 2 ms, doubling to 64 ms), so that writers
# of one video spread out instead of colliding again.
MAX_WRITE_ROUNDS = 16
BACKOFF_FIRST, BACKOFF_MAX = 0.002, 0.064


async def _back_off(round_: int) -> None:
    await asyncio.sleep(random.uniform(0, min(BACKOFF_FIRST * 2**round_, BACKOFF_MAX)))


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def can_see(video: Video, caller: Identity | None) -> bool:
    if video.visibility in (media_pb2.VISIBILITY_PUBLIC, media_pb2.VISIBILITY_UNLISTED):
        return True
    return caller is not None and (caller.is_service or caller.owner == video.owner)


def _feed_page(page_size: int) -> int:
    if page_size < 0:
        raise InvalidArgument(FieldViolation("page_size", "must not be negative"))
    return min(page_size or DEFAULT_FEED_PAGE, MAX_FEED_PAGE)


def _visibility_violation(value: int, field: str) -> list[FieldViolation]:
    if value not in media_pb2.Visibility.values() or value == media_pb2.VISIBILITY_UNSPECIFIED:
        return [FieldViolation(field, "must be VISIBILITY_PUBLIC, VISIBILITY_UNLISTED or VISIBILITY_PRIVATE")]
    return []


def _etag_mismatch(name: str) -> Aborted:
    return Aborted(f"{name} changed since the etag was read; read it again and retry", reason="ETAG_MISMATCH", metadata={"video": name})


class Catalog:
    def __init__(self, store: VideoStore, blobs: BlobStore, tokens: PlaybackTokens | None = None):
        self._store = store
        self._blobs = blobs
        self._tokens = tokens

    # -- reads ------------------------------------------------------------------------------

    async def get(self, name: str, caller: Identity | None, playback_token: str = "") -> Video:
        video_id = parse_name(name, "videos")
        video = await self._store.get_video(video_id)
        if video is None or not (can_see(video, caller) or self._token_grants(playback_token, video.name)):
            raise NotFound("video", name)
        return video

    def _token_grants(self, token: str, name: str) -> bool:
        # A viewer holding a signed playback URL may read what the watch page shows.
        return bool(token and self._tokens and self._tokens.is_valid(token, name))

    async def batch_get(self, names: Sequence[str], caller: Identity | None) -> tuple[list[Video], list[str]]:
        if len(names) > MAX_BATCH:
            raise InvalidArgument(FieldViolation("names", f"at most {MAX_BATCH} names per call"))
        ids = [parse_name(n, "videos", f"names[{i}]") for i, n in enumerate(names)]
        found = await self._store.get_videos(ids)
        videos, missing = [], []
        for name, video_id in zip(names, ids, strict=True):
            video = found.get(video_id)
            if video is not None and can_see(video, caller):
                videos.append(video)
            else:
                missing.append(name)
        return videos, missing

    async def list(self, owner: str, page_size: int, page_token: str, caller: Identity | None) -> tuple[list[Video], str]:
        if page_size < 0:
            raise InvalidArgument(FieldViolation("page_size", "must not be negative"))
        limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)  # larger sizes are clamped, as documented
        own = caller is not None and bool(owner) and owner == caller.owner
        # Bound to what the page shows: the owner filter, and whether the caller sees private videos.
        query = query_id(owner, own)
        cursor = decode_page_token(page_token, query) if page_token else ""
        if not isinstance(cursor, str):
            raise invalid_page_token()
        try:
            page = await self._store.list_videos(owner=owner or None, include_non_public=own, limit=limit, cursor=cursor)
        except ValueError:
            raise invalid_page_token() from None
        return page.videos, encode_page_token(query, page.next_cursor) if page.next_cursor else ""

    # -- for copies of the catalog (service identity only) -------------------------------------

    async def changes(self, cursor: str, page_size: int) -> tuple[Sequence[VideoChange], str]:
        limit = _feed_page(page_size)
        if not cursor:
            return [], await self._store.change_cursor()
        try:
            page = await self._store.changes_after(cursor, limit=limit)
        except ValueError:
            raise InvalidArgument(FieldViolation("cursor", "not a cursor this catalog issued")) from None
        except ChangeCursorExpired:
            raise FailedPrecondition(
                "the cursor is older than the changes the catalog keeps; copy the catalog again with ScanVideos",
                reason="CHANGE_CURSOR_EXPIRED",
            ) from None
        return page.changes, page.cursor

    async def scan(self, page_size: int, page_token: str) -> tuple[Sequence[Video], str, str]:
        """A page of every video, its next token, and (first page) the feed's position before it."""
        limit = _feed_page(page_size)
        query = query_id("scan")
        cursor = decode_page_token(page_token, query) if page_token else ""
        if not isinstance(cursor, str):
            raise invalid_page_token()
        changes_cursor = "" if page_token else await self._store.change_cursor()
        try:
            page = await self._store.scan_videos(limit=limit, cursor=cursor)
        except ValueError:
            raise invalid_page_token() from None
        return page.videos, encode_page_token(query, page.next_cursor) if page.next_cursor else "", changes_cursor

    # -- changes by owners ------------------------------------------------------------------

    async def _owned(self, name: str, caller: Identity, field: str = "name") -> Video | None:
        """The video if caller owns it; None if it is gone; NOT_FOUND if caller may not see it."""
        video_id = parse_name(name, "videos", field)
        video = await self._store.get_video(video_id)
        if video is None:
            return None
        if not can_see(video, caller):
            raise NotFound("video", name)
        if video.owner != caller.owner:
            raise PermissionDenied("video", name, "only the owner may change this video", owner=video.owner)
        return video

    async def update(self, change: Video, mask: field_mask_pb2.FieldMask, caller: Identity) -> Video:
        paths = list(mask.paths)
        if not paths:
            raise InvalidArgument(FieldViolation("update_mask", "name at least one field"))
        bad = [p for p in paths if p not in UPDATABLE_PATHS]
        if bad:
            raise InvalidArgument(
                [FieldViolation("update_mask", f"{p!r} cannot be updated; allowed: {sorted(UPDATABLE_PATHS)}") for p in bad]
            )

        async def read() -> Video:
            video = await self._owned(change.name, caller, "video.name")
            if video is None:
                raise NotFound("video", change.name)
            if change.etag and change.etag != video.etag:
                raise _etag_mismatch(video.name)
            return video

        def apply(video: Video) -> None:
            mask.MergeMessage(change, video, replace_repeated_field=True)
            violations = metadata_violations(video.title, video.description, list(video.tags), "video.")
            if "visibility" in paths:
                violations += _visibility_violation(video.visibility, "video.visibility")
            if violations:
                raise InvalidArgument(violations)

        return await self._change(read, apply, retry=not change.etag)

    async def delete(self, name: str, caller: Identity, etag: str = "") -> None:
        for round_ in range(MAX_WRITE_ROUNDS):
            video = await self._owned(name, caller)
            if video is None:
                return  # already gone: deletes are idempotent
            if etag and etag != video.etag:
                raise _etag_mismatch(video.name)
            try:
                # Metadata first: once it is gone nobody can reach the bytes, and a crash in
                # between leaves unreachable blobs rather than a video whose media has vanished.
                await self._store.delete_video(video.id, etag=video.etag)
            except StaleEtag:
                if etag:
                    raise _etag_mismatch(video.name) from None
                await _back_off(round_)
                continue  # changed meanwhile (e.g. its transcode finished): decide again on the new version
            for prefix in video_prefixes(video.id):
                await asyncio.to_thread(self._blobs.delete_prefix, prefix)
            return
        raise Aborted(f"{name} keeps changing; retry", reason="CONTENTION", metadata={"video": name})

    # -- changes by the platform ------------------------------------------------------------

    async def create(self, video_id: str, owner: str, fields: Video, source: media_pb2.MediaInfo | None) -> Video:
        violations = metadata_violations(fields.title, fields.description, list(fields.tags), "video.")
        if not valid_id(video_id):
            violations.append(FieldViolation("video_id", "1 to 64 characters of A-Z, a-z, 0-9, '-' and '_'"))
        if not owner:
            violations.append(FieldViolation("owner", "required"))
        if fields.visibility:
            violations += _visibility_violation(fields.visibility, "video.visibility")
        if violations:
            raise InvalidArgument(violations)
        now = _now()
        stored = Video(
            name=f"videos/{video_id}",
            id=video_id,
            owner=owner,
            title=fields.title,
            description=fields.description,
            tags=fields.tags,
            visibility=fields.visibility or media_pb2.VISIBILITY_PRIVATE,
            status=resources_pb2.VIDEO_STATUS_PROCESSING,
            create_time=now,
            update_time=now,
        )
        if source is not None:
            stored.source.CopyFrom(source)
        etag = await self._store.insert_video(stored)
        if etag is not None:
            stored.etag = etag
            return stored
        existing = await self._store.get_video(video_id)
        if existing is None or existing.owner != owner:
            raise FailedPrecondition(f"video id {video_id} is taken", reason="VIDEO_ID_TAKEN", metadata={"video": f"videos/{video_id}"})
        return existing  # a retried create

    async def set_processing_result(
        self,
        name: str,
        status: int,
        failure_reason: str,
        renditions: Sequence[media_pb2.Rendition],
        master_playlist_path: str,
    ) -> Video:
        video_id = parse_name(name, "videos")
        violations = []
        if status not in (resources_pb2.VIDEO_STATUS_PROCESSING, *FINAL_STATUSES):
            violations.append(FieldViolation("status", "must be PROCESSING, READY or FAILED"))
        if status == resources_pb2.VIDEO_STATUS_FAILED and not failure_reason:
            violations.append(FieldViolation("failure_reason", "required when status is FAILED"))
        if status == resources_pb2.VIDEO_STATUS_READY and not (renditions and master_playlist_path):
            violations.append(FieldViolation("renditions", "renditions and master_playlist_path are required when READY"))
        if violations:
            raise InvalidArgument(violations)

        async def read() -> Video:
            video = await self._store.get_video(video_id)
            if video is None:
                raise NotFound("video", name)
            return video

        def apply(video: Video) -> None:
            video.status = status  # type: ignore[assignment]
            video.failure_reason = failure_reason if status == resources_pb2.VIDEO_STATUS_FAILED else ""
            del video.renditions[:]
            video.renditions.extend(renditions)
            video.master_playlist_path = master_playlist_path

        return await self._change(read, apply, retry=True)

    # -- the write loop ---------------------------------------------------------------------

    async def _change(self, read: Callable[[], Awaitable[Video]], apply: Callable[[Video], None], *, retry: bool) -> Video:
        """Reads, applies and writes back under the read's etag; on a concurrent write, starts
        over from a fresh read (retry) or fails ABORTED (the caller named an etag)."""
        for round_ in range(MAX_WRITE_ROUNDS):
            video = await read()
            etag = video.etag
            apply(video)
            video.update_time.CopyFrom(_now())
            try:
                video.etag = await self._store.replace_video(video, etag=etag)
            except StaleEtag:
                if not retry:
                    raise _etag_mismatch(video.name) from None
                await _back_off(round_)
                continue
            return video
        raise Aborted(f"{video.name} keeps changing; retry", reason="CONTENTION", metadata={"video": video.name})
