"""Upload server bootstrap: `python -m vidmesh_services.upload`."""

from __future__ import annotations

import contextlib

import redis.asyncio as redis

from ..catalog.client import CatalogClient
from ..runtime.auth import ApiKeyStore, Authenticator
from ..runtime.calls import ServiceChannels
from ..runtime.config import Config
from ..runtime.interceptors import AccessPolicy
from ..runtime.server import RunningServer, ServiceBinding, background, create_server, run_service
from ..storage.open import open_api_key_store, open_blob_store
from ..storage.redis_client import open_redis
from ..transcode.client import TranscodeClient
from .probe import Prober
from .servicer import SERVICE, UploadServicer, add_to_server
from .store import UploadState
from .uploads import Uploads

POLICY = AccessPolicy()  # every upload call needs an API key


def build_uploads(config: Config, client: redis.Redis, channels: ServiceChannels, prober: Prober) -> Uploads:
    limits = config.upload
    return Uploads(
        state=UploadState(client, limits.ttl_seconds, limits.completed_memory_seconds),
        blobs=open_blob_store(config),
        prober=prober,
        videos=CatalogClient(channels),
        jobs=TranscodeClient(channels),
        limits=limits,
    )


async def create_upload_server(config: Config, address: str, uploads: Uploads, keys: ApiKeyStore) -> RunningServer:
    return await create_server(
        address,
        [ServiceBinding(SERVICE, lambda s: add_to_server(UploadServicer(uploads), s))],
        authenticator=Authenticator(keys, config.service_token),
        policy=POLICY,
        ready=keys.wait_ready,
    )


async def start(config: Config, stack: contextlib.AsyncExitStack) -> RunningServer:
    client = open_redis(config.effective_redis_url)
    stack.push_async_callback(client.aclose)
    channels = ServiceChannels(config)
    stack.push_async_callback(channels.close)
    prober = Prober(config.blob_root)
    stack.callback(prober.close)
    keys = open_api_key_store(config)
    stack.push_async_callback(keys.close)
    uploads = build_uploads(config, client, channels, prober)
    background(stack, uploads.run_janitor(config.upload.sweep_interval_seconds))
    return await create_upload_server(config, config.address("upload"), uploads, keys)


def main() -> None:
    run_service("upload", start)
