"""One config object for the whole platform: defaults, then a YAML file, then VIDMESH_* variables.

Every process of a deployment reads the same Config, so a port or path is named in one place.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class Ports:
    """Loopback ports, one per process. 0 is not allowed: Envoy must know them in advance."""

    http: int = 8080
    envoy_admin: int = 9901
    valkey: int = 6390
    upload: int = 50051
    catalog: int = 50052
    transcode: int = 50053
    playback: int = 50054
    analytics: int = 50055
    search: int = 50056
    # Search processes after the first (SearchSettings.processes): process i >= 1 listens on
    # search_readers + i - 1.
    search_readers: int = 50060
    recs: int = 50057
    live: int = 50058
    # RTMP ingest: the one port every encoder publishes to (public, unlike the gRPC ports).
    rtmp: int = 1935
    # Envoy's internal origin listener: the edge cache forwards HLS misses here to be transcoded.
    origin: int = 8081


# Config.port_base: every port of a deployment is base + its offset here, so one setting moves a
# whole instance (a second one on the same machine). A port set on its own still wins.
PORT_OFFSETS = {
    "http": 0,
    "origin": 1,
    "envoy_admin": 2,
    "valkey": 3,
    "upload": 4,
    "catalog": 5,
    "transcode": 6,
    "playback": 7,
    "analytics": 8,
    "search": 9,
    "search_readers": 40,  # 40-49: up to 11 search processes
    "recs": 17,
    "live": 61,
    "rtmp": 62,
}
# Metrics ports (MetricsSettings); transcode worker i serves on base + 20 + i.
METRICS_PORT_OFFSETS = {
    "upload_port": 10,
    "catalog_port": 11,
    "transcode_port": 12,
    "playback_port": 13,
    "analytics_port": 14,
    "search_port": 15,
    "search_indexer_port": 16,
    "recs_port": 18,
    "recs_worker_port": 19,
    "transcode_worker_port": 20,
    "analytics_worker_port": 30,
    "search_reader_port": 50,
    "live_port": 63,
    "live_ingest_port": 64,
}


@dataclass(frozen=True)
class UploadLimits:
    """Limits of resumable uploads."""

    default_chunk_size: int = 10 * MiB
    min_chunk_size: int = 1 * MiB
    max_chunk_size: int = 64 * MiB
    max_file_size: int = 256 * GiB
    # An upload with no new chunk for this long expires and its parts are removed.
    ttl_seconds: int = 24 * 3600
    # How often the janitor looks for expired uploads.
    sweep_interval_seconds: float = 60.0
    # How long a retried CompleteUpload still returns the video it created.
    completed_memory_seconds: int = 24 * 3600
    # Per-owner quotas, checked by InitUpload (RESOURCE_EXHAUSTED beyond them); 0 means no limit.
    # Open uploads are those started and not yet completed, aborted or expired.
    max_open_uploads: int = 32
    # Sum of the declared sizes of the owner's open uploads (one largest file fits by default).
    max_open_bytes: int = 256 * GiB
    # Uploaded sources the owner keeps (completed uploads whose video still exists) plus the open
    # uploads; renditions the platform derives from them do not count.
    max_stored_bytes: int = 1024 * GiB


@dataclass(frozen=True)
class TranscodeSettings:
    """Transcode workers and their job queue."""

    # Worker processes `vidmesh up` starts; 0 sizes them to the machine (one per two cores).
    workers: int = 0
    # A job whose worker stops heart-beating for this long is claimed by another worker.
    visibility_timeout_seconds: float = 60.0
    # Attempts before a job is failed for good and dead-lettered.
    max_attempts: int = 3
    # First retry delay; each further retry waits four times longer (capped at 10 minutes).
    retry_base_seconds: float = 5.0

    @property
    def worker_count(self) -> int:
        return self.workers or max(1, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True)
class CatalogCacheSettings:
    """The catalog's read-through video cache in Redis/Valkey (see catalog/cache.py)."""

    # "auto": on in front of Cassandra, off in front of the in-process SQLite store, where a Redis
    # round trip measured slower than the read it would save (docs/benchmarks.md, "Catalog
    # reads"). "true" / "false" force it.
    enabled: str = "auto"

    def active(self, metadata_backend: str) -> bool:
        mode = self.enabled.strip().lower()
        if mode == "auto":
            return metadata_backend != "sqlite"
        if mode in {"true", "1", "yes", "on"}:
            return True
        if mode in {"false", "0", "no", "off"}:
            return False
        raise ValueError(f"catalog_cache.enabled must be auto, true or false, not {self.enabled!r}")

    # How long a cached video lives (a write removes it at once; this bounds memory, not staleness).
    ttl_seconds: int = 300
    # How long "no such video" is remembered (creating the video removes it at once).
    negative_ttl_seconds: int = 5
    key_prefix: str = "vidmesh:catalog:video:"
    # A reader that misses holds the key's fill lease this long at most; other readers wait for it.
    lease_seconds: float = 1.0
    # A writer's "being written" marker expires after this long if the writer never clears it.
    write_marker_seconds: float = 30.0
    # Socket timeout of cache commands: a hung Redis delays a read by at most about this much.
    timeout_seconds: float = 0.25


@dataclass(frozen=True)
class HlsCaching:
    """How long caches keep VOD playlists (segments, posters and sprites never change: a year)."""

    # Browsers: a playlist never changes under its versioned path, and the viewer already had access.
    playlist_max_age_seconds: int = 86400
    # Shared caches (the gateway's edge cache, CDN tiers) honour s-maxage instead. No tier can be
    # purged, so this is how long a delete or a switch to private takes to reach every edge.
    playlist_shared_max_age_seconds: int = 60

    @property
    def playlist_cache_control(self) -> str:
        return f"public, max-age={self.playlist_max_age_seconds}, s-maxage={self.playlist_shared_max_age_seconds}"


@dataclass(frozen=True)
class MetricsSettings:
    """Prometheus text endpoints (/metrics) on the loopback host, one port per process; 0 serves none."""

    upload_port: int = 9101
    catalog_port: int = 9102
    transcode_port: int = 9103
    playback_port: int = 9104
    analytics_port: int = 9105
    search_port: int = 9106
    search_indexer_port: int = 9107
    recs_port: int = 9108
    recs_worker_port: int = 9109
    # Search process i >= 1 serves on this port + i - 1.
    search_reader_port: int = 9140
    live_port: int = 9160
    live_ingest_port: int = 9161
    # Transcode worker i (from 0) serves on this port + i.
    transcode_worker_port: int = 9110
    # Analytics worker of shard i serves on this port + i.
    analytics_worker_port: int = 9130


@dataclass(frozen=True)
class AnalyticsSettings:
    """Player events: ingest limits, the sharded event log, aggregation and the warehouse
    (docs/analytics.md)."""

    # Event log shards (Redis Streams); `vidmesh up` runs one analytics worker per shard. A
    # session's events always go to one shard. Changing it moves sessions in flight to other
    # shards, so change it with the platform stopped and the log drained.
    shards: int = 2
    max_batch_events: int = 500
    max_batch_bytes: int = 1 * MiB
    # Events older or newer than this (by event_time, against the server's clock) are refused.
    max_event_age_seconds: int = 24 * 3600
    max_event_lead_seconds: int = 300
    # How long event ids are remembered per session for deduplication, and session state kept.
    session_memory_seconds: int = 24 * 3600
    # Entries (batches) a shard may hold unprocessed before ingest refuses with EVENT_LOG_FULL.
    max_backlog_entries: int = 200_000
    # How long the catalog's answer about a video (exists, duration, owner) is reused by ingest.
    video_cache_seconds: float = 30.0
    # Stream entries an aggregator takes per read, and how long it waits for more.
    read_count: int = 50
    read_block_ms: int = 100
    # Hourly counters (ranges and series of GetVideoMetrics) are kept this long.
    hourly_retention_days: int = 90
    # The warehouse: raw events as Parquet under home/data/warehouse, one file per shard and
    # flush, in date=YYYY-MM-DD/hour=HH folders of the hour the events arrived.
    warehouse_flush_seconds: float = 30.0
    warehouse_flush_rows: int = 500_000
    # Raw events older than this are deleted (whole days); 0 keeps them for ever.
    warehouse_retention_days: int = 30


@dataclass(frozen=True)
class SearchSettings:
    """The search index and its ranking (docs/search.md has the formula)."""

    # Relevance = bm25 * (1 + popularity_weight * ln(1 + views))
    #                  * (1 - recency_weight + recency_weight * exp(-age_days / recency_days)).
    popularity_weight: float = 0.3
    recency_weight: float = 0.5
    recency_days: float = 30.0
    # Field boosts of the text match.
    title_boost: float = 2.0
    tags_boost: float = 1.5
    description_boost: float = 1.0
    # Text matches re-ranked by popularity and recency (paging past them reaches at most
    # max_hits).
    rerank_candidates: int = 200
    max_hits: int = 1000
    # The indexer: how often it reads the catalog's change feed, and the longest it keeps
    # applied changes uncommitted (readers see a change only once committed).
    poll_seconds: float = 0.1
    commit_seconds: float = 0.25
    # How often the indexer reads analytics' view milestones (videos whose views grew ~10%).
    views_seconds: float = 1.0
    # Search processes on this machine, all reading the one index (Envoy spreads calls over
    # them); 0: one per core.
    processes: int = 2
    # Search processes pick up new commits this often.
    reload_seconds: float = 0.1

    @property
    def process_count(self) -> int:
        return self.processes or os.cpu_count() or 1


@dataclass(frozen=True)
class RecsSettings:
    """Recommendations: signals, ALS training, deployment and serving (docs/recommendations.md)."""

    # Confidence of a (viewer, video) pair before BM25 weighting: the watched fraction of each
    # session (capped at 1, so rewatches add up), plus these for a completion, a like, a share.
    completion_weight: float = 1.0
    like_weight: float = 2.0
    share_weight: float = 2.0
    bm25_k1: float = 100.0
    bm25_b: float = 0.8
    # ALS (the same parameters for implicit and for Spark MLlib).
    factors: int = 64
    # Below this many training pairs the job picks the factor count (4, 8, ... up to factors)
    # on a validation split: a small catalogue overfits at 64 (training.choose_factors).
    factor_search_pairs: int = 2_000_000
    iterations: int = 15
    regularization: float = 0.05
    # "implicit" (one machine) or "spark" (Spark MLlib ALS; spark_master says where).
    trainer: str = "implicit"
    spark_master: str = "local[2]"
    spark_driver_memory: str = "4g"
    # Evaluation: the share of each viewer's pairs held out, how many viewers are scored, and
    # how far (relative NDCG@10) a new model may fall below the deployed one and still deploy.
    holdout: float = 0.2
    eval_users: int = 20_000
    tolerance: float = 0.02
    # Deployed lists: videos per viewer (personal) and per video (related).
    personal_length: int = 100
    related_length: int = 30
    # `vidmesh up` trains this often (0: only `vidmesh recs train`).
    train_every_seconds: float = 3600.0
    # Trending: views decayed with this half-life, the top trending_size recomputed every
    # trending_refresh_seconds.
    trending_half_life_hours: float = 6.0
    trending_refresh_seconds: float = 60.0
    trending_size: int = 200
    # How often the worker reads new views (watched videos are not recommended again), and how
    # many recent ones are remembered per viewer.
    views_poll_seconds: float = 0.5
    watched_kept: int = 500
    # Serving keeps up to this many videos in memory and reads the catalog's change feed this
    # often to drop changed ones (a hidden or deleted video stops being recommended within it).
    video_cache_entries: int = 100_000
    catalog_poll_seconds: float = 0.1
    # Videos one viewer may like or dislike at once.
    max_reactions_per_viewer: int = 10_000


@dataclass(frozen=True)
class LiveSettings:
    """Live streaming: stream limits, ingest, packaging (docs/live.md)."""

    # Streams one owner may have, in any state (CreateStream: RESOURCE_EXHAUSTED beyond).
    max_streams_per_owner: int = 100
    # Streams one ingest server takes at once; more publishers are refused (AT_CAPACITY). Two
    # 720p ladders keep up on 2 cores, four did not (docs/live.md, "Capacity").
    max_streams: int = 2
    # Host in the RTMP URL streams show encoders (empty: host). The ingest listens on host.
    ingest_host: str = ""
    # An encoder that drops may publish again this long and continue the same stream.
    reconnect_window_seconds: float = 30.0
    # An encoder that sends no media this long is disconnected (INGEST_ERROR_STALLED).
    stall_timeout_seconds: float = 10.0
    # How often an ingest session re-reads its stream, so EndStream and RotateStreamKey
    # disconnect the encoder within about this long.
    control_poll_seconds: float = 0.5
    # Renditions encoded below the source, which is passed through: "360p", "480p+360p" or
    # "none". A 720p30 source costs about 0.03 CPU-s per second passed through, 0.26 with 360p,
    # 0.5 with 480p+360p (docs/benchmarks.md).
    ladder: str = "360p"
    # Chat: an author may post chat_burst messages at once, then one per chat_refill_seconds.
    chat_burst: int = 5
    chat_refill_seconds: float = 2.0


@dataclass(frozen=True)
class CassandraSettings:
    """The Cassandra metadata store (metadata_backend: cassandra)."""

    # Comma-separated hosts of the local data centre the driver first connects to.
    contact_points: str = "127.0.0.1"
    port: int = 9042
    keyspace: str = "vidmesh"
    # The data centre this deployment runs in: requests go to its replicas first.
    local_dc: str = "datacenter1"
    consistency: str = "LOCAL_QUORUM"
    serial_consistency: str = "LOCAL_SERIAL"
    # Replication of the keyspace when vidmesh creates it (changing it later is an operator's
    # ALTER KEYSPACE plus repair). SimpleStrategy takes replication_factor (one node, one DC);
    # NetworkTopologyStrategy takes a factor per data centre, e.g. {dc1: 3, dc2: 3}, or
    # VIDMESH_CASSANDRA_DATACENTERS=dc1=3,dc2=3.
    replication_strategy: str = "SimpleStrategy"
    replication_factor: int = 1
    datacenters: dict[str, int] = field(default_factory=dict)
    connect_timeout_seconds: float = 5.0
    request_timeout_seconds: float = 10.0

    @property
    def hosts(self) -> list[str]:
        return [h.strip() for h in self.contact_points.split(",") if h.strip()]


@dataclass(frozen=True)
class Config:
    """Everything a vidmesh process needs to know about its deployment."""

    home: Path = field(default_factory=lambda: Path("var"))
    host: str = "127.0.0.1"
    ports: Ports = field(default_factory=Ports)
    # Non-zero: ports not set on their own are port_base + PORT_OFFSETS / METRICS_PORT_OFFSETS.
    port_base: int = 0
    upload: UploadLimits = field(default_factory=UploadLimits)
    transcode: TranscodeSettings = field(default_factory=TranscodeSettings)
    catalog_cache: CatalogCacheSettings = field(default_factory=CatalogCacheSettings)
    hls: HlsCaching = field(default_factory=HlsCaching)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    analytics: AnalyticsSettings = field(default_factory=AnalyticsSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    recs: RecsSettings = field(default_factory=RecsSettings)
    live: LiveSettings = field(default_factory=LiveSettings)
    # Empty: vidmesh starts its own Valkey under home. Set: use that Redis/Valkey.
    redis_url: str = ""
    # Secret shared by vidmesh's own processes; clients never see it. Empty: made at start-up.
    service_token: str = ""
    # HMAC key of signed playback URLs (Playback and Catalog). Empty: `vidmesh up` keeps one
    # under home/data/secrets, so signed URLs survive restarts.
    playback_secret: str = ""
    # Seconds a server waits for in-flight calls when asked to stop.
    shutdown_grace_seconds: float = 10.0
    # Deadline on calls between services.
    internal_call_timeout_seconds: float = 30.0
    log_level: str = "INFO"
    # Where video metadata and API keys live: "sqlite" (one machine) or "cassandra".
    metadata_backend: str = "sqlite"
    cassandra: CassandraSettings = field(default_factory=CassandraSettings)

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def blob_root(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "metadata.sqlite3"

    @property
    def search_dir(self) -> Path:
        return self.data_dir / "search"

    @property
    def recs_dir(self) -> Path:
        return self.data_dir / "recs"

    @property
    def warehouse_dir(self) -> Path:
        return self.data_dir / "warehouse"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"redis://{self.host}:{self.ports.valkey}/0"

    def address(self, service: str) -> str:
        return f"{self.host}:{getattr(self.ports, service)}"

    @property
    def gateway_url(self) -> str:
        return f"{self.host}:{self.ports.http}"

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Builds the Config: defaults < YAML file (VIDMESH_CONFIG or path) < environment.

    Environment names are VIDMESH_ plus the upper-cased field path, e.g. VIDMESH_HOME,
    VIDMESH_PORTS_HTTP, VIDMESH_UPLOAD_DEFAULT_CHUNK_SIZE.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = path or env.get("VIDMESH_CONFIG")
    if path:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        values = loaded
    config: Config = _build(Config, values, env, "VIDMESH")
    return _apply_port_base(config, values, env)


def _apply_port_base(config: Config, values: Mapping[str, Any], env: Mapping[str, str]) -> Config:
    """Moves every port not set on its own (file or environment) to port_base + its offset."""
    base = config.port_base
    if not base:
        return config

    def shifted(section: str, offsets: dict[str, int]) -> dict[str, int]:
        given = values.get(section) or {}
        ports = {
            name: base + offset
            for name, offset in offsets.items()
            if name not in given and f"VIDMESH_{section.upper()}_{name.upper()}" not in env
        }
        out_of_range = {name: port for name, port in ports.items() if not 0 < port < 65536}
        if out_of_range:
            raise ValueError(f"port_base (VIDMESH_PORT_BASE) {base} puts {section} ports outside 1-65535: {out_of_range}")
        return ports

    ports = dataclasses.replace(config.ports, **shifted("ports", PORT_OFFSETS))
    metrics = dataclasses.replace(config.metrics, **shifted("metrics", METRICS_PORT_OFFSETS))
    return config.replace(ports=ports, metrics=metrics)


def _build(cls: type, values: Mapping[str, Any], env: Mapping[str, str], prefix: str) -> Any:
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown config keys under {prefix}: {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        name = f"{prefix}_{f.name.upper()}"
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            kwargs[f.name] = _build(type(default), values.get(f.name) or {}, env, name)
            continue
        raw = env.get(name, values.get(f.name, default))
        if isinstance(default, dict):
            kwargs[f.name] = _coerce_mapping(raw, typing.get_args(hints[f.name]), name)
            continue
        kwargs[f.name] = _coerce(raw, default, name)
    return cls(**kwargs)


def _coerce(raw: Any, default: Any, name: str) -> Any:
    try:
        if isinstance(default, bool):
            return raw if isinstance(raw, bool) else str(raw).lower() in {"1", "true", "yes", "on"}
        if isinstance(default, Path):
            return Path(raw).expanduser()
        return type(default)(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot read {raw!r} as {type(default).__name__}") from exc


def _coerce_mapping(raw: Any, types: tuple[Any, ...], name: str) -> dict[Any, Any]:
    """A mapping leaf: a YAML mapping, or 'key=value,key=value' from the environment."""
    if isinstance(raw, str):
        pairs = [item.split("=", 1) for item in raw.split(",") if item.strip()]
        if any(len(p) != 2 for p in pairs):
            raise ValueError(f"{name}: expected key=value,key=value, got {raw!r}")
        raw = {k.strip(): v.strip() for k, v in pairs}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{name}: expected a mapping, got {raw!r}")
    key_type, value_type = types or (str, str)
    return {_coerce(k, key_type(), f"{name}.{k}"): _coerce(v, value_type(), f"{name}.{k}") for k, v in raw.items()}
