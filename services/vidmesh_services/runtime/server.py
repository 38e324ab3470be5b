"""The grpc.aio server bootstrap every service uses.

create_server() builds and starts a server (tests call it with port 0); run_service() is every
service's main(): config, logs and metrics, then the server until SIGTERM/SIGINT, when it
reports NOT_SERVING, drains in-flight calls, stops, and closes what the service opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from .auth import Authenticator
from .config import Config, load_config
from .health import AioHealthServicer, MeshHealth
from .interceptors import AccessPolicy, ServerCallInterceptor
from .logs import setup_logging
from .metrics import serve_metrics
from .reflection import enable_reflection

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
    health: AioHealthServicer
    service_names: tuple[str, ...]
    # Set while the server waits for its dependencies before reporting SERVING.
    readiness: asyncio.Task[None] | None = None

    async def stop(self, grace: float) -> None:
        if self.readiness is not None:
            self.readiness.cancel()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        if isinstance(self.health, MeshHealth):
            await self.health.close()


async def create_server(
    address: str,
    bindings: Sequence[ServiceBinding],
    *,
    authenticator: Authenticator,
    policy: AccessPolicy,
    reflect: Sequence[str] = (),
    ready: Callable[[], Awaitable[None]] | None = None,
    remote_health: Mapping[str, str] | None = None,
) -> RunningServer:
    """Starts a server on address ('host:0' picks a free port) with health and reflection.

    reflect, when given, replaces the services reflection lists, and remote_health (service
    name -> address of the process serving it) makes health answer for those services too: the
    gateway routes reflection and health to one process, which then speaks for the whole mesh.
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
    health_servicer = MeshHealth(remote_health) if remote_health else AioHealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = tuple(b.full_name for b in bindings)
    for binding in bindings:
        binding.add_to_server(server)
    enable_reflection([*(reflect or names), health.SERVICE_NAME], server)
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


# What a service's start function gets: the deployment's config, and a stack to register what
# it opens (stores, clients, tasks) so that it is closed after the server has drained.
StartService = Callable[[Config, contextlib.AsyncExitStack], Awaitable[RunningServer]]


def background(stack: contextlib.AsyncExitStack, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Runs work as a task that the stack cancels (and waits for) when the service stops."""
    task = asyncio.create_task(work)

    async def cancel() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(cancel)
    return task


def run_service(process: str, start: StartService) -> None:
    """The main() of every service process: `python -m vidmesh_services.<process>`."""
    config = load_config()
    setup_logging(process, config.log_level)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        serve_metrics(config, process)
        async with contextlib.AsyncExitStack() as stack:
            running = await start(config, stack)
            await stop.wait()
            log.info("draining", extra={"fields": {"grace_seconds": config.shutdown_grace_seconds}})
            await running.stop(config.shutdown_grace_seconds)

    asyncio.run(run())
