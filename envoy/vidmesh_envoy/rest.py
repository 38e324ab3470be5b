"""The REST surface the transcoder serves, read from the descriptor set's `google.api.http` rules.

The edge gives every REST path template two routes (see `rest_routes`): one per HTTP method it
takes, where the transcoder (and, for bodies, the strict-body check) runs, and one for every
other method, answered with 405 and an Allow header. Without them a wrong method would only get
the transcoder's "could not resolve" 404.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
_VARIABLE = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")


@dataclass(frozen=True)
class RestMethod:
    """One HTTP binding of an RPC: `PATCH /v1/{video.name=videos/*}` with body "video"."""

    http_method: str  # upper case
    template: str
    rpc: str  # full name, "vidmesh.catalog.v1.CatalogService.UpdateVideo"
    input_type: str  # full name of the request message
    body: str  # "" (no body), "*" (the request message) or the request field the body fills


def read_descriptor_set(path: Path) -> descriptor_pb2.FileDescriptorSet:
    return descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())


def _bindings(rule: http_pb2.HttpRule) -> Iterable[http_pb2.HttpRule]:
    yield rule
    yield from rule.additional_bindings


def rest_methods(descriptors: descriptor_pb2.FileDescriptorSet, services: Sequence[str]) -> list[RestMethod]:
    """Every HTTP binding of the given services' methods, in descriptor order."""
    found = []
    for file in descriptors.file:
        for service in file.service:
            name = f"{file.package}.{service.name}"
            if name not in services:
                continue
            for method in service.method:
                for rule in _bindings(method.options.Extensions[annotations_pb2.http]):
                    verb = rule.WhichOneof("pattern")
                    if verb in HTTP_METHODS:
                        found.append(
                            RestMethod(verb.upper(), getattr(rule, verb), f"{name}.{method.name}", method.input_type.lstrip("."), rule.body)
                        )
    return found


def path_regex(template: str) -> str:
    """An RE2 regex for the paths a template matches, e.g. `^/v1/videos/[^/:]+$` for `/v1/{name=videos/*}`.

    A variable segment takes any characters but '/'; the last one also no ':' unless the template
    has a custom verb, so `/v1/videos/x:createPlaybackUrl` is not mistaken for `/v1/videos/x`.
    """
    path = _VARIABLE.sub(lambda m: m.group(2) or "*", template)
    segments = path.lstrip("/").split("/")
    last, _, verb = segments[-1].partition(":")
    segments[-1] = last
    parts = []
    for index, segment in enumerate(segments):
        if segment == "**":
            parts.append(".*")
        elif segment == "*":
            parts.append("[^/]+" if verb or index < len(segments) - 1 else "[^/:]+")
        else:
            parts.append(re.escape(segment))
    return "^/" + "/".join(parts) + (":" + re.escape(verb) if verb else "") + "$"


def rest_routes(
    methods: Sequence[RestMethod], method_extras: Callable[[RestMethod], dict[str, Any]], refusal_extras: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(routes for the methods each path takes, 405 routes for the rest), to be placed in that order.

    method_extras gives what a method's route adds (metadata, per-filter settings); refusal_extras
    is what every 405 route adds. Method routes answer 404 themselves: a request
    the transcoder rewrites is routed again by its gRPC path, and one it rejects never gets here.
    """
    allowed: dict[str, list[str]] = {}
    routes = []
    for method in methods:
        regex = path_regex(method.template)
        allowed.setdefault(regex, []).append(method.http_method)
        routes.append(
            {
                "match": {
                    "safe_regex": {"regex": regex},
                    "headers": [{"name": ":method", "string_match": {"exact": method.http_method}}],
                },
                "direct_response": {"status": 404, "body": {"inline_string": "no such path"}},
                **method_extras(method),
            }
        )
    refusals = []
    for regex, verbs in allowed.items():
        allow = ", ".join(sorted(set(verbs)))
        refusals.append(
            {
                "match": {"safe_regex": {"regex": regex}},
                "direct_response": {"status": 405, "body": {"inline_string": f"this path takes {allow} only"}},
                "response_headers_to_add": [{"header": {"key": "allow", "value": allow}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}],
                **refusal_extras,
            }
        )
    return routes, refusals
