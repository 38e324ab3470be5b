"""The typed client other services use to call Live (as the service identity, so it sees private
streams too). Deadlines, retries and error mapping: runtime/calls.py."""

from __future__ import annotations

import grpc
from vidmesh.live.v1 import live_service_pb2 as pb2
from vidmesh.live.v1 import live_service_pb2_grpc as pb2_grpc
from vidmesh.live.v1 import resources_pb2

from ..runtime.calls import RemoteError, ServiceChannels

CALLEE = "live"
SERVICES = (pb2.DESCRIPTOR.services_by_name["LiveService"],)


class LiveClient:
    def __init__(self, channels: ServiceChannels):
        self._calls = channels
        self._stub = pb2_grpc.LiveServiceStub(channels.channel(CALLEE, SERVICES))

    async def get_stream(self, stream_id: str) -> resources_pb2.LiveStream | None:
        """The stream, whatever its visibility; None if there is no such stream."""
        try:
            reply: pb2.GetStreamResponse = await self._calls.call(
                CALLEE, self._stub.GetStream, pb2.GetStreamRequest(name=f"streams/{stream_id}")
            )
        except RemoteError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return reply.stream
