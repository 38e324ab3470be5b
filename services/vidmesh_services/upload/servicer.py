"""gRPC adapter of uploads: proto in, Uploads call, proto out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from vidmesh.upload.v1 import upload_service_pb2 as pb2
from vidmesh.upload.v1 import upload_service_pb2_grpc as pb2_grpc

from ..runtime.auth import require_caller
from ..runtime.interceptors import Context
from .uploads import Chunk, Uploads
from .wire import ChunkRequest, parse_chunk_request

SERVICE = "vidmesh.upload.v1.UploadService"


def _timestamp(epoch: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(epoch * 1e9))
    return stamp


class UploadServicer(pb2_grpc.UploadServiceServicer):
    def __init__(self, uploads: Uploads):
        self._uploads = uploads

    async def InitUpload(self, request: pb2.InitUploadRequest, context: Context) -> pb2.InitUploadResponse:
        upload, expires = await self._uploads.init(
            require_caller(),
            filename=request.filename,
            size_bytes=request.size_bytes,
            content_type=request.content_type,
            sha256=request.sha256,
            chunk_size=request.chunk_size_bytes,
            title=request.title,
            description=request.description,
            tags=list(request.tags),
            visibility=request.visibility,
        )
        return pb2.InitUploadResponse(
            name=f"uploads/{upload.upload_id}",
            chunk_size_bytes=upload.chunk_size,
            chunk_count=upload.chunk_count,
            expire_time=_timestamp(expires),
            video_id=upload.video_id,
        )

    async def UploadChunks(self, request_iterator: AsyncIterator[ChunkRequest], context: Context) -> pb2.UploadChunksResponse:
        async def chunks() -> AsyncIterator[Chunk]:
            async for message in request_iterator:
                yield Chunk(upload_name=message.name, index=message.index, data=message.data, crc32c=message.crc32c)

        report = await self._uploads.receive(require_caller(), chunks())
        return pb2.UploadChunksResponse(
            recorded_indexes=report.recorded, received_count=report.received_count, chunk_count=report.chunk_count
        )

    async def GetUploadStatus(self, request: pb2.GetUploadStatusRequest, context: Context) -> pb2.GetUploadStatusResponse:
        status = await self._uploads.status(require_caller(), request.name)
        upload = status.upload
        return pb2.GetUploadStatusResponse(
            name=request.name,
            received_indexes=status.received,
            chunk_count=upload.chunk_count,
            chunk_size_bytes=upload.chunk_size,
            size_bytes=upload.size_bytes,
            expire_time=_timestamp(status.expire_time),
            video_id=upload.video_id,
        )

    async def CompleteUpload(self, request: pb2.CompleteUploadRequest, context: Context) -> pb2.CompleteUploadResponse:
        video_id = await self._uploads.complete(require_caller(), request.name)
        return pb2.CompleteUploadResponse(video_id=video_id, video_name=f"videos/{video_id}")

    async def AbortUpload(self, request: pb2.AbortUploadRequest, context: Context) -> pb2.AbortUploadResponse:
        await self._uploads.abort(require_caller(), request.name)
        return pb2.AbortUploadResponse()


def add_to_server(servicer: UploadServicer, server: grpc.aio.Server) -> None:
    """pb2_grpc.add_UploadServiceServicer_to_server, except that UploadChunks requests are read by
    wire.parse_chunk_request, which leaves each chunk inside the received buffer (no copies)."""
    generated = _HandlerCapture()
    pb2_grpc.add_UploadServiceServicer_to_server(servicer, generated)
    handlers = dict(generated.handlers)
    # The handlers are namedtuples at runtime; grpc-stubs declares RpcMethodHandler without _replace.
    handlers["UploadChunks"] = handlers["UploadChunks"]._replace(request_deserializer=parse_chunk_request)  # type: ignore[attr-defined]
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    # grpc.aio.Server has had this since grpcio 1.63; grpc-stubs (1.53) predates it.
    server.add_registered_method_handlers(SERVICE, handlers)  # type: ignore[attr-defined]


class _HandlerCapture:
    """Stands in for a server to collect the method handlers the generated code registers."""

    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]

    def add_generic_rpc_handlers(self, generic_handlers: object) -> None:
        pass

    def add_registered_method_handlers(self, service_name: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]) -> None:
        self.handlers = handlers
