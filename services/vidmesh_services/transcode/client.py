"""The typed client other services use to hand work to the transcoder (as the service
identity). Deadlines, retries and error mapping: runtime/calls.py."""

from __future__ import annotations

from vidmesh.transcode.v1 import resources_pb2
from vidmesh.transcode.v1 import transcode_internal_service_pb2 as internal_pb2
from vidmesh.transcode.v1 import transcode_internal_service_pb2_grpc as internal_grpc

from ..runtime.calls import ServiceChannels

CALLEE = "transcode"
SERVICES = (internal_pb2.DESCRIPTOR.services_by_name["TranscodeInternalService"],)


class TranscodeClient:
    def __init__(self, channels: ServiceChannels):
        self._calls = channels
        self._internal = internal_grpc.TranscodeInternalServiceStub(channels.channel(CALLEE, SERVICES))

    async def submit_job(self, video_id: str, owner: str, source_key: str, request_id: str) -> resources_pb2.Job:
        """Queues a transcode of the video's source; the same request_id returns the same job."""
        request = internal_pb2.SubmitJobRequest(video=f"videos/{video_id}", owner=owner, source_path=source_key, request_id=request_id)
        reply: internal_pb2.SubmitJobResponse = await self._calls.call(CALLEE, self._internal.SubmitJob, request)
        return reply.job
