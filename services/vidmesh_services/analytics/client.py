"""The typed client other services use to call analytics (as the service identity)."""

from __future__ import annotations

from collections.abc import Sequence

from vidmesh.analytics.v1 import analytics_service_pb2 as pb2
from vidmesh.analytics.v1 import analytics_service_pb2_grpc as pb2_grpc

from ..runtime.calls import ServiceChannels

CALLEE = "analytics"
SERVICES = (pb2.DESCRIPTOR.services_by_name["AnalyticsService"],)
MAX_VIEW_COUNTS = 100  # BatchGetViewCounts' limit


class AnalyticsClient:
    def __init__(self, channels: ServiceChannels):
        self._calls = channels
        self._stub = pb2_grpc.AnalyticsServiceStub(channels.channel(CALLEE, SERVICES))

    async def view_counts(self, video_ids: Sequence[str]) -> dict[str, int]:
        """Lifetime views of those of the videos that exist (at most 100 ids)."""
        if not video_ids:
            return {}
        request = pb2.BatchGetViewCountsRequest(videos=[f"videos/{v}" for v in video_ids])
        reply: pb2.BatchGetViewCountsResponse = await self._calls.call(CALLEE, self._stub.BatchGetViewCounts, request)
        return {count.video.removeprefix("videos/"): count.views for count in reply.view_counts}
