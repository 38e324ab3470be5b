"""The videos serving shows, kept in memory and kept correct by the catalog's change feed.

A BatchGetVideos per request cost more than everything else a recommendation does (measured:
a 50-video batch capped a recs process near 250 calls/s with p50 14 ms, the catalog spending
about 80 us of CPU per video), so the recs process keeps the videos it has fetched and follows
ListVideoChanges (every poll_seconds) to drop any that changed; the next request that needs one
fetches it again. Videos that do not exist are remembered too, until a change names them. A
request still makes one BatchGetVideos, for the videos it needs that are not in memory.

A fetch that overlaps a change of one of its videos does not store that video (the answer may
predate the change), so the cache never keeps a state older than the feed says.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from prometheus_client import Counter
from vidmesh.catalog.v1 import resources_pb2

from ..catalog.store import ChangeCursorExpired, VideoChange
from ..runtime.calls import RemoteError
from ..runtime.errors import VidmeshError

log = logging.getLogger("vidmesh.recs")

LOOKUPS = Counter("vidmesh_recs_video_lookups_total", "Videos looked up for recommendations, by where they came from", ["source"])
MAX_BATCH = 100  # BatchGetVideos' limit
FEED_PAGE = 1000
RETRY_SECONDS = 1.0


class Catalog(Protocol):
    async def batch_get_videos(self, video_ids: Sequence[str]) -> dict[str, resources_pb2.Video]: ...

    async def list_video_changes(self, cursor: str, page_size: int = 0) -> tuple[list[VideoChange], str]: ...


class VideoCache:
    def __init__(self, catalog: Catalog, capacity: int):
        self._catalog = catalog
        self._capacity = capacity
        self._videos: OrderedDict[str, resources_pb2.Video | None] = OrderedDict()
        self._epoch = 0  # changes applied so far
        self._changed_at: OrderedDict[str, int] = OrderedDict()  # video -> epoch of its latest change
        self.following = asyncio.Event()  # set once the feed is followed (serving may start)

    async def get_many(self, video_ids: Sequence[str]) -> dict[str, resources_pb2.Video]:
        """The videos among video_ids that exist, from memory or one BatchGetVideos per 100 missing."""
        found: dict[str, resources_pb2.Video] = {}
        missing = []
        for video_id in video_ids:
            if video_id in self._videos:
                self._videos.move_to_end(video_id)
                video = self._videos[video_id]
                if video is not None:
                    found[video_id] = video
            else:
                missing.append(video_id)
        LOOKUPS.labels("memory").inc(len(video_ids) - len(missing))
        if missing:
            LOOKUPS.labels("catalog").inc(len(missing))
            epoch = self._epoch
            for start in range(0, len(missing), MAX_BATCH):
                chunk = missing[start : start + MAX_BATCH]
                fetched = await self._catalog.batch_get_videos(chunk)
                found.update(fetched)
                for video_id in chunk:
                    if self._changed_at.get(video_id, -1) < epoch:  # no change since the fetch began
                        self._store(video_id, fetched.get(video_id))
        return found

    def _store(self, video_id: str, video: resources_pb2.Video | None) -> None:
        self._videos[video_id] = video
        self._videos.move_to_end(video_id)
        while len(self._videos) > self._capacity:
            self._videos.popitem(last=False)

    def invalidate(self, video_ids: Sequence[str]) -> None:
        self._epoch += 1
        for video_id in video_ids:
            self._videos.pop(video_id, None)
            self._changed_at[video_id] = self._epoch
            self._changed_at.move_to_end(video_id)
        while len(self._changed_at) > self._capacity:
            self._changed_at.popitem(last=False)

    async def follow(self, poll_seconds: float) -> None:
        """Drops changed videos for as long as the server runs."""
        cursor = ""
        while True:
            try:
                if not cursor:
                    _, cursor = await self._catalog.list_video_changes("")
                    self.following.set()
                changes, cursor = await self._catalog.list_video_changes(cursor, FEED_PAGE)
            except ChangeCursorExpired:
                log.warning("the catalog's change feed moved past this process; forgetting every cached video")
                self._videos.clear()
                self.invalidate([])
                cursor = ""
                continue
            except (VidmeshError, RemoteError) as exc:
                log.warning("reading the catalog's change feed failed (%s); retrying", exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if changes:
                self.invalidate([c.video_id for c in changes])
            if len(changes) < FEED_PAGE:
                await asyncio.sleep(poll_seconds)
