"""Storage ports: the small interfaces services store through.

Backends (SQLite now, Cassandra later; filesystem blobs now, S3 later) implement these and
pass one shared contract test suite (tests/contract/).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterator, Protocol, Sequence

from vidmesh.catalog.v1 import resources_pb2


@dataclass(frozen=True)
class VideoPage:
    videos: list[resources_pb2.Video]
    # Opaque cursor for the next page; empty on the last page.
    next_cursor: str


class MetadataStore(Protocol):
    """Video metadata and API key hashes."""

    async def insert_video(self, video: resources_pb2.Video) -> bool:
        """Stores a new video; False (and no change) if its id exists."""

    async def get_video(self, video_id: str) -> resources_pb2.Video | None: ...

    async def get_videos(self, video_ids: Sequence[str]) -> dict[str, resources_pb2.Video]: ...

    async def replace_video(self, video: resources_pb2.Video) -> None:
        """Overwrites an existing video (same id, same owner, same create_time)."""

    async def delete_video(self, video_id: str) -> bool:
        """Removes a video; False if there was none."""

    async def list_videos(self, *, owner: str | None, include_non_public: bool, limit: int, cursor: str) -> VideoPage:
        """Videos newest first. owner=None lists every owner's; include_non_public=False keeps public ones only."""

    async def put_api_key(self, key_hash: str, owner: str) -> None: ...

    async def find_api_key_owner(self, key_hash: str) -> str | None: ...

    async def close(self) -> None: ...


class BlobStore(Protocol):
    """Immutable-ish named byte objects. Keys are '/'-separated relative paths.

    Methods block; async callers run them in a thread.
    """

    def write(self, key: str, data: bytes) -> None:
        """Stores data under key durably and atomically: after return it survives a crash."""

    def compose(self, dest: str, sources: Sequence[str], *, sha256: bool = False) -> str | None:
        """Concatenates sources into dest durably and atomically; returns the hex sha256 if asked."""

    def open_read(self, key: str) -> BinaryIO: ...

    def size(self, key: str) -> int | None:
        """Size in bytes, or None if the key does not exist."""

    def delete(self, key: str) -> None:
        """Removes key; no error if it is absent."""

    def delete_prefix(self, prefix: str) -> int:
        """Removes every key under prefix + '/'; returns how many."""

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under prefix + '/', in no particular order."""
