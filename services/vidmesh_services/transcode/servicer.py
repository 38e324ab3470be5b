"""gRPC adapter of the Transcode service: proto in, JobsView call, proto out."""

from __future__ import annotations

from typing import AsyncIterator

import grpc
from vidmesh.transcode.v1 import transcode_service_pb2 as pb2
from vidmesh.transcode.v1 import transcode_service_pb2_grpc as pb2_grpc

from ..runtime.auth import require_caller
from .jobs_view import JobsView


class TranscodeServicer(pb2_grpc.TranscodeServiceServicer):
    def __init__(self, view: JobsView):
        self._view = view

    async def GetJob(self, request: pb2.GetJobRequest, context: grpc.aio.ServicerContext) -> pb2.GetJobResponse:
        return pb2.GetJobResponse(job=await self._view.get(request.name, require_caller()))

    async def ListJobs(self, request: pb2.ListJobsRequest, context: grpc.aio.ServicerContext) -> pb2.ListJobsResponse:
        jobs, token = await self._view.list(request.video, request.state, request.page_size, request.page_token, require_caller())
        return pb2.ListJobsResponse(jobs=jobs, next_page_token=token)

    async def WatchJob(self, request: pb2.WatchJobRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[pb2.WatchJobResponse]:
        async for job in self._view.watch(request.name, require_caller()):
            yield pb2.WatchJobResponse(job=job)
