"""The SDK's one error type: a gRPC status with its rich details decoded."""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


class VidmeshError(Exception):
    """A call failed. code is the gRPC status code; reason and violations come from its details."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        reason: str = "",
        metadata: dict[str, str] | None = None,
        violations: list[tuple[str, str]] | None = None,
    ):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = metadata or {}
        self.violations = violations or []

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> VidmeshError:
        code: grpc.StatusCode = error.code()
        message: str = error.details() or ""
        reason, metadata, violations = "", {}, []
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
        for detail in status.details if status else []:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations = [(v.field, v.description) for v in bad.field_violations]
        return cls(code, message, reason, metadata, violations)

    def describe(self) -> str:
        lines = [f"{self.code.name}: {self.message}"]
        lines += [f"  {field}: {why}" for field, why in self.violations]
        if self.metadata.get("request_id"):
            lines.append(f"  (request id {self.metadata['request_id']})")
        return "\n".join(lines)


def wrap(call: Any) -> Any:
    """Runs call() and converts a grpc.RpcError into a VidmeshError."""
    try:
        return call()
    except grpc.RpcError as error:
        raise VidmeshError.from_rpc_error(error) from None
