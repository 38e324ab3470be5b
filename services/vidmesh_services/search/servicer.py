"""gRPC adapter of search: proto in, Search call, proto out."""

from __future__ import annotations

from vidmesh.search.v1 import search_service_pb2 as pb2
from vidmesh.search.v1 import search_service_pb2_grpc as pb2_grpc

from ..runtime.auth import current_caller
from ..runtime.interceptors import Context
from .searching import Search

SERVICE = "vidmesh.search.v1.SearchService"


class SearchServicer(pb2_grpc.SearchServiceServicer):
    def __init__(self, search: Search):
        self._search = search

    async def SearchVideos(self, request: pb2.SearchVideosRequest, context: Context) -> pb2.SearchVideosResponse:
        return await self._search.search(request, current_caller())

    async def SuggestQueries(self, request: pb2.SuggestQueriesRequest, context: Context) -> pb2.SuggestQueriesResponse:
        return pb2.SuggestQueriesResponse(suggestions=self._search.suggest(request.prefix))
