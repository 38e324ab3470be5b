"""Playback server bootstrap: `python -m vidmesh_services.playback`."""

from __future__ import annotations

import contextlib

from vidmesh.playback.v1 import playback_service_pb2_grpc as pb2_grpc

from ..catalog.client import CatalogClient
from ..live.client import LiveClient
from ..live.segments import MediaReader
from ..runtime.auth import ApiKeyStore, Authenticator
from ..runtime.calls import ServiceChannels
from ..runtime.config import Config
from ..runtime.interceptors import AccessPolicy
from ..runtime.server import RunningServer, ServiceBinding, background, create_server, run_service
from ..storage.blobs import BlobStore
from ..storage.open import open_api_key_store, open_blob_store
from ..storage.redis_client import open_redis
from .live import LivePlayback, LiveUpdates
from .objects import Playback, VideoLookup
from .servicer import PlaybackServicer
from .tokens import PlaybackTokens

SERVICE = "vidmesh.playback.v1.PlaybackService"
OBJECT_METHODS = (
    "GetMasterPlaylist",
    "GetMediaPlaylist",
    "GetSegment",
    "GetPoster",
    "GetStoryboard",
    "GetLiveMasterPlaylist",
    "GetLiveMediaPlaylist",
    "GetLiveSegment",
)
# Players fetch objects without credentials (private ones carry a token); signing needs a key.
POLICY = AccessPolicy(anonymous_methods=frozenset(f"/{SERVICE}/{m}" for m in OBJECT_METHODS))


def playback_tokens(config: Config) -> PlaybackTokens:
    if not config.playback_secret:
        # An empty HMAC key would make every token forgeable.
        raise SystemExit("playback: VIDMESH_PLAYBACK_SECRET is not set (vidmesh up sets it)")
    return PlaybackTokens(config.playback_secret.encode())


async def create_playback_server(
    config: Config, address: str, keys: ApiKeyStore, blobs: BlobStore, lookup: VideoLookup, live: LivePlayback
) -> RunningServer:
    playback = Playback(blobs, lookup, playback_tokens(config), config.hls.playlist_cache_control)
    return await create_server(
        address,
        [ServiceBinding(SERVICE, lambda s: pb2_grpc.add_PlaybackServiceServicer_to_server(PlaybackServicer(playback, live), s))],
        authenticator=Authenticator(keys, config.service_token),
        policy=POLICY,
        ready=keys.wait_ready,
    )


async def start(config: Config, stack: contextlib.AsyncExitStack) -> RunningServer:
    keys = open_api_key_store(config)  # for CreatePlaybackUrl, which needs the owner's key
    stack.push_async_callback(keys.close)
    channels = ServiceChannels(config)
    stack.push_async_callback(channels.close)
    catalog = CatalogClient(channels)  # videos as the service identity, through the catalog's cache
    client = open_redis(config.effective_redis_url)  # the live window
    stack.push_async_callback(client.aclose)
    updates = LiveUpdates(client)
    background(stack, updates.follow())
    live = LivePlayback(MediaReader(client), updates, LiveClient(channels).get_stream, playback_tokens(config))
    return await create_playback_server(config, config.address("playback"), keys, open_blob_store(config), catalog.get_video, live)


def main() -> None:
    run_service("playback", start)
