"""Which MetadataStore a process opens: config.metadata_backend picks the backend."""

from __future__ import annotations

from .config import Config
from .ports import MetadataStore


def open_metadata_store(config: Config) -> MetadataStore:
    """The configured store. A Cassandra store connects (and migrates) in the background: await
    its wait_ready() before relying on it; its calls wait briefly, then fail UNAVAILABLE."""
    if config.metadata_backend == "sqlite":
        from .sqlite_store import SqliteMetadataStore

        return SqliteMetadataStore(config.sqlite_path)
    if config.metadata_backend == "cassandra":
        from .cassandra_store import CassandraMetadataStore

        return CassandraMetadataStore(config.cassandra)
    raise ValueError(f"metadata_backend must be 'sqlite' or 'cassandra', not {config.metadata_backend!r}")
