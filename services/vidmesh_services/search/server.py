"""Search server bootstrap: `python -m vidmesh_services.search`.

A search process only reads the index (the indexer process writes it): it follows the current
generation and reloads it every reload_seconds, and reports NOT_SERVING until an index exists.
"""

from __future__ import annotations

import asyncio
import contextlib

from vidmesh.search.v1 import search_service_pb2_grpc as pb2_grpc

from ..catalog.client import CatalogClient
from ..runtime.auth import ApiKeyStore, Authenticator
from ..runtime.calls import ServiceChannels
from ..runtime.config import Config
from ..runtime.interceptors import AccessPolicy
from ..runtime.server import RunningServer, ServiceBinding, background, create_server, run_service
from ..storage.open import open_api_key_store
from .index import IndexReader
from .searching import Search
from .servicer import SERVICE, SearchServicer

# Anyone may search; a key only widens an owner's search to their own non-public videos.
POLICY = AccessPolicy(anonymous_methods=frozenset(f"/{SERVICE}/{m}" for m in ("SearchVideos", "SuggestQueries")))


async def follow(reader: IndexReader, seconds: float, opened: asyncio.Event) -> None:
    """Picks up the indexer's commits (and a rebuilt generation) for as long as the server runs;
    sets opened once there is an index."""
    while True:
        if reader.refresh():
            opened.set()
        await asyncio.sleep(seconds)


async def create_search_server(
    config: Config, address: str, servicer: SearchServicer, keys: ApiKeyStore, opened: asyncio.Event
) -> RunningServer:
    async def ready() -> None:
        await keys.wait_ready()
        await opened.wait()

    return await create_server(
        address,
        [ServiceBinding(SERVICE, lambda s: pb2_grpc.add_SearchServiceServicer_to_server(servicer, s))],
        authenticator=Authenticator(keys, config.service_token),
        policy=POLICY,
        ready=ready,
    )


async def start(config: Config, stack: contextlib.AsyncExitStack) -> RunningServer:
    channels = ServiceChannels(config)
    stack.push_async_callback(channels.close)
    keys = open_api_key_store(config)
    stack.push_async_callback(keys.close)
    reader, opened = IndexReader(config.search_dir), asyncio.Event()
    background(stack, follow(reader, config.search.reload_seconds, opened))
    search = Search(reader, config.search, CatalogClient(channels))
    return await create_search_server(config, config.address("search"), SearchServicer(search), keys, opened)


def main() -> None:
    run_service("search", start)
