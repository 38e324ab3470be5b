"""Transcode job rules: submitting, who may see which job, pages, and the live progress feed."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError
from vidmesh.catalog.v1 import resources_pb2 as catalog_pb2
from vidmesh.transcode.v1 import resources_pb2

from ..runtime.auth import Identity
from ..runtime.calls import RemoteError
from ..runtime.errors import DeadlineExceeded, FieldViolation, InvalidArgument, NotFound, Unavailable
from ..runtime.pages import decode_page_token, encode_page_token, invalid_page_token, query_id
from ..runtime.validation import parse_name
from .store import FINAL_STATES, Job, JobStore, Position, progress_channel

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# Index entries one ListJobs call reads at most while looking for jobs in the asked state.
MAX_SCAN = 2000
KEEPALIVE_SECONDS = 15.0
# How often WatchJob looks whether a QUEUED job's place in line changed.
POSITION_POLL_SECONDS = 1.0
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_SOURCE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


def _position(token: str, query: str) -> Position:
    position = decode_page_token(token, query)
    if isinstance(position, list) and len(position) == 2 and isinstance(position[0], (int, float)) and isinstance(position[1], str):
        return Position(float(position[0]), position[1])
    raise invalid_page_token()


log = logging.getLogger("vidmesh.transcode.jobs")


class Videos(Protocol):
    """Where a submitted job's source duration comes from (the catalog's client)."""

    async def get_video(self, video_id: str) -> catalog_pb2.Video | None: ...


class Jobs:
    def __init__(self, client: redis.Redis, store: JobStore, videos: Videos):
        self._redis = client
        self._store = store
        self._videos = videos

    async def submit(self, video: str, owner: str, source_path: str, request_id: str) -> Job:
        violations = []
        try:
            video_id = parse_name(video, "videos", "video")
        except InvalidArgument as exc:
            violations += exc.violations
        if not owner:
            violations.append(FieldViolation("owner", "required"))
        if not _SOURCE.match(source_path) or ".." in source_path.split("/"):
            violations.append(FieldViolation("source_path", "a blob store key: '/'-separated plain names"))
        if not _REQUEST_ID.match(request_id):
            violations.append(FieldViolation("request_id", "1 to 128 printable ASCII characters"))
        if violations:
            raise InvalidArgument(violations)
        seconds = await self._source_seconds(video_id)
        try:
            return await self._store.submit(
                video_id, owner, source_path, submission_key=f"{video_id}\0{request_id}", source_seconds=seconds
            )
        except RedisError as exc:
            raise Unavailable(f"the job queue is unreachable: {exc}", reason="QUEUE_UNAVAILABLE") from None

    async def _source_seconds(self, video_id: str) -> float:
        """The source's duration as probed at upload; 0 (unknown) if the catalog cannot tell, which
        only places the job as a 60 s source: no reason to refuse the job."""
        try:
            video = await self._videos.get_video(video_id)
        except (Unavailable, DeadlineExceeded, RemoteError) as exc:
            log.warning("source duration unknown, scheduled as the default", extra={"fields": {"video": video_id, "error": str(exc)}})
            return 0.0
        return video.source.duration.ToTimedelta().total_seconds() if video is not None else 0.0

    async def get(self, name: str, caller: Identity) -> Job:
        job = await self._get(name, caller)
        await self._store.add_queue_positions([job])
        return job

    async def _get(self, name: str, caller: Identity) -> Job:
        job = await self._store.get(parse_name(name, "jobs"))
        if job is None or not (caller.is_service or job.owner == caller.owner):
            raise NotFound("job", name)
        return job

    async def list(self, video: str, state: int, page_size: int, page_token: str, caller: Identity) -> tuple[list[Job], str]:
        video_id = parse_name(video, "videos", "video") if video else None
        if page_size < 0:
            raise InvalidArgument(FieldViolation("page_size", "must not be negative"))
        if state not in resources_pb2.JobState.values():
            raise InvalidArgument(FieldViolation("state", "unknown job state"))
        limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        query = query_id(caller.owner, video, state)
        after = _position(page_token, query) if page_token else None
        page = await self._store.page(video_id=video_id, owner=caller.owner, state=state, after=after, limit=limit, max_scan=MAX_SCAN)
        await self._store.add_queue_positions(page.jobs)
        return page.jobs, encode_page_token(query, [page.after.score, page.after.job_id]) if page.after else ""

    async def watch(self, name: str, caller: Identity) -> AsyncIterator[Job]:
        """The job now, then on every change (its place in line too, while QUEUED) and every 15 s,
        ending after a final state."""
        job = await self._get(name, caller)
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(progress_channel(job.name.removeprefix("jobs/")))
        try:
            job = await self.get(name, caller)  # re-read: nothing between get and subscribe is missed
            yield job
            sent = time.monotonic()
            while job.state not in FINAL_STATES:
                queued = job.state == resources_pb2.JOB_STATE_QUEUED
                timeout = POSITION_POLL_SECONDS if queued else KEEPALIVE_SECONDS
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
                if message is not None:
                    update = resources_pb2.Job.FromString(message["data"])
                    # Published before the re-read above: already shown, don't step back.
                    if update.update_time.ToNanoseconds() <= job.update_time.ToNanoseconds():
                        continue
                    job = update
                    await self._store.add_queue_positions([job])
                elif queued:
                    was = job.queue_position
                    await self._store.add_queue_positions([job])
                    if job.queue_position == was and time.monotonic() - sent < KEEPALIVE_SECONDS:
                        continue
                yield job
                sent = time.monotonic()
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves PubSub.aclose unannotated
