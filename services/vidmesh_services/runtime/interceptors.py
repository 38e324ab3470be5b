"""The server-side call pipeline every vidmesh service runs, built on grpc-interceptor.

Per call, in order: take or make a request id; resolve the caller from its API key and apply
the service's access policy; run the handler; turn domain errors, and backend outages nobody
caught (errors.backend_unavailable), into rich statuses; write
one structured access-log line and record the call's metrics (requests and latency by method
and code). Credentials are never logged.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import grpc
from grpc_interceptor.server import AsyncServerInterceptor
from grpc_status import rpc_status

from .auth import Authenticator, Identity, set_caller
from .errors import PermissionDenied, Unauthenticated, VidmeshError, backend_unavailable, internal_status
from .metrics import observe_call

# What every servicer method receives (grpc-stubs types it by request and response).
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
log = logging.getLogger("vidmesh.access")
REQUEST_ID_HEADER = "x-request-id"
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("vidmesh_request_id", default="")


def current_request_id() -> str:
    return _request_id.get()


@dataclass(frozen=True)
class AccessPolicy:
    """Which methods need what. Methods are full names, '/pkg.Service/Method'.

    Anything not listed needs an API key. Internal services need the service identity.
    """

    anonymous_methods: frozenset[str] = frozenset()
    internal_services: frozenset[str] = frozenset()
    # Infrastructure (health, reflection) is open to all.
    open_prefixes: tuple[str, ...] = ("/grpc.health.v1.", "/grpc.reflection.")

    def check(self, method: str, caller: Identity | None) -> None:
        if method.startswith(self.open_prefixes) or method in self.anonymous_methods:
            return
        if caller is None:
            raise Unauthenticated("this call needs an API key: send 'authorization: Bearer <key>'")
        service = method.split("/")[1]
        if service in self.internal_services and not caller.is_service:
            raise PermissionDenied("service", service, "only vidmesh services may call this service", reason="SERVICE_ONLY")


@dataclass
class _Call:
    method: str
    request_id: str
    started: float = field(default_factory=time.perf_counter)
    caller: Identity | None = None


class ServerCallInterceptor(AsyncServerInterceptor):
    def __init__(self, authenticator: Authenticator, policy: AccessPolicy):
        self._authenticator = authenticator
        self._policy = policy

    async def intercept(self, method: Callable[..., Any], request: Any, context: Context, method_name: str) -> Any:
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        call = _Call(method=method_name, request_id=metadata.get(REQUEST_ID_HEADER) or uuid.uuid4().hex)
        _request_id.set(call.request_id)
        response = method(request, context)
        if hasattr(response, "__aiter__"):
            return self._stream(call, metadata, response, context)
        try:
            await self._authorize(call, metadata)
            result = await response
        except BaseException as exc:
            response.close()
            await self._fail(call, exc, context)
            raise
        self._log(call, context)
        return result

    async def _stream(self, call: _Call, metadata: dict[str, str], response: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
        try:
            await self._authorize(call, metadata)
            async for item in response:
                yield item
        except BaseException as exc:
            await self._fail(call, exc, context)
            raise
        self._log(call, context)

    async def _authorize(self, call: _Call, metadata: dict[str, str]) -> None:
        call.caller = await self._authenticator.resolve(metadata.get("authorization"))
        set_caller(call.caller)
        self._policy.check(call.method, call.caller)

    async def _fail(self, call: _Call, exc: BaseException, context: Context) -> None:
        outage = None if isinstance(exc, VidmeshError) else backend_unavailable(exc)
        if outage is not None:
            log.warning("%s in %s (request %s): %s", outage.reason, call.method, call.request_id, exc)
            exc = outage
        if isinstance(exc, VidmeshError):
            self._log(call, context, exc.code)
            await _abort_with_status(context, rpc_status.to_status(exc.to_status(call.request_id)))
        elif isinstance(exc, grpc.aio.AbortError):
            self._log(call, context)
        elif isinstance(exc, Exception):
            log.exception("unhandled error in %s (request %s)", call.method, call.request_id)
            self._log(call, context, grpc.StatusCode.INTERNAL)
            await _abort_with_status(context, rpc_status.to_status(internal_status(call.request_id)))
        else:  # cancelled by the client or by shutdown
            self._log(call, context, grpc.StatusCode.CANCELLED)

    def _log(self, call: _Call, context: Context, code: grpc.StatusCode | None = None) -> None:
        code = code or context.code() or grpc.StatusCode.OK
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        seconds = time.perf_counter() - call.started
        observe_call(call.method, name, seconds)
        log.info(
            "call",
            extra={
                "fields": {
                    "method": call.method,
                    "code": name,
                    "duration_ms": round(seconds * 1000, 2),
                    "request_id": call.request_id,
                    "caller": call.caller.owner if call.caller else "",
                    "peer": context.peer(),
                }
            },
        )


async def _abort_with_status(context: Context, status: grpc.Status) -> None:
    """context.abort_with_status(status): grpc.aio's ServicerContext has it, grpc-stubs lacks it."""
    await context.abort_with_status(status)  # type: ignore[attr-defined]  # missing from grpc-stubs
