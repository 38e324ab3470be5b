"""gRPC adapters of the Transcode services: proto in, Jobs call, proto out."""

from __future__ import annotations

from collections.abc import AsyncIterator

from vidmesh.transcode.v1 import transcode_internal_service_pb2 as internal_pb2
from vidmesh.transcode.v1 import transcode_internal_service_pb2_grpc as internal_grpc
from vidmesh.transcode.v1 import transcode_service_pb2 as pb2
from vidmesh.transcode.v1 import transcode_service_pb2_grpc as pb2_grpc

from ..runtime.auth import require_caller
from ..runtime.interceptors import Context
from .jobs import Jobs


class TranscodeServicer(pb2_grpc.TranscodeServiceServicer):
    def __init__(self, jobs: Jobs):
        self._jobs = jobs

    async def GetJob(self, request: pb2.GetJobRequest, context: Context) -> pb2.GetJobResponse:
        return pb2.GetJobResponse(job=await self._jobs.get(request.name, require_caller()))

    async def ListJobs(self, request: pb2.ListJobsRequest, context: Context) -> pb2.ListJobsResponse:
        jobs, token = await self._jobs.list(request.video, request.state, request.page_size, request.page_token, require_caller())
        return pb2.ListJobsResponse(jobs=jobs, next_page_token=token)

    async def WatchJob(self, request: pb2.WatchJobRequest, context: Context) -> AsyncIterator[pb2.WatchJobResponse]:
        async for job in self._jobs.watch(request.name, require_caller()):
            yield pb2.WatchJobResponse(job=job)


class TranscodeInternalServicer(internal_grpc.TranscodeInternalServiceServicer):
    """Reachable by the service identity only (the access policy enforces it)."""

    def __init__(self, jobs: Jobs):
        self._jobs = jobs

    async def SubmitJob(self, request: internal_pb2.SubmitJobRequest, context: Context) -> internal_pb2.SubmitJobResponse:
        job = await self._jobs.submit(request.video, request.owner, request.source_path, request.request_id)
        return internal_pb2.SubmitJobResponse(job=job)
