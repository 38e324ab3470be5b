"""gRPC adapter of analytics: proto in, ingest / counters / warehouse call, proto out.

Who may read what is decided here, from the catalog's answer about the video: metrics are for
the video's owner (and the service identity); view counts for anyone who may see the video.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from google.protobuf import timestamp_pb2
from vidmesh.analytics.v1 import analytics_internal_service_pb2 as internal_pb2
from vidmesh.analytics.v1 import analytics_internal_service_pb2_grpc as internal_grpc
from vidmesh.analytics.v1 import analytics_service_pb2 as pb2
from vidmesh.analytics.v1 import analytics_service_pb2_grpc as pb2_grpc
from vidmesh.catalog.v1 import resources_pb2

from ..catalog.client import CatalogClient
from ..catalog.videos import can_see
from ..runtime.auth import current_caller, require_caller
from ..runtime.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from ..runtime.interceptors import Context
from ..runtime.validation import parse_name
from .counters import Counters
from .ingest import Ingest
from .warehouse import Warehouse

SERVICE = "vidmesh.analytics.v1.AnalyticsService"
INTERNAL = "vidmesh.analytics.v1.AnalyticsInternalService"
MAX_VIEW_COUNT_VIDEOS = 100


def _seconds(stamp: timestamp_pb2.Timestamp, present: bool) -> float | None:
    return stamp.ToNanoseconds() / 1e9 if present else None


def _range(request: pb2.GetVideoMetricsRequest | pb2.GetRetentionRequest | pb2.ListTopVideosRequest) -> tuple[float | None, float | None]:
    start = _seconds(request.start_time, request.HasField("start_time"))
    end = _seconds(request.end_time, request.HasField("end_time"))
    if start is not None and start >= (time.time() if end is None else end):
        raise InvalidArgument(FieldViolation("start_time", "must be before end_time (or now)"))
    return start, end


def _duration_ms(video: resources_pb2.Video) -> int:
    return video.source.duration.ToMilliseconds()


class AnalyticsServicer(pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, ingest: Ingest, counters: Counters, warehouse: Warehouse, catalog: CatalogClient):
        self._ingest = ingest
        self._counters = counters
        self._warehouse = warehouse
        self._catalog = catalog

    # -- events in --------------------------------------------------------------------------

    async def SendEvents(
        self, request_iterator: AsyncIterator[pb2.SendEventsRequest], context: Context
    ) -> AsyncIterator[pb2.SendEventsResponse]:
        caller = current_caller()
        async for batch in request_iterator:
            outcome = await self._ingest.accept(caller, batch.events, batch.ByteSize())
            yield pb2.SendEventsResponse(
                accepted_count=outcome.accepted, duplicate_count=outcome.duplicates, rejected_events=outcome.rejected
            )

    async def SendEventBatch(self, request: pb2.SendEventBatchRequest, context: Context) -> pb2.SendEventBatchResponse:
        outcome = await self._ingest.accept(current_caller(), request.events, request.ByteSize())
        return pb2.SendEventBatchResponse(
            accepted_count=outcome.accepted, duplicate_count=outcome.duplicates, rejected_events=outcome.rejected
        )

    # -- metrics out ------------------------------------------------------------------------

    async def _owned_video(self, name: str, field: str = "video") -> resources_pb2.Video:
        """The video if the caller owns it (or is a vidmesh service); NOT_FOUND if the caller may
        not see it, PERMISSION_DENIED if it may see but not own it."""
        caller = require_caller()
        video_id = parse_name(name, "videos", field)
        video = await self._catalog.get_video(video_id)
        if video is None or not can_see(video, caller):
            raise NotFound("video", name)
        if not caller.is_service and video.owner != caller.owner:
            raise PermissionDenied("video", name, "only the video's owner may read its analytics", owner=video.owner)
        return video

    async def GetVideoMetrics(self, request: pb2.GetVideoMetricsRequest, context: Context) -> pb2.GetVideoMetricsResponse:
        video = await self._owned_video(request.video)
        start, end = _range(request)
        return await self._counters.video_metrics(video.id, start=start, end=end, interval=request.interval)

    async def GetRetention(self, request: pb2.GetRetentionRequest, context: Context) -> pb2.GetRetentionResponse:
        video = await self._owned_video(request.video)
        start, end = _range(request)
        if start is None and end is None:
            return await self._counters.retention(video.id, _duration_ms(video))
        return await self._warehouse.retention(video.id, _duration_ms(video), start=start, end=end)

    async def ListTopVideos(self, request: pb2.ListTopVideosRequest, context: Context) -> pb2.ListTopVideosResponse:
        caller = require_caller()
        if not request.owner:
            raise InvalidArgument(FieldViolation("owner", "must be set: the owner whose videos to rank (yourself)"))
        if request.owner != caller.owner and not caller.is_service:
            raise PermissionDenied("owner", request.owner, "only an owner may rank their own videos", owner=request.owner)
        if not 0 <= request.page_size <= 50:
            raise InvalidArgument(FieldViolation("page_size", "must be 1 to 50, or 0 for 10"))
        limit = request.page_size or 10
        start, end = _range(request)
        if start is None and end is None:
            ranked = pb2.ListTopVideosResponse(
                videos=await self._counters.top_videos(request.owner, request.order_by, limit), as_of_time=await self._counters.as_of()
            )
        else:
            ranked = await self._warehouse.top_videos(request.owner, request.order_by, limit, start=start, end=end)
        # Deleted videos keep their counters; they leave the ranking.
        names = [top.video.removeprefix("videos/") for top in ranked.videos]
        existing = await self._catalog.batch_get_videos(names)
        kept = [top for top in ranked.videos if top.video.removeprefix("videos/") in existing]
        del ranked.videos[:]
        ranked.videos.extend(kept)
        return ranked

    async def BatchGetViewCounts(self, request: pb2.BatchGetViewCountsRequest, context: Context) -> pb2.BatchGetViewCountsResponse:
        if len(request.videos) > MAX_VIEW_COUNT_VIDEOS:
            raise InvalidArgument(FieldViolation("videos", f"at most {MAX_VIEW_COUNT_VIDEOS} videos per call"))
        ids = [parse_name(name, "videos", f"videos[{i}]") for i, name in enumerate(request.videos)]
        caller = current_caller()
        found = await self._catalog.batch_get_videos(list(dict.fromkeys(ids)))
        visible = [video_id for video_id in ids if video_id in found and can_see(found[video_id], caller)]
        counts, as_of = await self._counters.view_counts(visible)
        return pb2.BatchGetViewCountsResponse(
            view_counts=[pb2.ViewCount(video=f"videos/{v}", views=counts.get(v, 0), as_of_time=as_of) for v in visible]
        )


class AnalyticsInternalServicer(internal_grpc.AnalyticsInternalServiceServicer):
    """Reachable by the service identity only (the access policy enforces it)."""

    def __init__(self, counters: Counters):
        self._counters = counters

    async def ListViewMilestones(
        self, request: internal_pb2.ListViewMilestonesRequest, context: Context
    ) -> internal_pb2.ListViewMilestonesResponse:
        found, cursor = await self._counters.view_milestones(request.cursor, request.page_size)
        milestones = [internal_pb2.ViewMilestone(video_id=video, views=views) for video, views in found]
        return internal_pb2.ListViewMilestonesResponse(milestones=milestones, next_cursor=cursor)

    async def ListViews(self, request: internal_pb2.ListViewsRequest, context: Context) -> internal_pb2.ListViewsResponse:
        found, cursor = await self._counters.views(request.cursor, request.page_size)
        views = [internal_pb2.View(viewer=viewer, video_id=video, view_time_ms=at) for viewer, video, at in found]
        return internal_pb2.ListViewsResponse(views=views, next_cursor=cursor)
