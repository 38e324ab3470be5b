"""The typed client other services use to call the catalog (as the service identity, so it
sees private videos too). Deadlines, retries and error mapping: runtime/calls.py."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from vidmesh.catalog.v1 import catalog_internal_service_pb2 as internal_pb2
from vidmesh.catalog.v1 import catalog_internal_service_pb2_grpc as internal_grpc
from vidmesh.catalog.v1 import catalog_service_pb2 as pb2
from vidmesh.catalog.v1 import catalog_service_pb2_grpc as pb2_grpc
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from ..runtime.calls import RemoteError, ServiceChannels
from .store import ChangeCursorExpired, VideoChange

Video = resources_pb2.Video
CALLEE = "catalog"
SERVICES = (
    pb2.DESCRIPTOR.services_by_name["CatalogService"],
    internal_pb2.DESCRIPTOR.services_by_name["CatalogInternalService"],
)


class VideoIdTaken(Exception):
    """CreateVideo found the id in use by another owner's video."""


class CatalogClient:
    def __init__(self, channels: ServiceChannels):
        self._calls = channels
        channel = channels.channel(CALLEE, SERVICES)
        self._public = pb2_grpc.CatalogServiceStub(channel)
        self._internal = internal_grpc.CatalogInternalServiceStub(channel)

    async def get_video(self, video_id: str) -> Video | None:
        """The video, whatever its visibility; None if there is no such video."""
        try:
            reply: pb2.GetVideoResponse = await self._calls.call(
                CALLEE, self._public.GetVideo, pb2.GetVideoRequest(name=f"videos/{video_id}")
            )
        except RemoteError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return reply.video

    async def batch_get_videos(self, video_ids: Sequence[str]) -> dict[str, Video]:
        """The videos that exist among video_ids (at most 100), whatever their visibility."""
        if not video_ids:
            return {}
        request = pb2.BatchGetVideosRequest(names=[f"videos/{v}" for v in video_ids])
        reply: pb2.BatchGetVideosResponse = await self._calls.call(CALLEE, self._public.BatchGetVideos, request)
        return {video.id: video for video in reply.videos}

    async def create_video(self, video_id: str, owner: str, fields: Video, source: media_pb2.MediaInfo) -> Video:
        """Creates the video (PROCESSING), or returns it if this owner's video with that id exists."""
        request = internal_pb2.CreateVideoRequest(video_id=video_id, owner=owner, video=fields, source=source)
        try:
            reply: internal_pb2.CreateVideoResponse = await self._calls.call(CALLEE, self._internal.CreateVideo, request)
        except RemoteError as exc:
            if exc.reason == "VIDEO_ID_TAKEN":
                raise VideoIdTaken(video_id) from None
            raise
        return reply.video

    async def set_processing_result(
        self,
        video_id: str,
        status: resources_pb2.VideoStatus,
        *,
        failure_reason: str = "",
        renditions: Sequence[media_pb2.Rendition] = (),
        master_playlist_path: str = "",
    ) -> Video | None:
        """Records a processing outcome; None if the video no longer exists."""
        request = internal_pb2.SetProcessingResultRequest(
            name=f"videos/{video_id}",
            status=status,
            failure_reason=failure_reason,
            renditions=renditions,
            master_playlist_path=master_playlist_path,
        )
        try:
            reply: internal_pb2.SetProcessingResultResponse = await self._calls.call(CALLEE, self._internal.SetProcessingResult, request)
        except RemoteError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return reply.video

    async def list_video_changes(self, cursor: str, page_size: int = 0) -> tuple[list[VideoChange], str]:
        """Changes after cursor (empty: none, and the feed's newest position) and where to read on.
        Raises ChangeCursorExpired when the catalog no longer keeps changes that old."""
        request = internal_pb2.ListVideoChangesRequest(cursor=cursor, page_size=page_size)
        try:
            reply: internal_pb2.ListVideoChangesResponse = await self._calls.call(CALLEE, self._internal.ListVideoChanges, request)
        except RemoteError as exc:
            if exc.reason == "CHANGE_CURSOR_EXPIRED":
                raise ChangeCursorExpired(cursor) from None
            raise
        return [VideoChange(c.video_id, c.revision) for c in reply.changes], reply.next_cursor

    async def scan_videos(self, page_token: str = "", page_size: int = 0) -> internal_pb2.ScanVideosResponse:
        """A page of every video (any status and visibility); see ScanVideos."""
        request = internal_pb2.ScanVideosRequest(page_token=page_token, page_size=page_size)
        reply: internal_pb2.ScanVideosResponse = await self._calls.call(CALLEE, self._internal.ScanVideos, request)
        return reply
