"""gRPC adapter of the catalog: proto in, Catalog call, proto out."""

from __future__ import annotations

from vidmesh.catalog.v1 import catalog_internal_service_pb2 as internal_pb2
from vidmesh.catalog.v1 import catalog_internal_service_pb2_grpc as internal_grpc
from vidmesh.catalog.v1 import catalog_service_pb2 as pb2
from vidmesh.catalog.v1 import catalog_service_pb2_grpc as pb2_grpc

from ..runtime.auth import current_caller, require_caller
from ..runtime.interceptors import Context
from .videos import Catalog


class CatalogServicer(pb2_grpc.CatalogServiceServicer):
    def __init__(self, catalog: Catalog):
        self._catalog = catalog

    async def GetVideo(self, request: pb2.GetVideoRequest, context: Context) -> pb2.GetVideoResponse:
        return pb2.GetVideoResponse(video=await self._catalog.get(request.name, current_caller(), request.playback_token))

    async def BatchGetVideos(self, request: pb2.BatchGetVideosRequest, context: Context) -> pb2.BatchGetVideosResponse:
        videos, missing = await self._catalog.batch_get(list(request.names), current_caller())
        return pb2.BatchGetVideosResponse(videos=videos, missing_names=missing)

    async def ListVideos(self, request: pb2.ListVideosRequest, context: Context) -> pb2.ListVideosResponse:
        videos, token = await self._catalog.list(request.owner, request.page_size, request.page_token, current_caller())
        return pb2.ListVideosResponse(videos=videos, next_page_token=token)

    async def UpdateVideo(self, request: pb2.UpdateVideoRequest, context: Context) -> pb2.UpdateVideoResponse:
        video = await self._catalog.update(request.video, request.update_mask, require_caller())
        return pb2.UpdateVideoResponse(video=video)

    async def DeleteVideo(self, request: pb2.DeleteVideoRequest, context: Context) -> pb2.DeleteVideoResponse:
        await self._catalog.delete(request.name, require_caller(), request.etag)
        return pb2.DeleteVideoResponse()


class CatalogInternalServicer(internal_grpc.CatalogInternalServiceServicer):
    """Reachable by the service identity only (the access policy enforces it)."""

    def __init__(self, catalog: Catalog):
        self._catalog = catalog

    async def CreateVideo(self, request: internal_pb2.CreateVideoRequest, context: Context) -> internal_pb2.CreateVideoResponse:
        source = request.source if request.HasField("source") else None
        video = await self._catalog.create(request.video_id, request.owner, request.video, source)
        return internal_pb2.CreateVideoResponse(video=video)

    async def SetProcessingResult(
        self, request: internal_pb2.SetProcessingResultRequest, context: Context
    ) -> internal_pb2.SetProcessingResultResponse:
        video = await self._catalog.set_processing_result(
            request.name, request.status, request.failure_reason, list(request.renditions), request.master_playlist_path
        )
        return internal_pb2.SetProcessingResultResponse(video=video)

    async def ListVideoChanges(
        self, request: internal_pb2.ListVideoChangesRequest, context: Context
    ) -> internal_pb2.ListVideoChangesResponse:
        changes, cursor = await self._catalog.changes(request.cursor, request.page_size)
        return internal_pb2.ListVideoChangesResponse(
            changes=[internal_pb2.VideoChange(video_id=c.video_id, revision=c.rev) for c in changes], next_cursor=cursor
        )

    async def ScanVideos(self, request: internal_pb2.ScanVideosRequest, context: Context) -> internal_pb2.ScanVideosResponse:
        videos, token, changes_cursor = await self._catalog.scan(request.page_size, request.page_token)
        return internal_pb2.ScanVideosResponse(videos=videos, next_page_token=token, changes_cursor=changes_cursor)
