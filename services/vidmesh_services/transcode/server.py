"""Transcode service bootstrap: `python -m vidmesh_services.transcode` (the jobs API; workers run
apart, `python -m vidmesh_services.transcode.worker`)."""

from __future__ import annotations

import contextlib

import redis.asyncio as redis
from vidmesh.transcode.v1 import transcode_internal_service_pb2_grpc as internal_grpc
from vidmesh.transcode.v1 import transcode_service_pb2_grpc as pb2_grpc

from ..catalog.client import CatalogClient
from ..runtime.auth import ApiKeyStore, Authenticator
from ..runtime.calls import ServiceChannels
from ..runtime.config import Config
from ..runtime.interceptors import AccessPolicy
from ..runtime.server import RunningServer, ServiceBinding, create_server, run_service
from ..storage.open import open_api_key_store
from ..storage.redis_client import open_redis
from .jobs import Jobs, Videos
from .servicer import TranscodeInternalServicer, TranscodeServicer
from .store import JobStore

PUBLIC = "vidmesh.transcode.v1.TranscodeService"
INTERNAL = "vidmesh.transcode.v1.TranscodeInternalService"
POLICY = AccessPolicy(internal_services=frozenset({INTERNAL}))  # jobs belong to owners: every call needs a key


async def create_transcode_server(config: Config, address: str, client: redis.Redis, keys: ApiKeyStore, videos: Videos) -> RunningServer:
    """videos: the catalog, asked for a submitted job's source duration (the job's cost in line)."""
    jobs = Jobs(client, JobStore(client, config.transcode.max_attempts), videos)
    return await create_server(
        address,
        [
            ServiceBinding(PUBLIC, lambda s: pb2_grpc.add_TranscodeServiceServicer_to_server(TranscodeServicer(jobs), s)),
            ServiceBinding(
                INTERNAL,
                lambda s: internal_grpc.add_TranscodeInternalServiceServicer_to_server(TranscodeInternalServicer(jobs), s),
            ),
        ],
        authenticator=Authenticator(keys, config.service_token),
        policy=POLICY,
        ready=keys.wait_ready,
    )


async def start(config: Config, stack: contextlib.AsyncExitStack) -> RunningServer:
    client = open_redis(config.effective_redis_url)  # reconnects after a Valkey restart
    stack.push_async_callback(client.aclose)
    keys = open_api_key_store(config)
    stack.push_async_callback(keys.close)
    channels = ServiceChannels(config)
    stack.push_async_callback(channels.close)
    return await create_transcode_server(config, config.address("transcode"), client, keys, CatalogClient(channels))


def main() -> None:
    run_service("transcode", start)
