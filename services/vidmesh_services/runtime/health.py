"""grpc.health.v1 for a process, and for the whole mesh where the gateway sends health checks.

Envoy cannot route a health check by the service it names (the name is in the request body),
so the gateway sends every check to one process. That process answers with `MeshHealth`: for
its own services from its own status; for a service another process serves, by asking that
process's health service (2 s deadline; NOT_SERVING if it does not answer); for "" with the
whole mesh: SERVING only while every process is. Unknown names get NOT_FOUND, as the protocol
says. Watch streams a new status whenever it changes (checked every second for other
processes' services).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

# grpc_health's stubs describe health_pb2 only through an untyped module __getattr__.
SERVING: int = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING: int = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN: int = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
CHECK_TIMEOUT_SECONDS = 2.0
WATCH_POLL_SECONDS = 1.0

if TYPE_CHECKING:

    class AioHealthServicer:
        """The part of grpc.aio's health.aio.HealthServicer vidmesh uses: grpc_health's stubs
        cover only the thread-based servicer."""

        _server_status: MutableMapping[str, int]

        async def set(self, service: str, status: int) -> None: ...
        async def enter_graceful_shutdown(self) -> None: ...

else:
    AioHealthServicer = health.aio.HealthServicer


class MeshHealth(AioHealthServicer):
    def __init__(self, remote: Mapping[str, str]):
        """remote maps the full name of each service other processes serve to their address."""
        super().__init__()
        self._remote = dict(remote)
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _stub(self, address: str) -> health_pb2_grpc.HealthStub:
        if address not in self._channels:
            self._channels[address] = grpc.aio.insecure_channel(address)
        return health_pb2_grpc.HealthStub(self._channels[address])

    async def _remote_status(self, service: str) -> int:
        try:
            reply = await self._stub(self._remote[service]).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=CHECK_TIMEOUT_SECONDS
            )
        except grpc.aio.AioRpcError:
            return NOT_SERVING
        return int(reply.status)

    async def _status(self, service: str) -> int | None:
        """The status to report for service; None if it is unknown."""
        if service in self._remote:
            return await self._remote_status(service)
        local = self._server_status.get(service)
        if service or local != SERVING:
            return None if local is None else int(local)
        remote = await asyncio.gather(*(self._remote_status(s) for s in self._remote))
        return SERVING if all(s == SERVING for s in remote) else NOT_SERVING

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> health_pb2.HealthCheckResponse:
        status = await self._status(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        last = None
        while True:
            status = await self._status(request.service)
            if status is None:
                status = SERVICE_UNKNOWN
            if status != last:
                yield health_pb2.HealthCheckResponse(status=status)
                last = status
            await asyncio.sleep(WATCH_POLL_SECONDS)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(None)
