"""The catalog's storage port: where videos live.

Backends live in `vidmesh_services.storage` (SQLite, Cassandra) and pass one contract suite
(tests/contract/test_video_store.py); `cache.CachedVideoStore` wraps either with Redis.

Every stored video has an etag: an opaque string that changes with every write. Writes that
replace or delete a video name the etag they read, and the store refuses them (StaleEtag) when
the video changed since, so a read-modify-write never overwrites a change it did not see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vidmesh.catalog.v1 import resources_pb2


@dataclass(frozen=True)
class VideoPage:
    videos: list[resources_pb2.Video]
    # Opaque cursor for the next page; empty on the last page.
    next_cursor: str


class StaleEtag(Exception):
    """The video changed (or was deleted) since the etag the write names was read."""


class VideoStore(Protocol):
    """Video metadata. Videos come back with `etag` set; the stored bytes never hold one."""

    async def insert_video(self, video: resources_pb2.Video) -> str | None:
        """Stores a new video and returns its etag; None (and no change) if its id exists."""
        ...

    async def get_video(self, video_id: str) -> resources_pb2.Video | None: ...

    async def get_videos(self, video_ids: Sequence[str]) -> dict[str, resources_pb2.Video]: ...

    async def replace_video(self, video: resources_pb2.Video, *, etag: str) -> str:
        """Overwrites a video (same id, owner and create_time) if its etag is still `etag`;
        returns the new etag. Raises StaleEtag if the video changed or is gone."""
        ...

    async def delete_video(self, video_id: str, *, etag: str = "") -> bool:
        """Removes a video; False if there was none. With an etag, raises StaleEtag unless the
        stored video still has it."""
        ...

    async def list_videos(self, *, owner: str | None, include_non_public: bool, limit: int, cursor: str) -> VideoPage:
        """Videos newest first. owner=None lists every owner's; include_non_public=False keeps
        public ones only. Raises ValueError for a cursor this store did not make."""
        ...

    async def wait_ready(self) -> None:
        """Returns once the store can serve calls (a networked store connects in the background)."""
        ...

    async def close(self) -> None: ...
