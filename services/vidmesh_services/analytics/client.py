"""The typed client other services use to call analytics (as the service identity)."""

from __future__ import annotations

from collections.abc import Sequence

from vidmesh.analytics.v1 import analytics_internal_service_pb2 as internal_pb2
from vidmesh.analytics.v1 import analytics_internal_service_pb2_grpc as internal_grpc
from vidmesh.analytics.v1 import analytics_service_pb2 as pb2
from vidmesh.analytics.v1 import analytics_service_pb2_grpc as pb2_grpc

from ..runtime.calls import ServiceChannels

CALLEE = "analytics"
SERVICES = (
    pb2.DESCRIPTOR.services_by_name["AnalyticsService"],
    internal_pb2.DESCRIPTOR.services_by_name["AnalyticsInternalService"],
)
MAX_VIEW_COUNTS = 100  # BatchGetViewCounts' limit


class AnalyticsClient:
    def __init__(self, channels: ServiceChannels):
        self._calls = channels
        channel = channels.channel(CALLEE, SERVICES)
        self._stub = pb2_grpc.AnalyticsServiceStub(channel)
        self._internal = internal_grpc.AnalyticsInternalServiceStub(channel)

    async def view_counts(self, video_ids: Sequence[str]) -> dict[str, int]:
        """Lifetime views of those of the videos that exist (at most 100 ids)."""
        if not video_ids:
            return {}
        request = pb2.BatchGetViewCountsRequest(videos=[f"videos/{v}" for v in video_ids])
        reply: pb2.BatchGetViewCountsResponse = await self._calls.call(CALLEE, self._stub.BatchGetViewCounts, request)
        return {count.video.removeprefix("videos/"): count.views for count in reply.view_counts}

    async def view_milestones(self, cursor: str, page_size: int = 0) -> tuple[list[tuple[str, int]], str]:
        """(video, views) that reached a view milestone after cursor (empty: none, and the newest
        position), and where to read on."""
        request = internal_pb2.ListViewMilestonesRequest(cursor=cursor, page_size=page_size)
        reply: internal_pb2.ListViewMilestonesResponse = await self._calls.call(CALLEE, self._internal.ListViewMilestones, request)
        return [(m.video_id, m.views) for m in reply.milestones], reply.next_cursor

    async def views(self, cursor: str, page_size: int = 0) -> tuple[list[internal_pb2.View], str]:
        """Sessions that became views after cursor (empty: none, and the newest position), and
        where to read on."""
        request = internal_pb2.ListViewsRequest(cursor=cursor, page_size=page_size)
        reply: internal_pb2.ListViewsResponse = await self._calls.call(CALLEE, self._internal.ListViews, request)
        return list(reply.views), reply.next_cursor
