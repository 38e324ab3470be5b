"""gRPC adapter of recommendations: proto in, Recommender call, proto out."""

from __future__ import annotations

from vidmesh.recs.v1 import recs_service_pb2 as pb2
from vidmesh.recs.v1 import recs_service_pb2_grpc as pb2_grpc

from ..runtime.auth import current_caller
from ..runtime.interceptors import Context
from .recommending import Recommender

SERVICE = "vidmesh.recs.v1.RecsService"


class RecsServicer(pb2_grpc.RecsServiceServicer):
    def __init__(self, recommender: Recommender):
        self._recommender = recommender

    async def GetRecommendations(self, request: pb2.GetRecommendationsRequest, context: Context) -> pb2.GetRecommendationsResponse:
        return await self._recommender.recommend(request, current_caller())

    async def SetReaction(self, request: pb2.SetReactionRequest, context: Context) -> pb2.SetReactionResponse:
        return await self._recommender.set_reaction(request, current_caller())

    async def GetReactions(self, request: pb2.GetReactionsRequest, context: Context) -> pb2.GetReactionsResponse:
        return await self._recommender.reactions(request, current_caller())

    async def RecordShare(self, request: pb2.RecordShareRequest, context: Context) -> pb2.RecordShareResponse:
        return await self._recommender.share(request, current_caller())

    async def RecordRecommendationEvents(
        self, request: pb2.RecordRecommendationEventsRequest, context: Context
    ) -> pb2.RecordRecommendationEventsResponse:
        return await self._recommender.record_events(request)
