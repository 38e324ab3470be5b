"""Analytics server bootstrap: `python -m vidmesh_services.analytics`."""

from __future__ import annotations

import contextlib

from vidmesh.analytics.v1 import analytics_internal_service_pb2_grpc as internal_grpc
from vidmesh.analytics.v1 import analytics_service_pb2_grpc as pb2_grpc

from ..catalog.client import CatalogClient
from ..runtime.auth import ApiKeyStore, Authenticator
from ..runtime.calls import ServiceChannels
from ..runtime.config import Config
from ..runtime.interceptors import AccessPolicy
from ..runtime.server import RunningServer, ServiceBinding, create_server, run_service
from ..runtime.viewers import viewer_hasher
from ..storage.open import open_api_key_store
from ..storage.redis_client import open_redis
from .counters import Counters
from .ingest import Ingest
from .servicer import INTERNAL, SERVICE, AnalyticsInternalServicer, AnalyticsServicer
from .warehouse import Warehouse

# Players send events without credentials (a key, when sent, decides the viewer); view counts
# are public. Metrics and rankings need the owner's key.
POLICY = AccessPolicy(
    anonymous_methods=frozenset(f"/{SERVICE}/{m}" for m in ("SendEvents", "SendEventBatch", "BatchGetViewCounts")),
    internal_services=frozenset({INTERNAL}),
)


async def create_analytics_server(
    config: Config, address: str, servicer: AnalyticsServicer, internal: AnalyticsInternalServicer, keys: ApiKeyStore
) -> RunningServer:
    return await create_server(
        address,
        [
            ServiceBinding(SERVICE, lambda s: pb2_grpc.add_AnalyticsServiceServicer_to_server(servicer, s)),
            ServiceBinding(INTERNAL, lambda s: internal_grpc.add_AnalyticsInternalServiceServicer_to_server(internal, s)),
        ],
        authenticator=Authenticator(keys, config.service_token),
        policy=POLICY,
        ready=keys.wait_ready,
    )


async def start(config: Config, stack: contextlib.AsyncExitStack) -> RunningServer:
    if not config.playback_secret:
        raise SystemExit("analytics: VIDMESH_PLAYBACK_SECRET is not set (vidmesh up sets it); viewer ids are hashed with it")
    client = open_redis(config.effective_redis_url)
    stack.push_async_callback(client.aclose)
    channels = ServiceChannels(config)
    stack.push_async_callback(channels.close)
    keys = open_api_key_store(config)
    stack.push_async_callback(keys.close)
    catalog = CatalogClient(channels)
    settings = config.analytics
    ingest = Ingest(client, catalog.batch_get_videos, settings, viewer_hasher(config.playback_secret.encode()))
    warehouse = Warehouse(config.warehouse_dir, client, settings)
    stack.callback(warehouse.close)
    counters = Counters(client, settings)
    servicer = AnalyticsServicer(ingest, counters, warehouse, catalog)
    return await create_analytics_server(config, config.address("analytics"), servicer, AnalyticsInternalServicer(counters), keys)


def main() -> None:
    run_service("analytics", start)
