"""Transcode service bootstrap: `python -m vidmesh_services.transcode` (jobs API; workers run apart)."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis
from vidmesh.transcode.v1 import transcode_service_pb2_grpc as pb2_grpc

from ..runtime.auth import Authenticator
from ..runtime.config import Config, load_config
from ..runtime.interceptors import AccessPolicy
from ..runtime.jobs import JobStore
from ..runtime.logs import setup_logging
from ..runtime.ports import MetadataStore
from ..runtime.server import RunningServer, ServiceBinding, create_server, serve
from ..runtime.stores import open_metadata_store
from .jobs_view import JobsView
from .servicer import TranscodeServicer

SERVICE = "vidmesh.transcode.v1.TranscodeService"
POLICY = AccessPolicy()  # jobs belong to owners: every call needs a key


async def create_transcode_server(config: Config, address: str, client: redis.Redis, store: MetadataStore) -> RunningServer:
    view = JobsView(client, JobStore(client, config.transcode.max_attempts))
    return await create_server(
        address,
        [ServiceBinding(SERVICE, lambda s: pb2_grpc.add_TranscodeServiceServicer_to_server(TranscodeServicer(view), s))],
        authenticator=Authenticator(store, config.service_token),
        policy=POLICY,
        ready=store.wait_ready,
    )


def main() -> None:
    config = load_config()
    setup_logging("transcode", config.log_level)

    async def run() -> None:
        client = redis.Redis.from_url(config.effective_redis_url)
        store = open_metadata_store(config)

        async def cleanup() -> None:
            await client.aclose()
            await store.close()

        await serve(lambda: create_transcode_server(config, config.address("transcode"), client, store), config.shutdown_grace_seconds, cleanup)

    asyncio.run(run())
