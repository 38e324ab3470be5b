"""Named Envoy topologies as plain dicts, in the canonical v3 shapes of envoyproxy/examples.

`single_gateway` is what `vidmesh up` runs: one listener on the HTTP port routing gRPC by
service name to HTTP/2 upstreams.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import yaml

ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}
STDOUT_LOG = {
    "name": "envoy.access_loggers.stdout",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"},
}


@dataclass(frozen=True)
class Cluster:
    name: str
    host: str
    port: int


@dataclass(frozen=True)
class Route:
    prefix: str
    cluster: str


def _socket(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _http2_cluster(cluster: Cluster) -> dict[str, Any]:
    return {
        "name": cluster.name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": cluster.name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket(cluster.host, cluster.port)}}]}],
        },
    }


def _grpc_route(route: Route) -> dict[str, Any]:
    # timeout 0: uploads stream for as long as they take; idle_timeout still ends dead streams.
    return {
        "match": {"prefix": route.prefix, "grpc": {}},
        "route": {"cluster": route.cluster, "timeout": "0s", "idle_timeout": "300s"},
    }


def single_gateway(
    *, host: str, http_port: int, admin_port: int, clusters: Sequence[Cluster], routes: Sequence[Route]
) -> dict[str, Any]:
    """One Envoy: the gateway listener in front of every service."""
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "gateway",
        "codec_type": "AUTO",
        "stream_idle_timeout": "300s",
        "request_timeout": "0s",
        "generate_request_id": True,
        "access_log": [STDOUT_LOG],
        "route_config": {
            "name": "gateway",
            "virtual_hosts": [{"name": "vidmesh", "domains": ["*"], "routes": [_grpc_route(r) for r in routes]}],
        },
        "http_filters": [ROUTER],
    }
    return {
        "admin": {"address": _socket(host, admin_port)},
        "static_resources": {
            "listeners": [
                {
                    "name": "gateway",
                    "address": _socket(host, http_port),
                    "filter_chains": [
                        {
                            "filters": [
                                {"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}
                            ]
                        }
                    ],
                }
            ],
            "clusters": [_http2_cluster(c) for c in clusters],
        },
    }


def render(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False)
