"""Playback server bootstrap: `python -m vidmesh_services.playback`."""

from __future__ import annotations

import asyncio

import grpc
from vidmesh.catalog.v1 import catalog_service_pb2 as catalog_pb2
from vidmesh.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
from vidmesh.playback.v1 import playback_service_pb2_grpc as pb2_grpc

from ..runtime.auth import Authenticator
from ..runtime.blob_fs import FilesystemBlobStore
from ..runtime.channels import InternalCaller
from ..runtime.config import Config, load_config
from ..runtime.errors import Unavailable
from ..runtime.interceptors import AccessPolicy
from ..runtime.logs import setup_logging
from ..runtime.playback_tokens import PlaybackTokens
from ..runtime.ports import BlobStore, MetadataStore
from ..runtime.server import RunningServer, ServiceBinding, create_server, serve
from ..runtime.stores import open_metadata_store
from .objects import Playback, Video, VideoLookup
from .servicer import PlaybackServicer

SERVICE = "vidmesh.playback.v1.PlaybackService"
OBJECT_METHODS = ("GetMasterPlaylist", "GetMediaPlaylist", "GetSegment", "GetPoster", "GetStoryboard")
# Players fetch objects without credentials (private ones carry a token); signing needs a key.
POLICY = AccessPolicy(anonymous_methods=frozenset(f"/{SERVICE}/{m}" for m in OBJECT_METHODS))


def catalog_lookup(caller: InternalCaller) -> VideoLookup:
    """Reads videos through the catalog (and its cache) as the service identity."""
    stub = catalog_grpc.CatalogServiceStub(caller.channel("catalog"))

    async def lookup(video_id: str) -> Video | None:
        try:
            reply = await stub.GetVideo(catalog_pb2.GetVideoRequest(name=f"videos/{video_id}"), **caller.call_options())
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise Unavailable(f"catalog did not answer: {exc.code().name}", reason="CATALOG_UNAVAILABLE") from None
        return reply.video

    return lookup


def playback_tokens(config: Config) -> PlaybackTokens:
    if not config.playback_secret:
        # An empty HMAC key would make every token forgeable.
        raise SystemExit("playback: VIDMESH_PLAYBACK_SECRET is not set (vidmesh up sets it)")
    return PlaybackTokens(config.playback_secret.encode())


async def create_playback_server(
    config: Config, address: str, store: MetadataStore, blobs: BlobStore, lookup: VideoLookup
) -> RunningServer:
    playback = Playback(blobs, lookup, playback_tokens(config), config.hls.playlist_cache_control)
    return await create_server(
        address,
        [ServiceBinding(SERVICE, lambda s: pb2_grpc.add_PlaybackServiceServicer_to_server(PlaybackServicer(playback), s))],
        authenticator=Authenticator(store, config.service_token),
        policy=POLICY,
        ready=store.wait_ready,
    )


def main() -> None:
    config = load_config()
    setup_logging("playback", config.log_level)

    async def run() -> None:
        store = open_metadata_store(config)  # API keys, for CreatePlaybackUrl
        caller = InternalCaller(config)

        async def cleanup() -> None:
            await caller.close()
            await store.close()

        await serve(
            lambda: create_playback_server(
                config, config.address("playback"), store, FilesystemBlobStore(config.blob_root), catalog_lookup(caller)
            ),
            config.shutdown_grace_seconds,
            cleanup,
        )

    asyncio.run(run())
