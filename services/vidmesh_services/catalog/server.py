"""Catalog server bootstrap: `python -m vidmesh_services.catalog`."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

from vidmesh.catalog.v1 import catalog_internal_service_pb2_grpc as internal_grpc
from vidmesh.catalog.v1 import catalog_service_pb2_grpc as pb2_grpc

from ..playback.tokens import PlaybackTokens
from ..runtime.auth import ApiKeyStore, Authenticator
from ..runtime.config import Config
from ..runtime.interceptors import AccessPolicy
from ..runtime.server import RunningServer, ServiceBinding, create_server, run_service
from ..storage.blobs import BlobStore
from ..storage.open import open_api_key_store, open_blob_store, open_video_store
from .cache import with_cache
from .servicer import CatalogInternalServicer, CatalogServicer
from .store import VideoStore
from .videos import Catalog

PUBLIC = "vidmesh.catalog.v1.CatalogService"
INTERNAL = "vidmesh.catalog.v1.CatalogInternalService"
POLICY = AccessPolicy(
    anonymous_methods=frozenset(f"/{PUBLIC}/{m}" for m in ("GetVideo", "BatchGetVideos", "ListVideos")),
    internal_services=frozenset({INTERNAL}),
)


async def create_catalog_server(
    config: Config,
    address: str,
    store: VideoStore,
    keys: ApiKeyStore,
    blobs: BlobStore,
    reflect: Sequence[str] = (),
    remote_health: Mapping[str, str] | None = None,
) -> RunningServer:
    tokens = PlaybackTokens(config.playback_secret.encode()) if config.playback_secret else None
    catalog = Catalog(store, blobs, tokens)

    async def ready() -> None:
        await store.wait_ready()
        await keys.wait_ready()

    return await create_server(
        address,
        [
            ServiceBinding(PUBLIC, lambda s: pb2_grpc.add_CatalogServiceServicer_to_server(CatalogServicer(catalog), s)),
            ServiceBinding(
                INTERNAL,
                lambda s: internal_grpc.add_CatalogInternalServiceServicer_to_server(CatalogInternalServicer(catalog), s),
            ),
        ],
        authenticator=Authenticator(keys, config.service_token),
        policy=POLICY,
        reflect=reflect,
        remote_health=remote_health,
        ready=ready,
    )


async def start(config: Config, stack: contextlib.AsyncExitStack) -> RunningServer:
    # The gateway routes reflection and health here, so the catalog speaks for the whole mesh.
    from ..platform.topology import mesh_service_names, remote_health_targets

    store = with_cache(config, open_video_store(config))  # videos read through Redis/Valkey; writes invalidate
    stack.push_async_callback(store.close)
    keys = open_api_key_store(config)
    stack.push_async_callback(keys.close)
    return await create_catalog_server(
        config,
        config.address("catalog"),
        store,
        keys,
        open_blob_store(config),
        reflect=mesh_service_names(),
        remote_health=remote_health_targets(config, "catalog"),
    )


def main() -> None:
    run_service("catalog", start)
