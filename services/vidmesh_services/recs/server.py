"""Recs server bootstrap: `python -m vidmesh_services.recs`.

Serving reads what the recs worker and the training job write to Valkey; its own state is
caches: the videos it shows (videos.py, kept correct by the catalog's change feed), a model's
video table and the parsed trending list. It reports NOT_SERVING until it follows the feed.
"""

from __future__ import annotations

import contextlib

from vidmesh.recs.v1 import recs_service_pb2_grpc as pb2_grpc

from ..catalog.client import CatalogClient
from ..runtime.auth import ApiKeyStore, Authenticator
from ..runtime.calls import ServiceChannels
from ..runtime.config import Config
from ..runtime.interceptors import AccessPolicy
from ..runtime.server import RunningServer, ServiceBinding, background, create_server, run_service
from ..runtime.viewers import viewer_hasher
from ..storage.open import open_api_key_store
from ..storage.redis_client import open_redis
from .recommending import Recommender
from .servicer import SERVICE, RecsServicer
from .store import RecsStore
from .tokens import Tokens
from .videos import VideoCache

# Viewers are anonymous (a viewer_id) unless they send a key, which then decides who they are.
POLICY = AccessPolicy(
    anonymous_methods=frozenset(
        f"/{SERVICE}/{m}" for m in ("GetRecommendations", "SetReaction", "GetReactions", "RecordShare", "RecordRecommendationEvents")
    )
)


async def create_recs_server(config: Config, address: str, servicer: RecsServicer, keys: ApiKeyStore, videos: VideoCache) -> RunningServer:
    async def ready() -> None:
        await keys.wait_ready()
        await videos.following.wait()

    return await create_server(
        address,
        [ServiceBinding(SERVICE, lambda s: pb2_grpc.add_RecsServiceServicer_to_server(servicer, s))],
        authenticator=Authenticator(keys, config.service_token),
        policy=POLICY,
        ready=ready,
    )


async def start(config: Config, stack: contextlib.AsyncExitStack) -> RunningServer:
    if not config.playback_secret:
        raise SystemExit("recs: VIDMESH_PLAYBACK_SECRET is not set (vidmesh up sets it); viewers are hashed with it")
    client = open_redis(config.effective_redis_url)
    stack.push_async_callback(client.aclose)
    channels = ServiceChannels(config)
    stack.push_async_callback(channels.close)
    keys = open_api_key_store(config)
    stack.push_async_callback(keys.close)
    secret = config.playback_secret.encode()
    store = RecsStore(client, config.recs.watched_kept, config.recs.max_reactions_per_viewer)
    videos = VideoCache(CatalogClient(channels), config.recs.video_cache_entries)
    background(stack, videos.follow(config.recs.catalog_poll_seconds))
    recommender = Recommender(store, videos, Tokens(secret), viewer_hasher(secret))
    return await create_recs_server(config, config.address("recs"), RecsServicer(recommender), keys, videos)


def main() -> None:
    run_service("recs", start)
