"""Resumable uploads: the rules, independent of gRPC.

A chunk is recorded in Redis only after its bytes are durably in the blob store, so the set
of recorded chunks never claims more than the store holds; re-sending a chunk is harmless.

An upload is one multipart write in the blob store, begun at init: every chunk is written in
place as part `index` (the filesystem store pwrites it into one sparse file, so disk is taken
only as chunks arrive), and CompleteUpload publishes the whole as the video's source without
copying it.

Quotas (per owner, UploadLimits): InitUpload counts the declared size against the owner's open
uploads (how many, and their bytes) and stored bytes, atomically in Redis, and refuses with
RESOURCE_EXHAUSTED past a limit. Completing, aborting or expiring gives the open share back; a
completed upload's size then counts as stored until its video is deleted. Deletions happen in
the catalog, so the stored figure is brought up to date here, lazily: when it would refuse an
upload, the sources that no longer exist stop counting and the check runs once more.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from vidmesh.catalog.v1 import resources_pb2
from vidmesh.transcode.v1 import resources_pb2 as transcode_pb2
from vidmesh.type.v1 import media_pb2

from ..catalog.rules import metadata_violations
from ..media import BadMediaError
from ..runtime.auth import Identity
from ..runtime.config import UploadLimits
from ..runtime.errors import (
    DataLoss,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    QuotaExceeded,
    ResourceExhausted,
    VidmeshError,
    backend_unavailable,
)
from ..runtime.ids import new_id
from ..runtime.validation import parse_name
from ..storage.blobs import BlobChecksumMismatch, BlobStore, source_key, upload_prefix
from .checksum import Window, crc32c, matches
from .probe import Prober
from .store import QuotaRefused, Upload, UploadState

log = logging.getLogger("vidmesh.upload")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_LISTED_MISSING = 50


class VideoRegistry(Protocol):
    """Where completed uploads become videos: the catalog (catalog.client.CatalogClient)."""

    async def create_video(
        self, video_id: str, owner: str, fields: resources_pb2.Video, source: media_pb2.MediaInfo
    ) -> resources_pb2.Video: ...


class JobQueue(Protocol):
    """Where transcode jobs go: the transcoder (transcode.client.TranscodeClient)."""

    async def submit_job(self, video_id: str, owner: str, source_key: str, request_id: str) -> transcode_pb2.Job: ...


def _not_yours(name: str) -> NotFound:
    # Uploads are visible to their owner only, and the platform never reveals what a caller may
    # not see (as the catalog does for private videos): another owner's upload does not exist.
    return NotFound("upload", name, reason="UPLOAD_NOT_FOUND")


def _quota_exceeded(upload: Upload, refused: QuotaRefused) -> QuotaExceeded:
    """The refusal as callers see it: the owner, the limit (as configured) and the figures."""
    owner, size, used, maximum = upload.owner, upload.size_bytes, refused.used, refused.maximum
    setting = f"upload.{refused.limit}"
    requested = size
    if refused.limit == "max_open_uploads":
        reason, requested = "OPEN_UPLOADS_QUOTA_EXCEEDED", 1
        description = f"{owner} has {used} open uploads, the most {setting} allows ({maximum}); complete or abort one first"
    elif refused.limit == "max_open_bytes":
        reason = "OPEN_UPLOAD_BYTES_QUOTA_EXCEEDED"
        description = (
            f"{owner}'s open uploads declare {used} bytes; {size} more would pass {setting} ({maximum} bytes); complete or abort one first"
        )
    else:
        reason = "STORED_BYTES_QUOTA_EXCEEDED"
        description = (
            f"{owner} stores {used} bytes (uploaded sources and open uploads); {size} more would pass {setting} "
            f"({maximum} bytes); delete videos to make room"
        )
    metadata = {"limit": refused.limit, "used": str(used), "requested": str(requested), "maximum": str(maximum)}
    return QuotaExceeded(owner, description, reason=reason, metadata=metadata)


@dataclass(frozen=True)
class Chunk:
    upload_name: str
    index: int
    data: bytes | Window  # a Window: the chunk still inside the message that carried it
    crc32c: int


@dataclass(frozen=True)
class ChunkReport:
    recorded: list[int]
    received_count: int
    chunk_count: int


@dataclass(frozen=True)
class Status:
    upload: Upload
    received: list[int]
    expire_time: float


class Uploads:
    def __init__(
        self,
        state: UploadState,
        blobs: BlobStore,
        prober: Prober,
        videos: VideoRegistry,
        jobs: JobQueue,
        limits: UploadLimits,
    ):
        self._state = state
        self._blobs = blobs
        self._prober = prober
        self._videos = videos
        self._jobs = jobs
        self._limits = limits

    # -- starting ---------------------------------------------------------------------------

    async def init(
        self,
        caller: Identity,
        *,
        filename: str,
        size_bytes: int,
        content_type: str,
        sha256: str,
        chunk_size: int,
        title: str,
        description: str,
        tags: list[str],
        visibility: int,
    ) -> tuple[Upload, float]:
        limits = self._limits
        chunk_size = chunk_size or limits.default_chunk_size
        violations = metadata_violations(title, description, tags)
        if not filename or len(filename) > 255 or "/" in filename or "\0" in filename:
            violations.append(FieldViolation("filename", "1-255 characters, no '/'"))
        if size_bytes < 1:
            violations.append(FieldViolation("size_bytes", "must be at least 1"))
        elif size_bytes > limits.max_file_size:
            violations.append(FieldViolation("size_bytes", f"at most {limits.max_file_size} bytes on this server"))
        if not limits.min_chunk_size <= chunk_size <= limits.max_chunk_size:
            violations.append(FieldViolation("chunk_size_bytes", f"between {limits.min_chunk_size} and {limits.max_chunk_size}, or 0"))
        if sha256 and not _SHA256.match(sha256):
            violations.append(FieldViolation("sha256", "64 lowercase hex digits"))
        if visibility not in media_pb2.Visibility.values():
            violations.append(FieldViolation("visibility", "unknown value"))
        if violations:
            raise InvalidArgument(violations)
        upload = Upload(
            upload_id=new_id(16),
            owner=caller.owner,
            video_id=new_id(),
            filename=filename,
            size_bytes=size_bytes,
            chunk_size=chunk_size,
            chunk_count=math.ceil(size_bytes / chunk_size),
            content_type=content_type,
            sha256=sha256,
            title=title,
            description=description,
            tags=list(tags),
            visibility=visibility or media_pb2.VISIBILITY_PRIVATE,
            created_at=time.time(),
        )
        expires = await self._reserve(upload)
        try:
            await asyncio.to_thread(
                self._blobs.begin_multipart,
                upload_prefix(upload.upload_id),
                source_key(upload.video_id),
                size=upload.size_bytes,
                part_size=upload.chunk_size,
            )
        except BaseException:
            await self._state.forget(upload.upload_id)
            await asyncio.to_thread(self._blobs.abort_multipart, upload_prefix(upload.upload_id))
            raise
        log.info("upload started", extra={"fields": {"upload": upload.upload_id, "size": size_bytes, "owner": caller.owner}})
        return upload, expires

    async def _reserve(self, upload: Upload) -> float:
        """Stores the upload within its owner's quotas; returns its expiry time."""
        try:
            return await self._state.create(upload, self._limits)
        except QuotaRefused as refused:
            if refused.limit != "max_stored_bytes" or not await self._forget_deleted_sources(upload.owner):
                raise _quota_exceeded(upload, refused) from None
        try:
            return await self._state.create(upload, self._limits)
        except QuotaRefused as refused:
            raise _quota_exceeded(upload, refused) from None

    async def _forget_deleted_sources(self, owner: str) -> bool:
        """Stops counting the owner's sources whose videos were deleted; True if there were any."""
        videos = await self._state.stored_videos(owner)
        gone = await asyncio.to_thread(lambda: [v for v in videos if self._blobs.size(source_key(v)) is None])
        if gone:
            await self._state.unstore(owner, gone)
            log.info("deleted sources no longer count", extra={"fields": {"owner": owner, "videos": len(gone)}})
        return bool(gone)

    # -- receiving --------------------------------------------------------------------------

    async def _owned(self, name: str, caller: Identity) -> Upload:
        upload_id = parse_name(name, "uploads")
        upload = await self._state.get(upload_id)
        if upload is None:
            raise NotFound("upload", name, reason="UPLOAD_NOT_FOUND")
        if upload.owner != caller.owner:
            raise _not_yours(name)
        return upload

    async def receive(self, caller: Identity, chunks: AsyncIterator[Chunk]) -> ChunkReport:
        upload: Upload | None = None
        recorded: list[int] = []
        received: set[int] = set()
        # The previous chunk's check, write and record run while the next chunk arrives: at most
        # one chunk is being stored and one held, so memory stays bounded. They finish in order,
        # so an error names the first bad chunk and every chunk before it is recorded.
        storing: asyncio.Future[None] | None = None
        try:
            async for chunk in chunks:
                if upload is None:
                    upload = await self._owned(chunk.upload_name, caller)
                    received = await self._state.received(upload.upload_id)
                elif chunk.upload_name != f"uploads/{upload.upload_id}":
                    raise InvalidArgument(FieldViolation("name", "every message of one call must name the same upload"))
                self._check_shape(upload, chunk)
                if storing is not None:
                    await storing
                    storing = None
                if chunk.index in received:
                    recorded.append(chunk.index)
                    continue
                storing = asyncio.ensure_future(self._store(upload, chunk, received, recorded))
            if storing is not None:
                await storing
                storing = None
        except BaseException:
            if storing is not None:
                await storing  # the earlier chunk is intact: it is recorded, or its own error wins
            raise
        if upload is None:
            raise InvalidArgument(FieldViolation("name", "the call carried no chunk"))
        return ChunkReport(recorded=recorded, received_count=len(received), chunk_count=upload.chunk_count)

    async def _store(self, upload: Upload, chunk: Chunk, received: set[int], recorded: list[int]) -> None:
        await asyncio.to_thread(self._verify_and_write, upload, chunk)
        await self._state.record_chunk(upload.upload_id, chunk.index)
        received.add(chunk.index)
        recorded.append(chunk.index)

    def _verify_and_write(self, upload: Upload, chunk: Chunk) -> None:
        """In a worker thread: the CRC32C (checked before writing, so a damaged re-send never
        overwrites good bytes), then the durable write of the part."""
        if not matches(chunk.data, chunk.crc32c):
            actual = crc32c(chunk.data)
            raise DataLoss(
                f"chunk {chunk.index} arrived damaged: crc32c {actual:08x}, expected {chunk.crc32c:08x}; send it again",
                metadata={"index": str(chunk.index)},
            )
        data = chunk.data.view() if isinstance(chunk.data, Window) else chunk.data
        try:
            self._blobs.write_part(upload_prefix(upload.upload_id), chunk.index, data)
        except FileNotFoundError:  # aborted, expired or completed meanwhile
            raise NotFound("upload", f"uploads/{upload.upload_id}", reason="UPLOAD_NOT_FOUND") from None
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            log.error("no room for a chunk: %s", exc, extra={"fields": {"upload": upload.upload_id, "index": chunk.index}})
            raise ResourceExhausted(
                f"the server's storage is full: chunk {chunk.index} was not stored; send it again later",
                reason="STORAGE_FULL",
                metadata={"index": str(chunk.index)},
            ) from None

    @staticmethod
    def _check_shape(upload: Upload, chunk: Chunk) -> None:
        if not 0 <= chunk.index < upload.chunk_count:
            raise InvalidArgument(FieldViolation("index", f"must be in [0, {upload.chunk_count}), got {chunk.index}"))
        expected = upload.chunk_length(chunk.index)
        if len(chunk.data) != expected:
            raise InvalidArgument(
                FieldViolation("data", f"chunk {chunk.index} must be {expected} bytes, got {len(chunk.data)}"),
                reason="CHUNK_SIZE_MISMATCH",
            )

    async def status(self, caller: Identity, name: str) -> Status:
        upload = await self._owned(name, caller)
        received = sorted(await self._state.received(upload.upload_id))
        return Status(upload=upload, received=received, expire_time=await self._state.expiry(upload.upload_id))

    # -- finishing --------------------------------------------------------------------------

    async def complete(self, caller: Identity, name: str) -> str:
        """Returns the video id. Safe to retry: a completed upload answers with its video."""
        upload_id = parse_name(name, "uploads")
        upload = await self._state.get(upload_id)
        if upload is None:
            done = await self._state.done(upload_id)
            if done is None:
                raise NotFound("upload", name, reason="UPLOAD_NOT_FOUND")
            owner, video_id = done
            if owner != caller.owner:
                raise _not_yours(name)
            return video_id
        if upload.owner != caller.owner:
            raise _not_yours(name)
        if not await self._state.lock(upload_id):
            raise FailedPrecondition("this upload is being completed by another call; retry shortly", reason="COMPLETE_IN_PROGRESS")
        try:
            return await self._complete_locked(upload)
        finally:
            await self._state.unlock(upload_id)

    async def _complete_locked(self, upload: Upload) -> str:
        received = await self._state.received(upload.upload_id)
        missing = [i for i in range(upload.chunk_count) if i not in received]
        if missing:
            listed = ",".join(map(str, missing[:MAX_LISTED_MISSING]))
            raise FailedPrecondition(
                f"{len(missing)} of {upload.chunk_count} chunks are missing: {listed}{'...' if len(missing) > MAX_LISTED_MISSING else ''}",
                reason="CHUNKS_MISSING",
                metadata={"missing_count": str(len(missing)), "missing_indexes": listed},
            )
        source = source_key(upload.video_id)
        try:
            # No copy: the parts already sit in place; this checks the sha256 if one was given,
            # then publishes them as the source (a rename on the filesystem store).
            await asyncio.to_thread(self._blobs.complete_multipart, upload_prefix(upload.upload_id), sha256=upload.sha256)
        except BlobChecksumMismatch as exc:
            raise DataLoss(
                f"the assembled file's sha256 is {exc.actual}, not the {upload.sha256} given at init",
                reason="SHA256_MISMATCH",
            ) from None
        try:
            media = await self._prober.probe(source)
        except BadMediaError as exc:
            await self._discard(upload)
            raise InvalidArgument(FieldViolation("file", str(exc)), reason=exc.reason) from None
        media.size_bytes = upload.size_bytes
        fields = resources_pb2.Video(
            title=upload.title,
            description=upload.description,
            tags=upload.tags,
            visibility=upload.visibility,  # type: ignore[arg-type]
        )
        await self._videos.create_video(upload.video_id, upload.owner, fields, media)
        # The upload's name is the natural key of its one job: a retried complete queues nothing new.
        await self._jobs.submit_job(upload.video_id, upload.owner, source, request_id=f"uploads/{upload.upload_id}")
        await self._state.mark_done(upload)
        await asyncio.to_thread(self._blobs.abort_multipart, upload_prefix(upload.upload_id))  # bookkeeping only now
        log.info("upload completed", extra={"fields": {"upload": upload.upload_id, "video": upload.video_id}})
        return upload.video_id

    async def _discard(self, upload: Upload) -> None:
        await self._state.forget(upload.upload_id)
        await asyncio.to_thread(self._blobs.abort_multipart, upload_prefix(upload.upload_id))
        await asyncio.to_thread(self._blobs.delete_prefix, f"raw/{upload.video_id}")

    async def abort(self, caller: Identity, name: str) -> None:
        upload_id = parse_name(name, "uploads")
        upload = await self._state.get(upload_id)
        if upload is None:
            return  # already gone (aborted, expired or completed): abort is idempotent
        if upload.owner != caller.owner:
            raise _not_yours(name)
        await self._discard(upload)

    # -- expiry -----------------------------------------------------------------------------

    async def sweep_expired(self, now: float | None = None) -> int:
        """Removes the parts and state of uploads past their expiry. Returns how many."""
        ids = await self._state.expired(time.time() if now is None else now)
        for upload_id in ids:
            await self._state.forget(upload_id)
            await asyncio.to_thread(self._blobs.abort_multipart, upload_prefix(upload_id))
        if ids:
            log.info("expired uploads removed", extra={"fields": {"count": len(ids)}})
        return len(ids)

    async def run_janitor(self, interval: float) -> None:
        while True:
            try:
                await self.sweep_expired()
            except Exception as exc:
                # Redis errors are no builtin ConnectionError: unlisted, an outage would end the janitor.
                if not isinstance(exc, (VidmeshError, OSError)) and backend_unavailable(exc) is None:
                    raise
                log.warning("janitor pass failed: %s", exc)
            await asyncio.sleep(interval)
