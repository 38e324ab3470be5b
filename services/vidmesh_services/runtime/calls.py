"""Calls between services: the plumbing every typed client (catalog/client.py, ...) shares.

Every call carries the service identity, the request id of the call it serves, and a deadline
(`internal_call_timeout_seconds`). Methods the contract marks idempotent (the proto's
`idempotency_level`: NO_SIDE_EFFECTS or IDEMPOTENT) are retried on UNAVAILABLE by gRPC itself,
within that deadline; nothing else is retried, so a create is never sent twice behind the
caller's back. Failures are mapped here, once: a callee that is down or overloaded becomes
UNAVAILABLE with reason `<CALLEE>_UNAVAILABLE` for our own caller (retryable), one that does not
answer in time DEADLINE_EXCEEDED, and any other status a `RemoteError` that the typed client
either expects (NOT_FOUND, say) or lets through as a bug (INTERNAL, logged).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import grpc
from google.protobuf import descriptor, descriptor_pb2
from grpc_status import rpc_status

from .config import Config
from .errors import DeadlineExceeded, Unavailable
from .interceptors import REQUEST_ID_HEADER, current_request_id

Req = TypeVar("Req")
Resp = TypeVar("Resp")
_IDEMPOTENT = (descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS, descriptor_pb2.MethodOptions.IDEMPOTENT)
# What the callee answers when it is down, restarting or shedding load: worth a retry later.
_UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
RETRY_POLICY = {
    "maxAttempts": 4,
    "initialBackoff": "0.05s",
    "maxBackoff": "1s",
    "backoffMultiplier": 3,
    "retryableStatusCodes": ["UNAVAILABLE"],
}


def is_idempotent(method: descriptor.MethodDescriptor) -> bool:
    options = method.GetOptions()
    return options.idempotency_level in _IDEMPOTENT and not method.client_streaming


def service_config(services: Sequence[descriptor.ServiceDescriptor]) -> str:
    """gRPC's service config that retries exactly the idempotent methods of services."""
    names = [{"service": s.full_name, "method": m.name} for s in services for m in s.methods if is_idempotent(m)]
    config = {"methodConfig": [{"name": names, "retryPolicy": RETRY_POLICY}]} if names else {}
    return json.dumps(config)


class RemoteError(Exception):
    """The callee answered with a status other than unavailability; `reason` is its ErrorInfo.reason."""

    def __init__(self, callee: str, code: grpc.StatusCode, message: str, reason: str):
        super().__init__(f"{callee} answered {code.name}: {message}")
        self.code = code
        self.reason = reason


def _reason(exc: grpc.aio.AioRpcError) -> str:
    from google.rpc import error_details_pb2

    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason: str = info.reason  # error_details_pb2 (google.rpc) has no stubs
            return reason
    return ""


def failure(callee: str, exc: grpc.aio.AioRpcError) -> Exception:
    """What a failed call to callee means for our own caller (see the module docstring)."""
    code = exc.code()
    label = callee.upper()
    if code in _UNAVAILABLE:
        return Unavailable(f"the {callee} service is unavailable ({code.name}); retry", reason=f"{label}_UNAVAILABLE")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(f"the {callee} service did not answer in time", reason=f"{label}_TIMEOUT")
    return RemoteError(callee, code, exc.details() or "", _reason(exc))


class ServiceChannels:
    """This process's channels to the other services, one per process called, each with the
    retry policy of the services it carries."""

    def __init__(self, config: Config):
        self._config = config
        self._channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, process: str, services: Sequence[descriptor.ServiceDescriptor]) -> grpc.aio.Channel:
        if process not in self._channels:
            self._channels[process] = grpc.aio.insecure_channel(
                self._config.address(process),
                options=[("grpc.enable_retries", 1), ("grpc.service_config", service_config(services))],
            )
        return self._channels[process]

    def options(self) -> dict[str, object]:
        metadata = [("authorization", f"Bearer {self._config.service_token}")]
        if request_id := current_request_id():
            metadata.append((REQUEST_ID_HEADER, request_id))
        return {"metadata": tuple(metadata), "timeout": self._config.internal_call_timeout_seconds}

    async def call(self, callee: str, method: Callable[..., Awaitable[Resp]], request: object) -> Resp:
        """Calls method (a stub's method) with identity and deadline; maps failures as above."""
        try:
            return await method(request, **self.options())
        except grpc.aio.AioRpcError as exc:
            raise failure(callee, exc) from None

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(None)
        self._channels.clear()
