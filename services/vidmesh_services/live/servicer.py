"""gRPC adapter of live streams: proto in, Streams call, proto out."""

from __future__ import annotations

from vidmesh.live.v1 import live_service_pb2 as pb2
from vidmesh.live.v1 import live_service_pb2_grpc as pb2_grpc

from ..runtime.auth import current_caller, require_caller
from ..runtime.interceptors import Context
from .streams import Streams

SERVICE = "vidmesh.live.v1.LiveService"


class LiveServicer(pb2_grpc.LiveServiceServicer):
    """Streams as resources. The chat RPCs stay unimplemented until live chat lands."""

    def __init__(self, streams: Streams):
        self._streams = streams

    async def CreateStream(self, request: pb2.CreateStreamRequest, context: Context) -> pb2.CreateStreamResponse:
        return pb2.CreateStreamResponse(stream=await self._streams.create(request.stream, request.request_id, require_caller()))

    async def GetStream(self, request: pb2.GetStreamRequest, context: Context) -> pb2.GetStreamResponse:
        return pb2.GetStreamResponse(stream=await self._streams.get(request.name, current_caller()))

    async def ListStreams(self, request: pb2.ListStreamsRequest, context: Context) -> pb2.ListStreamsResponse:
        streams, token = await self._streams.list_streams(
            request.owner, request.state, request.page_size, request.page_token, current_caller()
        )
        return pb2.ListStreamsResponse(streams=streams, next_page_token=token)

    async def EndStream(self, request: pb2.EndStreamRequest, context: Context) -> pb2.EndStreamResponse:
        return pb2.EndStreamResponse(stream=await self._streams.end(request.name, require_caller()))

    async def RotateStreamKey(self, request: pb2.RotateStreamKeyRequest, context: Context) -> pb2.RotateStreamKeyResponse:
        return pb2.RotateStreamKeyResponse(stream=await self._streams.rotate_key(request.name, require_caller()))

    async def DeleteStream(self, request: pb2.DeleteStreamRequest, context: Context) -> pb2.DeleteStreamResponse:
        await self._streams.delete(request.name, require_caller())
        return pb2.DeleteStreamResponse()
