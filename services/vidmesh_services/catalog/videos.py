"""Catalog rules: who sees which video, what may change, and how pages are cut."""

from __future__ import annotations

import asyncio
from typing import Sequence

from google.protobuf import field_mask_pb2, timestamp_pb2
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from ..runtime.auth import Identity
from ..runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, PermissionDenied
from ..runtime.layout import video_prefixes
from ..runtime.playback_tokens import PlaybackTokens
from ..runtime.ports import BlobStore, MetadataStore
from ..runtime.validation import metadata_violations, parse_name

Video = resources_pb2.Video
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_BATCH = 100
UPDATABLE_PATHS = frozenset({"title", "description", "tags", "visibility"})
FINAL_STATUSES = (resources_pb2.VIDEO_STATUS_READY, resources_pb2.VIDEO_STATUS_FAILED)


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def can_see(video: Video, caller: Identity | None) -> bool:
    if video.visibility in (media_pb2.VISIBILITY_PUBLIC, media_pb2.VISIBILITY_UNLISTED):
        return True
    return caller is not None and (caller.is_service or caller.owner == video.owner)


def _visibility_violation(value: int, field: str) -> list[FieldViolation]:
    if value not in media_pb2.Visibility.values() or value == media_pb2.VISIBILITY_UNSPECIFIED:
        return [FieldViolation(field, "must be VISIBILITY_PUBLIC, VISIBILITY_UNLISTED or VISIBILITY_PRIVATE")]
    return []


class Catalog:
    def __init__(self, store: MetadataStore, blobs: BlobStore, tokens: PlaybackTokens | None = None):
        self._store = store
        self._blobs = blobs
        self._tokens = tokens

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
        for name, video_id in zip(names, ids):
            video = found.get(video_id)
            if video is not None and can_see(video, caller):
                videos.append(video)
            else:
                missing.append(name)
        return videos, missing

    async def list(self, owner: str, page_size: int, page_token: str, caller: Identity | None) -> tuple[list[Video], str]:
        if page_size < 0:
            raise InvalidArgument(FieldViolation("page_size", "must not be negative"))
        limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        own = caller is not None and bool(owner) and owner == caller.owner
        try:
            page = await self._store.list_videos(
                owner=owner or None, include_non_public=own, limit=limit, cursor=page_token
            )
        except ValueError:
            raise InvalidArgument(FieldViolation("page_token", "not a token this server issued")) from None
        return page.videos, page.next_cursor

    async def _owned(self, name: str, caller: Identity, field: str = "name") -> Video:
        video_id = parse_name(name, "videos", field)
        video = await self._store.get_video(video_id)
        if video is None or not can_see(video, caller):
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
        video = await self._owned(change.name, caller, "video.name")
        updated = Video()
        updated.CopyFrom(video)
        mask.MergeMessage(change, updated, replace_repeated_field=True)
        violations = metadata_violations(updated.title, updated.description, list(updated.tags), "video.")
        if "visibility" in paths:
            violations += _visibility_violation(updated.visibility, "video.visibility")
        if violations:
            raise InvalidArgument(violations)
        updated.update_time.CopyFrom(_now())
        await self._store.replace_video(updated)
        return updated

    async def delete(self, name: str, caller: Identity) -> None:
        video_id = parse_name(name, "videos")
        video = await self._store.get_video(video_id)
        if video is None:
            return  # already gone: deletes are idempotent
        if video.owner != caller.owner:
            if not can_see(video, caller):
                raise NotFound("video", name)
            raise PermissionDenied("video", name, "only the owner may delete this video", owner=video.owner)
        # Metadata first: once it is gone nobody can reach the bytes, and a crash in between
        # leaves unreachable blobs rather than a video whose media has vanished.
        await self._store.delete_video(video_id)
        for prefix in video_prefixes(video_id):
            await asyncio.to_thread(self._blobs.delete_prefix, prefix)

    async def create(self, video: Video) -> Video:
        violations = metadata_violations(video.title, video.description, list(video.tags), "video.")
        if not video.id or parse_name(f"videos/{video.id}", "videos", "video.id") != video.id:
            violations.append(FieldViolation("video.id", "required"))
        if not video.owner:
            violations.append(FieldViolation("video.owner", "required"))
        if violations:
            raise InvalidArgument(violations)
        stored = Video()
        stored.CopyFrom(video)
        stored.name = f"videos/{video.id}"
        if stored.visibility == media_pb2.VISIBILITY_UNSPECIFIED:
            stored.visibility = media_pb2.VISIBILITY_PRIVATE
        if stored.status == resources_pb2.VIDEO_STATUS_UNSPECIFIED:
            stored.status = resources_pb2.VIDEO_STATUS_PROCESSING
        now = _now()
        stored.create_time.CopyFrom(now)
        stored.update_time.CopyFrom(now)
        if await self._store.insert_video(stored):
            return stored
        existing = await self._store.get_video(video.id)
        if existing is None or existing.owner != video.owner:
            raise FailedPrecondition(f"video id {video.id} is taken", reason="VIDEO_ID_TAKEN")
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
        video = await self._store.get_video(video_id)
        if video is None:
            raise NotFound("video", name)
        video.status = status
        video.failure_reason = failure_reason if status == resources_pb2.VIDEO_STATUS_FAILED else ""
        del video.renditions[:]
        video.renditions.extend(renditions)
        video.master_playlist_path = master_playlist_path
        video.update_time.CopyFrom(_now())
        await self._store.replace_video(video)
        return video
