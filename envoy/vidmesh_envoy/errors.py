"""Envoy's own error answers as google.rpc.Status JSON, like the services' errors.

What the services answer the transcoder already turns into JSON (convert_grpc_status). What
Envoy answers itself (a local reply: a body the transcoder cannot read, an unknown path, a
wrong method, a service that is down) is plain text by default; the connection manager's
local_reply_config rewrites it. gRPC and gRPC-Web callers are left alone: their local replies
are gRPC statuses, and a JSON body would only end up in grpc-message.
"""

from __future__ import annotations

from typing import Any

DOMAIN = "vidmesh.dev"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RESOURCE_INFO = "type.googleapis.com/google.rpc.ResourceInfo"
REQUEST_ID = "%REQ(X-REQUEST-ID)%"
# The path as the caller sent it (the transcoder keeps it in x-envoy-original-path), without
# the query: it may hold a playback token.
CALLER_PATH = "%PATH(NQ:ORIG_OR_PATH)%"


def _error_info(reason: str, **metadata: str) -> dict[str, Any]:
    return {"@type": ERROR_INFO, "reason": reason, "domain": DOMAIN, "metadata": {"request_id": REQUEST_ID, **metadata}}


# (HTTP statuses from, to, the gRPC code, the details), first match wins. Reasons are values of
# vidmesh.type.v1.ErrorReason.
STATUSES: tuple[tuple[int, int, int, list[dict[str, Any]]], ...] = (
    (404, 404, 5, [_error_info("NOT_FOUND"), {"@type": RESOURCE_INFO, "resourceType": "HTTP path", "resourceName": CALLER_PATH}]),
    (405, 405, 12, [_error_info("METHOD_NOT_ALLOWED")]),
    (400, 499, 3, [_error_info("INVALID_ARGUMENT")]),  # malformed JSON or values, 413 body too large
    (502, 503, 14, [_error_info("SERVICE_UNAVAILABLE", service="%UPSTREAM_CLUSTER%")]),
    (504, 504, 4, [_error_info("SERVICE_TIMEOUT", service="%UPSTREAM_CLUSTER%")]),
    (500, 599, 13, [_error_info("INTERNAL")]),
)


def _status_filter(op: str, value: int) -> dict[str, Any]:
    return {"status_code_filter": {"comparison": {"op": op, "value": {"default_value": value, "runtime_key": "vidmesh.unused"}}}}


# A REST request: one the transcoder rewrote (it keeps the original path), or one that never
# carried a gRPC content type (gRPC-Web's is rewritten to application/grpc by its filter).
_REST_REQUEST = {
    "or_filter": {
        "filters": [
            {"header_filter": {"header": {"name": "x-envoy-original-path", "present_match": True}}},
            {
                "header_filter": {
                    "header": {
                        "name": "content-type",
                        "string_match": {"prefix": "application/grpc"},
                        "invert_match": True,
                        "treat_missing_header_as_empty": True,
                    }
                }
            },
        ]
    }
}


# Dynamic metadata a filter sets when its local reply is a google.rpc.Status already (the
# strict-body check's, with a BadRequest): {STATUS_METADATA: {"json": true}}. Matched as "not
# true" (the matcher's `invert` is not honoured here in 1.40).
STATUS_METADATA = "vidmesh.status"
_NOT_JSON_YET = {
    "metadata_filter": {
        "matcher": {"filter": STATUS_METADATA, "path": [{"key": "json"}], "value": {"bool_match": False}},
        "match_if_key_not_found": True,
    }
}


def _mapper(low: int, high: int, code: int, details: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "filter": {"and_filter": {"filters": [_status_filter("GE", low), _status_filter("LE", high), _REST_REQUEST, _NOT_JSON_YET]}},
        "body_format_override": {
            "json_format": {"code": code, "message": "%LOCAL_REPLY_BODY%", "details": details},
            "content_type": "application/json",
        },
    }


def json_local_replies() -> dict[str, Any]:
    """The connection manager's local_reply_config: every 4xx/5xx Envoy makes for REST as JSON."""
    return {"mappers": [_mapper(low, high, code, details) for low, high, code, details in STATUSES]}
