"""The grpc.aio server bootstrap every service uses.

create_server() builds and starts a server (tests call it with port 0); serve() runs one until
SIGTERM/SIGINT, then reports NOT_SERVING, drains in-flight calls and stops.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from .auth import Authenticator
from .interceptors import AccessPolicy, ServerCallInterceptor

log = logging.getLogger("vidmesh.server")

# Chunks travel as single messages, so the limit is the largest chunk plus framing.
MAX_MESSAGE_BYTES = 65 * 1024 * 1024
# Receive window per stream, fixed (BDP probing off). With probing on, grpc-core widens the window
# to about twice its bandwidth-delay estimate and reads that far ahead of the handler into
# memory: 16+ MiB per upload stream on loopback. Every vidmesh server sits behind Envoy or other
# vidmesh processes on the same host or LAN, where 4 MiB keeps the line full (the message being
# read is always admitted whole on top of it). Measured on uploads: same throughput, lower and
# steadier peak RSS.
STREAM_WINDOW_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ServiceBinding:
    """One gRPC service to serve: its full name and how to add its servicer to a server."""

    full_name: str
    add_to_server: Callable[[grpc.aio.Server], None]


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: tuple[str, ...]
    # Set while the server waits for its dependencies before reporting SERVING.
    readiness: asyncio.Task[None] | None = None

    async def stop(self, grace: float) -> None:
        if self.readiness is not None:
            self.readiness.cancel()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def create_server(
    address: str,
    bindings: Sequence[ServiceBinding],
    *,
    authenticator: Authenticator,
    policy: AccessPolicy,
    reflect: Sequence[str] = (),
    ready: Callable[[], Awaitable[None]] | None = None,
) -> RunningServer:
    """Starts a server on address ('host:0' picks a free port) with health and reflection.

    reflect, when given, replaces the services reflection lists: the gateway routes reflection
    to one process, which then describes the mesh's public services instead of its own.
    ready, when given, is awaited in the background: health reports NOT_SERVING until it returns
    (e.g. the metadata store is still connecting), then SERVING.
    """
    server = grpc.aio.server(
        interceptors=[ServerCallInterceptor(authenticator, policy)],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
            ("grpc.http2.bdp_probe", 0),
            ("grpc.http2.lookahead_bytes", STREAM_WINDOW_BYTES),
        ],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = tuple(b.full_name for b in bindings)
    for binding in bindings:
        binding.add_to_server(server)
    listed = tuple(dict.fromkeys([*(reflect or names), health.SERVICE_NAME, reflection.SERVICE_NAME]))
    reflection.enable_server_reflection(listed, server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    initial = health_pb2.HealthCheckResponse.SERVING if ready is None else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ("", *names):
        await health_servicer.set(name, initial)
    await server.start()
    log.info("serving", extra={"fields": {"address": address.rsplit(":", 1)[0] + f":{port}", "services": list(names)}})
    running = RunningServer(server=server, port=port, health=health_servicer, service_names=names)
    if ready is not None:
        running.readiness = asyncio.create_task(_serve_when_ready(running, ready))
    return running


async def _serve_when_ready(running: RunningServer, ready: Callable[[], Awaitable[None]]) -> None:
    await ready()
    for name in ("", *running.service_names):
        await running.health.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("dependencies ready: SERVING", extra={"fields": {"services": list(running.service_names)}})


async def serve(start: Callable[[], Awaitable[RunningServer]], grace: float, cleanup: Callable[[], Awaitable[None]] | None = None) -> None:
    """Runs a server until SIGTERM or SIGINT, then drains it gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = await start()
    await stop.wait()
    log.info("draining", extra={"fields": {"grace_seconds": grace}})
    await running.stop(grace)
    if cleanup:
        await cleanup()
