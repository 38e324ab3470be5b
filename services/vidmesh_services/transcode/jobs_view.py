"""Reading jobs: who may see which, pages, and the live progress feed."""

from __future__ import annotations

import base64
from typing import AsyncIterator

import redis.asyncio as redis
from vidmesh.transcode.v1 import resources_pb2

from ..runtime.auth import Identity
from ..runtime.errors import FieldViolation, InvalidArgument, NotFound
from ..runtime.jobs import FINAL_STATES, Job, JobStore, progress_channel
from ..runtime.validation import parse_name

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
KEEPALIVE_SECONDS = 15.0


class JobsView:
    def __init__(self, client: redis.Redis, store: JobStore):
        self._redis = client
        self._store = store

    async def get(self, name: str, caller: Identity) -> Job:
        job = await self._store.get(parse_name(name, "jobs"))
        if job is None or not (caller.is_service or job.owner == caller.owner):
            raise NotFound("job", name)
        return job

    async def list(self, video: str, state: int, page_size: int, page_token: str, caller: Identity) -> tuple[list[Job], str]:
        video_id = parse_name(video, "videos", "video") if video else None
        if page_size < 0:
            raise InvalidArgument(FieldViolation("page_size", "must not be negative"))
        limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        try:
            offset = int(base64.urlsafe_b64decode(page_token.encode()).decode()) if page_token else 0
        except ValueError:
            raise InvalidArgument(FieldViolation("page_token", "not a token this server issued")) from None
        ids = await self._store.list_ids(video_id=video_id, owner=caller.owner, offset=offset, limit=limit + 1)
        jobs = await self._store.get_many(ids[:limit])
        visible = [j for j in jobs if j.owner == caller.owner or caller.is_service]
        if state:
            visible = [j for j in visible if j.state == state]
        token = base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if len(ids) > limit else ""
        return visible, token

    async def watch(self, name: str, caller: Identity) -> AsyncIterator[Job]:
        """The job now, then on every change (and every 15 s), ending after a final state."""
        job = await self.get(name, caller)
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(progress_channel(job.name.removeprefix("jobs/")))
        try:
            job = await self.get(name, caller)  # re-read: nothing between get and subscribe is missed
            yield job
            while job.state not in FINAL_STATES:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=KEEPALIVE_SECONDS)
                if message is not None:
                    update = resources_pb2.Job.FromString(message["data"])
                    # Published before the re-read above: already shown, don't step back.
                    if update.update_time.ToNanoseconds() <= job.update_time.ToNanoseconds():
                        continue
                    job = update
                yield job
        finally:
            await pubsub.aclose()
