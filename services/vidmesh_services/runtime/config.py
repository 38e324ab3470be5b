"""One config object for the whole platform: defaults, then a YAML file, then VIDMESH_* variables.

Every process of a deployment reads the same Config, so a port or path is named in one place.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

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
class Config:
    """Everything a vidmesh process needs to know about its deployment."""

    home: Path = field(default_factory=lambda: Path("var"))
    host: str = "127.0.0.1"
    ports: Ports = field(default_factory=Ports)
    upload: UploadLimits = field(default_factory=UploadLimits)
    transcode: TranscodeSettings = field(default_factory=TranscodeSettings)
    # Empty: vidmesh starts its own Valkey under home. Set: use that Redis/Valkey.
    redis_url: str = ""
    # Secret shared by vidmesh's own processes; clients never see it. Empty: made at start-up.
    service_token: str = ""
    # Seconds a server waits for in-flight calls when asked to stop.
    shutdown_grace_seconds: float = 10.0
    # Deadline on calls between services.
    internal_call_timeout_seconds: float = 30.0
    log_level: str = "INFO"

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

    def replace(self, **changes: Any) -> "Config":
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
    return _build(Config, values, env, "VIDMESH")


def _build(cls: type, values: Mapping[str, Any], env: Mapping[str, str], prefix: str) -> Any:
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown config keys under {prefix}: {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        name = f"{prefix}_{f.name.upper()}"
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            kwargs[f.name] = _build(type(default), values.get(f.name) or {}, env, name)
            continue
        raw = env.get(name, values.get(f.name, default))
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
