"""The catalog's storage port: where videos live.

Backends live in `vidmesh_services.storage` (SQLite, Cassandra) and pass one contract suite
(tests/contract/test_video_store.py); `cache.CachedVideoStore` wraps either with Redis.

Every stored video has an etag: an opaque string that changes with every write. Writes that
replace or delete a video name the etag they read, and the store refuses them (StaleEtag) when
the video changed since, so a read-modify-write never overwrites a change it did not see.

Every write also records a change (the video's id and the revision written) in the store's
change feed, in the same transaction where the backend has one, so that copies of the catalog
(the search index) can follow it: read the feed from a cursor, then each named video's current
state. A change only names a video; whoever follows the feed reads the video itself, so reading
a change twice, or late, changes nothing.
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


# How long the feed keeps changes: a follower further behind must copy the catalog again.
CHANGE_RETENTION_SECONDS = 7 * 86_400


@dataclass(frozen=True)
class VideoChange:
    video_id: str
    # The revision written (the number behind the etag); a delete's is above the last version's.
    rev: int


@dataclass(frozen=True)
class ChangePage:
    changes: list[VideoChange]
    # Where to read on from; never empty.
    cursor: str


class ChangeCursorExpired(Exception):
    """The cursor is older than the changes the feed keeps (CHANGE_RETENTION_SECONDS)."""


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

    async def scan_videos(self, *, limit: int, cursor: str) -> VideoPage:
        """Every video, any status and visibility, in the store's own order, for copying the
        whole catalog. A video that exists for the whole scan is returned once. Raises
        ValueError for a cursor this store did not make."""
        ...

    async def change_cursor(self) -> str:
        """The feed's newest position: reading from it returns the changes made after this call."""
        ...

    async def changes_after(self, cursor: str, *, limit: int) -> ChangePage:
        """Changes recorded after cursor, oldest first, at most about limit. At least once: a
        change may come again in a later page. Raises ChangeCursorExpired for a cursor older
        than the retention, ValueError for a cursor this store did not make."""
        ...

    async def wait_ready(self) -> None:
        """Returns once the store can serve calls (a networked store connects in the background)."""
        ...

    async def close(self) -> None: ...
