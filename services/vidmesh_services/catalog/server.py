"""Catalog server bootstrap: `python -m vidmesh_services.catalog`."""

from __future__ import annotations

import asyncio
from typing import Sequence

from vidmesh.catalog.v1 import catalog_internal_service_pb2_grpc as internal_grpc
from vidmesh.catalog.v1 import catalog_service_pb2_grpc as pb2_grpc

from ..runtime.auth import Authenticator
from ..runtime.blob_fs import FilesystemBlobStore
from ..runtime.config import Config, load_config
from ..runtime.interceptors import AccessPolicy
from ..runtime.logs import setup_logging
from ..runtime.metrics import serve_metrics
from ..runtime.playback_tokens import PlaybackTokens
from ..runtime.ports import BlobStore, MetadataStore
from ..runtime.server import RunningServer, ServiceBinding, create_server, serve
from ..runtime.stores import open_metadata_store
from .cache import with_cache
from .servicer import CatalogInternalServicer, CatalogServicer
from .videos import Catalog

PUBLIC = "vidmesh.catalog.v1.CatalogService"
INTERNAL = "vidmesh.catalog.v1.CatalogInternalService"
POLICY = AccessPolicy(
    anonymous_methods=frozenset(f"/{PUBLIC}/{m}" for m in ("GetVideo", "BatchGetVideos", "ListVideos")),
    internal_services=frozenset({INTERNAL}),
)


async def create_catalog_server(
    config: Config, address: str, store: MetadataStore, blobs: BlobStore, reflect: Sequence[str] = ()
) -> RunningServer:
    tokens = PlaybackTokens(config.playback_secret.encode()) if config.playback_secret else None
    catalog = Catalog(store, blobs, tokens)
    return await create_server(
        address,
        [
            ServiceBinding(PUBLIC, lambda s: pb2_grpc.add_CatalogServiceServicer_to_server(CatalogServicer(catalog), s)),
            ServiceBinding(
                INTERNAL,
                lambda s: internal_grpc.add_CatalogInternalServiceServicer_to_server(CatalogInternalServicer(catalog), s),
            ),
        ],
        authenticator=Authenticator(store, config.service_token),
        policy=POLICY,
        reflect=reflect,
        ready=store.wait_ready,
    )


def main() -> None:
    config = load_config()
    setup_logging("catalog", config.log_level)
    # The gateway routes reflection here, so the catalog describes every service of the mesh.
    from ..platform.topology import mesh_service_names

    async def run() -> None:
        store = open_metadata_store(config)
        blobs = FilesystemBlobStore(config.blob_root)
        store = with_cache(config, store)  # videos read through Redis/Valkey; writes invalidate
        serve_metrics(config, "catalog")
        await serve(
            lambda: create_catalog_server(config, config.address("catalog"), store, blobs, mesh_service_names()),
            config.shutdown_grace_seconds,
            store.close,
        )

    asyncio.run(run())
