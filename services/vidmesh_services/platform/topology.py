"""The mesh: which service processes exist, what each serves, and what the gateway routes.

Adding a service means adding one MeshService here (see docs/adding-a-service.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import vidmesh

import vidmesh_services
from vidmesh_envoy.topologies import Page

from ..runtime.config import Config


@dataclass(frozen=True)
class MeshService:
    # Process name; also its port field in Config.ports and its Envoy cluster name.
    name: str
    # Module run as `python -m <module>`.
    module: str
    # gRPC services the gateway routes to this process.
    public: tuple[str, ...]
    # gRPC services only other vidmesh processes may call; the gateway never routes them.
    internal: tuple[str, ...] = ()
    # Generated modules that define the public services (loaded for reflection at the gateway).
    descriptor_modules: tuple[str, ...] = ()
    # Processes serving it, all alike (the gateway spreads calls over them, and sends a call again
    # to another when its process dies mid-call): only for a service whose calls are read-only. Process 0 is `name` on ports.<name>; process i
    # is `name-<i+1>` on ports.<name>_readers + i - 1, metrics on metrics.<name>_reader_port + i - 1.
    processes: Callable[[Config], int] = lambda c: 1

    def ports(self, config: Config) -> list[int]:
        first = getattr(config.ports, self.name)
        count = self.processes(config)
        return [first] + [getattr(config.ports, f"{self.name}_readers") + i for i in range(count - 1)]

    def process_name(self, index: int) -> str:
        return self.name if index == 0 else f"{self.name}-{index + 1}"


MESH: tuple[MeshService, ...] = (
    MeshService(
        name="catalog",
        module="vidmesh_services.catalog",
        public=("vidmesh.catalog.v1.CatalogService",),
        internal=("vidmesh.catalog.v1.CatalogInternalService",),
        descriptor_modules=("vidmesh.catalog.v1.catalog_service_pb2",),
    ),
    MeshService(
        name="upload",
        module="vidmesh_services.upload",
        public=("vidmesh.upload.v1.UploadService",),
        descriptor_modules=("vidmesh.upload.v1.upload_service_pb2",),
    ),
    MeshService(
        name="transcode",
        module="vidmesh_services.transcode",
        public=("vidmesh.transcode.v1.TranscodeService",),
        descriptor_modules=("vidmesh.transcode.v1.transcode_service_pb2",),
    ),
    MeshService(
        name="playback",
        module="vidmesh_services.playback",
        public=("vidmesh.playback.v1.PlaybackService",),
        descriptor_modules=("vidmesh.playback.v1.playback_service_pb2",),
    ),
    MeshService(
        name="analytics",
        module="vidmesh_services.analytics",
        public=("vidmesh.analytics.v1.AnalyticsService",),
        internal=("vidmesh.analytics.v1.AnalyticsInternalService",),
        descriptor_modules=("vidmesh.analytics.v1.analytics_service_pb2",),
    ),
    MeshService(
        name="search",
        module="vidmesh_services.search",
        public=("vidmesh.search.v1.SearchService",),
        descriptor_modules=("vidmesh.search.v1.search_service_pb2",),
        # Readers of the one index (the search indexer is its only writer).
        processes=lambda c: c.search.process_count,
    ),
    MeshService(
        name="recs",
        module="vidmesh_services.recs",
        public=("vidmesh.recs.v1.RecsService",),
        descriptor_modules=("vidmesh.recs.v1.recs_service_pb2",),
    ),
    MeshService(
        name="live",
        module="vidmesh_services.live",
        public=("vidmesh.live.v1.LiveService",),
        descriptor_modules=("vidmesh.live.v1.live_service_pb2",),
    ),
)


@dataclass(frozen=True)
class MeshWorker:
    """Background worker processes: no gRPC port. Process i gets VIDMESH_WORKER_INDEX=i."""

    # Process name prefix ("-1", "-2", ... are added); with '_' for '-' its metrics port field.
    name: str
    module: str
    # How many processes the deployment runs.
    count: Callable[[Config], int]


WORKERS: tuple[MeshWorker, ...] = (
    MeshWorker("transcode-worker", "vidmesh_services.transcode.worker", lambda c: c.transcode.worker_count),
    # One per event log shard: worker i aggregates and archives shard i.
    MeshWorker("analytics-worker", "vidmesh_services.analytics.worker", lambda c: c.analytics.shards),
    # The one writer of the search index (tantivy allows one per index).
    MeshWorker("search-indexer", "vidmesh_services.search.indexer", lambda c: 1),
    # Follows new views (watched sets, trending) and runs the training job on its schedule.
    MeshWorker("recs-worker", "vidmesh_services.recs.worker", lambda c: 1),
    # The RTMP ingest on ports.rtmp; it starts a packager process per stream on air.
    MeshWorker("live-ingest", "vidmesh_services.live.ingest", lambda c: 1),
)

# The process that answers reflection and health at the gateway; it describes the whole mesh.
INFRA_SERVICE = "catalog"
INFRA_PREFIXES = ("/grpc.reflection.", "/grpc.health.v1.")


def mesh_service_names() -> list[str]:
    """Public gRPC services of the mesh, as reflection at the gateway lists them.

    Importing their generated modules puts their descriptors in the default pool, which is
    what reflection answers symbol and file questions from.
    """
    for service in MESH:
        for module in service.descriptor_modules:
            importlib.import_module(module)
    return [name for service in MESH for name in service.public]


def remote_health_targets(config: Config, here: str) -> dict[str, str]:
    """Public services of every process but `here`, with the address that answers their health."""
    return {name: config.address(s.name) for s in MESH if s.name != here for name in s.public}


def gateway_routes() -> list[tuple[str, str]]:
    """(path prefix, cluster) pairs for the gateway, most specific first."""
    routes = [(f"/{name}/", service.name) for service in MESH for name in service.public]
    routes += [(prefix, INFRA_SERVICE) for prefix in INFRA_PREFIXES]
    return routes


# The process serving HLS objects; the edge's origin listener routes only to it.
PLAYBACK_SERVICE = "playback"
REPO_ROOT = Path(vidmesh_services.__file__).resolve().parents[2]
WEB_ROOT = REPO_ROOT / "clients" / "web"
HLS_JS = REPO_ROOT / "node_modules" / "hls.js" / "dist" / "hls.min.js"


def descriptor_set() -> Path:
    """The descriptor set `make gen` writes beside the generated modules, for Envoy's transcoder."""
    return Path(next(iter(vidmesh.__path__))).parents[1] / "descriptor" / "vidmesh.binpb"


def web_pages() -> list[Page]:
    """The web client, served by Envoy itself: the home page, the watch page, search results,
    the creators' analytics dashboard, the live watch page and the creators' go-live page, and
    their assets. Page routes come before the REST routes at the edge, so no page path may start
    with /v1/ (an exact "/search" cannot shadow "/v1/videos:search"); they come after the player
    prefixes (PLAYER_PREFIXES), so none may start with /hls/ or /live/ either: a live stream is
    watched at /stream/{id}."""
    html, css, js = "text/html; charset=utf-8", "text/css; charset=utf-8", "text/javascript; charset=utf-8"
    return [
        Page("/", WEB_ROOT / "index.html", html),
        Page("/watch/", WEB_ROOT / "watch.html", html, prefix=True),
        Page("/static/app.css", WEB_ROOT / "app.css", css),
        Page("/static/home.js", WEB_ROOT / "home.js", js),
        Page("/static/watch.js", WEB_ROOT / "watch.js", js),
        Page("/static/player-events.js", WEB_ROOT / "player-events.js", js),
        Page("/static/view-counts.js", WEB_ROOT / "view-counts.js", js),
        Page("/static/viewer.js", WEB_ROOT / "viewer.js", js),
        Page("/static/recs.js", WEB_ROOT / "recs.js", js),
        Page("/static/reactions.js", WEB_ROOT / "reactions.js", js),
        Page("/static/up-next.js", WEB_ROOT / "up-next.js", js),
        Page("/search", WEB_ROOT / "search.html", html),
        Page("/static/search.js", WEB_ROOT / "search.js", js),
        Page("/static/search-box.js", WEB_ROOT / "search-box.js", js),
        Page("/studio/analytics", WEB_ROOT / "analytics.html", html),
        Page("/static/analytics.js", WEB_ROOT / "analytics.js", js),
        Page("/stream/", WEB_ROOT / "live.html", html, prefix=True),
        Page("/static/live.js", WEB_ROOT / "live.js", js),
        Page("/static/live-player.js", WEB_ROOT / "live-player.js", js),
        Page("/static/live-chat.js", WEB_ROOT / "live-chat.js", js),
        Page("/studio/live", WEB_ROOT / "studio-live.html", html),
        Page("/static/studio-live.js", WEB_ROOT / "studio-live.js", js),
        Page("/static/live-now.js", WEB_ROOT / "live-now.js", js),
        Page("/static/hls.min.js", HLS_JS, js),
        Page("/static/chart.umd.js", REPO_ROOT / "node_modules" / "chart.js" / "dist" / "chart.umd.js", js),
    ]
