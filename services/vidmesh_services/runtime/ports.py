"""Storage ports: the small interfaces services store through.

Backends (SQLite and Cassandra; filesystem blobs now, S3 later) implement these and
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

    async def wait_ready(self) -> None:
        """Returns once the store can serve calls (a networked store connects in the background)."""

    async def close(self) -> None: ...


class BlobChecksumMismatch(Exception):
    """complete_multipart's bytes do not hash to the sha256 it was given; nothing was published."""

    def __init__(self, actual: str):
        super().__init__(actual)
        self.actual = actual


class BlobStore(Protocol):
    """Immutable-ish named byte objects. Keys are '/'-separated relative paths.

    Methods block; async callers run them in a thread.

    Large objects that arrive in pieces, in any order, are written as a *multipart* write, named
    by the caller (a key prefix that belongs to that write alone) and published under their final
    key in one step, with no copy: the filesystem store writes every part in place into one
    preallocated file and renames it; an S3 store maps the calls one to one onto native multipart
    upload (CreateMultipartUpload, UploadPart with PartNumber index + 1, ListParts +
    CompleteMultipartUpload, AbortMultipartUpload), keeping its UploadId under the name.
    """

    def write(self, key: str, data: bytes) -> None:
        """Stores data under key durably and atomically: after return it survives a crash."""

    def begin_multipart(self, name: str, dest: str, *, size: int, part_size: int) -> None:
        """Starts the multipart write `name` of size bytes, in parts of part_size bytes (the last
        may be shorter), that complete_multipart publishes as dest. Durable on return. Beginning
        a write that exists already is harmless; beginning another one under the same name is a
        caller error. May fail with OSError (e.g. ENOSPC) when the store cannot hold size bytes."""

    def write_part(self, name: str, index: int, data: bytes | memoryview) -> None:
        """Stores part index (0-based) of the multipart write name durably: after return it
        survives a crash. Parts come in any order; writing a part again with the same bytes is
        harmless. data must be exactly the part's length."""

    def complete_multipart(self, name: str, *, sha256: str = "") -> None:
        """Publishes the parts, in index order, as the write's dest, durably and atomically.
        With sha256 (lowercase hex) the bytes are checked first: on a difference it raises
        BlobChecksumMismatch and publishes nothing (the parts stay, where the store can keep them).
        Calling it again after it returned is harmless. The caller makes sure every part was
        written; a part never written reads as zeros on the filesystem store."""

    def abort_multipart(self, name: str) -> None:
        """Ends the multipart write name and removes its parts and bookkeeping; no error if there
        is none. After complete_multipart it only releases the bookkeeping: dest stays."""

    def open_read(self, key: str) -> BinaryIO: ...

    def size(self, key: str) -> int | None:
        """Size in bytes, or None if the key does not exist."""

    def delete(self, key: str) -> None:
        """Removes key; no error if it is absent."""

    def delete_prefix(self, prefix: str) -> int:
        """Removes every key under prefix + '/'; returns how many."""

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under prefix + '/', in no particular order."""
