"""The one exception tree of vidmesh's domain code, and how each error becomes a rich gRPC status.

Domain code raises these; the server interceptor turns them into a google.rpc.Status with
ErrorInfo (always), plus BadRequest, ResourceInfo or QuotaFailure where they apply. Errors of a
backend that no domain code caught (Redis/Valkey unreachable or restarting) become UNAVAILABLE
here too (backend_unavailable), so no service reports an outage as INTERNAL.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from redis import exceptions as redis_errors

DOMAIN = "vidmesh.dev"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class VidmeshError(Exception):
    """Base of every error a caller is meant to see."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    default_reason = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None, metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})

    def details(self) -> list[object]:
        return []

    def to_status(self, request_id: str = "") -> status_pb2.Status:
        metadata = dict(self.metadata)
        if request_id:
            metadata["request_id"] = request_id
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata=metadata)
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        for detail in [info, *self.details()]:
            packed = any_pb2.Any()
            packed.Pack(detail)
            status.details.append(packed)
        return status


class InvalidArgument(VidmeshError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"

    def __init__(
        self, violations: list[FieldViolation] | FieldViolation, *, reason: str | None = None, metadata: dict[str, str] | None = None
    ):
        self.violations = violations if isinstance(violations, list) else [violations]
        text = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(f"invalid argument: {text}", reason=reason, metadata=metadata)

    def details(self) -> list[object]:
        return [
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description) for v in self.violations
                ]
            )
        ]


class _ResourceError(VidmeshError):
    def __init__(self, resource_type: str, resource_name: str, message: str, *, owner: str = "", reason: str | None = None):
        super().__init__(message, reason=reason)
        self.resource_type = resource_type
        self.resource_name = resource_name
        self.owner = owner

    def details(self) -> list[object]:
        return [
            error_details_pb2.ResourceInfo(
                resource_type=self.resource_type,
                resource_name=self.resource_name,
                owner=self.owner,
                description=self.message,
            )
        ]


class NotFound(_ResourceError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"

    def __init__(self, resource_type: str, resource_name: str, *, reason: str | None = None):
        super().__init__(resource_type, resource_name, f"{resource_name} not found", reason=reason)


class PermissionDenied(_ResourceError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "NOT_OWNER"


class _ReasonRequired(VidmeshError):
    """Codes that say too little on their own: every raise names its ErrorReason."""

    def __init__(self, message: str, *, reason: str, metadata: dict[str, str] | None = None):
        super().__init__(message, reason=reason, metadata=metadata)


class FailedPrecondition(_ReasonRequired):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(_ReasonRequired):
    """A concurrent change got in the way (e.g. an etag that no longer matches): read again, then retry."""

    code = grpc.StatusCode.ABORTED


class DataLoss(VidmeshError):
    code = grpc.StatusCode.DATA_LOSS
    default_reason = "CHECKSUM_MISMATCH"


class Unauthenticated(VidmeshError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "API_KEY_REQUIRED"


class Unavailable(_ReasonRequired):
    """A dependency is down or starting: the reason names which, and the caller may retry."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(_ReasonRequired):
    """A dependency did not answer in time; the operation may or may not have taken effect."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class ResourceExhausted(_ReasonRequired):
    """Something the call needs is used up (a quota, the server's disk); retry once some is freed."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class QuotaExceeded(ResourceExhausted):
    """The call would pass a quota of subject (e.g. an owner): QuotaFailure says which and by how much."""

    def __init__(self, subject: str, description: str, *, reason: str, metadata: dict[str, str] | None = None):
        super().__init__(description, reason=reason, metadata=metadata)
        self.subject = subject

    def details(self) -> list[object]:
        violation = error_details_pb2.QuotaFailure.Violation(subject=self.subject, description=self.message)
        return [error_details_pb2.QuotaFailure(violations=[violation])]


def backend_unavailable(exc: BaseException) -> Unavailable | None:
    """A Redis/Valkey outage (refused or dropped connection, timeout, still loading its data after
    a restart, a replica that cannot take writes, out of memory) as the UNAVAILABLE a caller
    retries; None for any other error. The message names no host: callers learn what, not where."""
    if isinstance(exc, redis_errors.BusyLoadingError):  # a ConnectionError: test it first
        return Unavailable("the state store (Redis/Valkey) is starting; retry shortly", reason="STATE_STORE_STARTING")
    if isinstance(exc, redis_errors.TimeoutError):
        return Unavailable(
            "the state store (Redis/Valkey) did not answer in time; the change may or may not have happened, retry",
            reason="STATE_STORE_TIMEOUT",
        )
    if isinstance(exc, (redis_errors.ConnectionError, redis_errors.ReadOnlyError, redis_errors.OutOfMemoryError)):
        return Unavailable("the state store (Redis/Valkey) cannot be reached; retry shortly", reason="STATE_STORE_UNAVAILABLE")
    return None


def internal_status(request_id: str) -> status_pb2.Status:
    """The status for a bug: no internals leak, the request id lets an operator find the log line."""
    info = error_details_pb2.ErrorInfo(reason="INTERNAL", domain=DOMAIN, metadata={"request_id": request_id})
    packed = any_pb2.Any()
    packed.Pack(info)
    return status_pb2.Status(code=code_pb2.INTERNAL, message="internal error", details=[packed])
