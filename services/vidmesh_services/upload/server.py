"""Upload server bootstrap: `python -m vidmesh_services.upload`."""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as redis

from ..runtime.auth import Authenticator
from ..runtime.blob_fs import FilesystemBlobStore
from ..runtime.channels import InternalCaller
from ..runtime.config import Config, load_config
from ..runtime.interceptors import AccessPolicy
from ..runtime.jobs import TranscodeJobQueue
from ..runtime.logs import setup_logging
from ..runtime.ports import MetadataStore
from ..runtime.server import RunningServer, ServiceBinding, create_server, serve
from ..runtime.stores import open_metadata_store
from .probe import Prober
from .servicer import SERVICE, CatalogVideoRegistry, UploadServicer, add_to_server
from .state import UploadState
from .uploads import Uploads

POLICY = AccessPolicy()  # every upload call needs an API key


def build_uploads(config: Config, client: redis.Redis, caller: InternalCaller, prober: Prober) -> Uploads:
    limits = config.upload
    return Uploads(
        state=UploadState(client, limits.ttl_seconds, limits.completed_memory_seconds),
        blobs=FilesystemBlobStore(config.blob_root),
        prober=prober,
        videos=CatalogVideoRegistry(caller),
        jobs=TranscodeJobQueue(client, config.transcode.max_attempts),
        limits=limits,
    )


async def create_upload_server(config: Config, address: str, uploads: Uploads, store: MetadataStore) -> RunningServer:
    return await create_server(
        address,
        [ServiceBinding(SERVICE, lambda s: add_to_server(UploadServicer(uploads), s))],
        authenticator=Authenticator(store, config.service_token),
        policy=POLICY,
        ready=store.wait_ready,
    )


def main() -> None:
    config = load_config()
    setup_logging("upload", config.log_level)

    async def run() -> None:
        client = redis.Redis.from_url(config.effective_redis_url)
        caller = InternalCaller(config)
        prober = Prober(config.blob_root)
        store = open_metadata_store(config)
        uploads = build_uploads(config, client, caller, prober)
        janitor = asyncio.create_task(uploads.run_janitor(config.upload.sweep_interval_seconds))

        async def cleanup() -> None:
            janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await janitor
            await caller.close()
            await client.aclose()
            await store.close()
            prober.close()

        await serve(lambda: create_upload_server(config, config.address("upload"), uploads, store), config.shutdown_grace_seconds, cleanup)

    asyncio.run(run())
