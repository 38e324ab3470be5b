"""Live's storage port: where streams and the hashes of their keys live.

Backends live in `vidmesh_services.storage` (SQLite, Cassandra) and pass one contract suite
(tests/contract/test_stream_store.py). A stream is stored as its LiveStream proto without the
key (which is never stored) and without what changes every second (health, viewers: those
live in Valkey, onair.py); the store keeps the key's hash beside it.

Writes that replace or delete a stream name the etag they read and are refused (StaleStream)
when the stream changed since, so the owner ending a stream and the ingest marking it live
never overwrite each other. Owners have at most live.max_streams_per_owner streams, so an
owner's listing is read whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vidmesh.live.v1 import resources_pb2

LiveStream = resources_pb2.LiveStream


class StaleStream(Exception):
    """The stream changed (or was deleted) since the etag the write names was read."""


@dataclass(frozen=True)
class StoredStream:
    # stream_key empty; the live fields (health, viewer_count) unset.
    stream: LiveStream
    key_hash: str
    etag: str


class StreamStore(Protocol):
    async def insert_stream(self, stream: LiveStream, key_hash: str) -> str | None:
        """Stores a new stream and returns its etag; None (and no change) if its id exists."""
        ...

    async def get_stream(self, stream_id: str) -> StoredStream | None: ...

    async def get_streams(self, stream_ids: Sequence[str]) -> dict[str, StoredStream]: ...

    async def stream_for_key(self, key_hash: str) -> StoredStream | None:
        """The stream whose current key has this hash (a rotated key finds nothing)."""
        ...

    async def replace_stream(self, stored: StoredStream) -> str:
        """Overwrites the stream (same id, owner and create_time) and its key hash if it still has
        stored.etag; returns the new etag. Raises StaleStream if it changed or is gone."""
        ...

    async def delete_stream(self, stored: StoredStream) -> None:
        """Removes the stream if it still has stored.etag; raises StaleStream otherwise."""
        ...

    async def owner_streams(self, owner: str) -> list[StoredStream]:
        """Every stream of owner, newest first (create_time, then id)."""
        ...

    async def wait_ready(self) -> None: ...

    async def close(self) -> None: ...
