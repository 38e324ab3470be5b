"""Live server bootstrap: `python -m vidmesh_services.live`.

Streams live in the metadata store (live/store.py) and their live figures in Valkey (onair.py);
the ingest worker (live/ingest.py) writes both as encoders come and go.
"""

from __future__ import annotations

import contextlib

from vidmesh.live.v1 import live_service_pb2_grpc as pb2_grpc

from ..runtime.auth import ApiKeyStore, Authenticator
from ..runtime.config import Config
from ..runtime.interceptors import AccessPolicy
from ..runtime.server import RunningServer, ServiceBinding, background, create_server, run_service
from ..storage.open import open_api_key_store, open_stream_store
from ..storage.redis_client import open_redis
from .chat import Chat
from .chatroom import ChatRoom
from .onair import OnAir
from .servicer import SERVICE, LiveServicer
from .store import StreamStore
from .streams import Streams

# Anyone may look at public streams; everything that changes one needs its owner's key.
# Chat's bidi call reads anonymously and refuses posts without a key itself (as rejections).
POLICY = AccessPolicy(anonymous_methods=frozenset(f"/{SERVICE}/{m}" for m in ("GetStream", "ListStreams", "WatchChat", "Chat")))


async def create_live_server(
    config: Config, address: str, streams: Streams, room: ChatRoom, keys: ApiKeyStore, store: StreamStore
) -> RunningServer:
    async def ready() -> None:
        await keys.wait_ready()
        await store.wait_ready()

    return await create_server(
        address,
        [ServiceBinding(SERVICE, lambda s: pb2_grpc.add_LiveServiceServicer_to_server(LiveServicer(streams, room), s))],
        authenticator=Authenticator(keys, config.service_token),
        policy=POLICY,
        ready=ready,
    )


async def start(config: Config, stack: contextlib.AsyncExitStack) -> RunningServer:
    client = open_redis(config.effective_redis_url)
    stack.push_async_callback(client.aclose)
    keys = open_api_key_store(config)
    stack.push_async_callback(keys.close)
    store = open_stream_store(config)
    stack.push_async_callback(store.close)
    chat = Chat(client, config.live.chat_burst, config.live.chat_refill_seconds)
    background(stack, chat.follow())
    streams = Streams(store, OnAir(client), chat, config)
    return await create_live_server(config, config.address("live"), streams, ChatRoom(streams, chat), keys, store)


def main() -> None:
    run_service("live", start)
