"""Which backend a process opens for each port: config.metadata_backend picks SQLite or Cassandra.

A Cassandra store connects in the background: await its wait_ready() before relying on it; its
calls wait briefly, then fail UNAVAILABLE. Stores of one process share one connection.
"""

from __future__ import annotations

from pathlib import Path

from ..catalog.store import VideoStore
from ..live.store import StreamStore
from ..runtime.auth import ApiKeyStore
from ..runtime.config import Config
from .blob_fs import FilesystemBlobStore
from .blobs import BlobStore

BACKENDS = ("sqlite", "cassandra")


def _check(config: Config) -> None:
    if config.metadata_backend not in BACKENDS:
        raise ValueError(f"metadata_backend must be 'sqlite' or 'cassandra', not {config.metadata_backend!r}")


def open_video_store(config: Config) -> VideoStore:
    """The catalog's store. On Cassandra it applies missing schema migrations."""
    _check(config)
    if config.metadata_backend == "cassandra":
        from .cassandra.videos import CassandraVideoStore

        return CassandraVideoStore(config.cassandra)
    from .sqlite import SqliteVideoStore

    return SqliteVideoStore(config.sqlite_path)


def open_api_key_store(config: Config, *, migrate: bool = False) -> ApiKeyStore:
    """API key hashes, for every process that authenticates callers. On Cassandra it waits for
    the catalog's migrations unless migrate is set (the CLI, when it runs before the platform)."""
    _check(config)
    if config.metadata_backend == "cassandra":
        from .cassandra.api_keys import CassandraApiKeyStore

        return CassandraApiKeyStore(config.cassandra, migrate=migrate)
    from .sqlite import SqliteApiKeyStore

    return SqliteApiKeyStore(config.sqlite_path)


def open_stream_store(config: Config) -> StreamStore:
    """Live's streams (on Cassandra, after the catalog's migrations)."""
    _check(config)
    if config.metadata_backend == "cassandra":
        from .cassandra.streams import CassandraStreamStore

        return CassandraStreamStore(config.cassandra)
    from .sqlite_streams import SqliteStreamStore

    return SqliteStreamStore(config.sqlite_path)


def open_blob_store(config: Config) -> BlobStore:
    return FilesystemBlobStore(Path(config.blob_root))
