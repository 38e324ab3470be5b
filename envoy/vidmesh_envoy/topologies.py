"""Named Envoy topologies as plain dicts, in the canonical v3 shapes of envoyproxy/examples.

`single_gateway` is what `vidmesh up` runs, one Envoy with two listeners:

    edge   (public)   cors → cache → grpc_web → lua (strict REST bodies) → grpc_json_transcoder → router
                      gRPC, gRPC-Web and JSON/REST to the services; web pages from files;
                      /hls/ and /live/ through the cache to the origin listener
    origin (loopback) grpc_json_transcoder → router: HLS GETs become Playback RPCs

The cache cannot sit in the same filter chain as a transcoder that handles its requests
(cacheable requests then skip the filters between the cache and the router and Envoy answers
503), so HLS requests skip the transcoder at the edge and are transcoded one hop later. Every
other route switches the cache off, so only HLS reaches it.

REST errors are google.rpc.Status JSON on both listeners, Envoy's own included (errors.py); REST
bodies naming fields the RPC lacks are refused (strict_body.py), wrong methods get 405 (rest.py).

`cdn` is a CDN in front of the gateway, each tier its own Envoy (`cdn_tier`: cache → router):

    viewers → edge tier → regional tier → origin (the edge listener of a `single_gateway`)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import json_local_replies
from .rest import RestMethod, read_descriptor_set, rest_methods, rest_routes
from .strict_body import LUA, lua_filter, route_metadata

HCM = "envoy.filters.network.http_connection_manager"
CORS = "envoy.filters.http.cors"
CACHE = "envoy.filters.http.cache"
# Live objects go through the v2 cache instead: it coalesces concurrent misses for one URL into
# one upstream request and streams the answer to every waiter (v1 sends each miss upstream).
# When a part appears, every viewer asks for it at once; v1 let each of them reach Python.
LIVE_CACHE = "envoy.filters.http.cache_v2"
CACHES = (CACHE, LIVE_CACHE)
GRPC_WEB = "envoy.filters.http.grpc_web"
TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}
# Envoy's default line, but the path without its query string: signed playback URLs carry their
# token there (`?token=`, `?playbackToken=`), and a bearer credential must not reach the logs.
ACCESS_LOG_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %PATH(NQ:ORIG_OR_PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% '
    "%GRPC_STATUS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "
    '"%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n'
)
STDOUT_LOG = {
    "name": "envoy.access_loggers.stdout",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
        "log_format": {"text_format_source": {"inline_string": ACCESS_LOG_FORMAT}},
    },
}
PLAYER_PREFIXES = ("/hls/", "/live/")
VOD_PREFIX, LIVE_PREFIX = PLAYER_PREFIXES
GRPC_RESPONSE_HEADERS = ("grpc-status", "grpc-message", "grpc-accept-encoding")
# Largest playback object (a 4K segment at 25 Mb/s, 6 s, with the 1.5x peak is ~28 MB).
MAX_OBJECT_BYTES = 64 * 1024 * 1024
# Envoy refuses direct responses above this unless told; hls.js is ~400 KB.
MAX_PAGE_BYTES = 4 * 1024 * 1024
# What browsers may send and read cross-origin: gRPC-Web framing, keys, request ids.
CORS_POLICY = {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
    "allow_origin_string_match": [{"safe_regex": {"regex": ".*"}}],
    "allow_methods": "GET, POST, PATCH, DELETE, OPTIONS",
    "allow_headers": "authorization, content-type, x-grpc-web, x-user-agent, grpc-timeout, x-request-id",
    "expose_headers": "grpc-status, grpc-message, grpc-status-details-bin, x-request-id",
    "max_age": "86400",
}


@dataclass(frozen=True)
class Cluster:
    name: str
    host: str
    port: int
    http2: bool = True
    # More processes serving the same (round robin over all of them).
    extra_ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class Route:
    prefix: str
    cluster: str
    # A call whose process could not be reached or went away before answering (it died or is
    # restarting) goes to another one: only for clusters of several alike processes whose calls
    # are all read-only (search), so a call run twice changes nothing.
    retry: bool = False


@dataclass(frozen=True)
class Page:
    """A file Envoy serves itself (read once at start) at an exact path, or under a path prefix."""

    path: str
    file: Path
    content_type: str
    prefix: bool = False
    cache_control: str = "no-cache"


@dataclass(frozen=True)
class Transcoding:
    """The gRPC-JSON transcoder's inputs: the descriptor set `make gen` writes and the services to expose."""

    descriptor: Path
    services: tuple[str, ...]


def _socket(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _cluster(cluster: Cluster) -> dict[str, Any]:
    protocol: dict[str, dict[str, Any]] = {"http2_protocol_options": {}} if cluster.http2 else {"http_protocol_options": {}}
    return {
        "name": cluster.name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": protocol,
            }
        },
        "load_assignment": {
            "cluster_name": cluster.name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": _socket(cluster.host, port)}} for port in (cluster.port, *cluster.extra_ports)]}
            ],
        },
    }


def _disabled(*filters: str) -> dict[str, Any]:
    return {name: {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True} for name in filters}


def _grpc_route(route: Route) -> dict[str, Any]:
    # timeout 0: uploads stream for as long as they take; idle_timeout still ends dead streams.
    # No gRPC content-type match: gRPC-Web requests (application/grpc-web*) take these routes too.
    action: dict[str, Any] = {"cluster": route.cluster, "timeout": "0s", "idle_timeout": "300s"}
    if route.retry:
        action["retry_policy"] = {
            "retry_on": "connect-failure,refused-stream,reset",
            "num_retries": 2,
            "retry_host_predicate": [
                {
                    "name": "envoy.retry_host_predicates.previous_hosts",
                    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"},
                }
            ],
            "host_selection_retry_max_attempts": 3,
        }
    return {"match": {"prefix": route.prefix}, "route": action, "typed_per_filter_config": _disabled(*CACHES)}


def _page_route(page: Page) -> dict[str, Any]:
    match = {"prefix": page.path} if page.prefix else {"path": page.path}
    return {
        "match": match,
        "direct_response": {"status": 200, "body": {"filename": str(page.file)}},
        "response_headers_to_add": [
            {"header": {"key": "content-type", "value": page.content_type}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
            {"header": {"key": "cache-control", "value": page.cache_control}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
        ],
        "typed_per_filter_config": _disabled(*CACHES, GRPC_WEB, TRANSCODER),
    }


def _transcoder(transcoding: Transcoding) -> dict[str, Any]:
    return {
        "name": TRANSCODER,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
            "proto_descriptor": str(transcoding.descriptor),
            "services": list(transcoding.services),
            "print_options": {"always_print_primitive_fields": True, "always_print_enums_as_ints": False},
            # Upstream NOT_FOUND becomes HTTP 404 (and so on) with the status as a JSON body.
            "convert_grpc_status": True,
            "case_insensitive_enum_parsing": True,
            # Without them an unknown path is forwarded as gRPC and comes back as a confusing 503,
            # and a misspelled query parameter (?pagesize=) makes the path unknown (404, not 400).
            "request_validation_options": {"reject_unknown_method": True, "reject_unknown_query_parameters": True},
            # An HttpBody answer is buffered whole; the default (the connection's 1 MiB buffer
            # limit) turned every segment above 1 MiB into a 500.
            "max_response_body_size": MAX_OBJECT_BYTES,
        },
    }


def _live_cache() -> dict[str, Any]:
    """The v2 cache, in memory: live objects are small and live for seconds."""
    store = {"@type": "type.googleapis.com/envoy.extensions.http.cache_v2.simple_http_cache.v3.SimpleHttpCacheV2Config"}
    return {
        "name": LIVE_CACHE,
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cache_v2.v3.CacheV2Config", "typed_config": store},
    }


def _cache(cache_dir: Path | None, max_bytes: int) -> dict[str, Any]:
    """Envoy's HTTP cache: in memory, or bounded on disk under cache_dir. The Host is part of the key."""
    store: dict[str, Any]
    if cache_dir is None:
        store = {"@type": "type.googleapis.com/envoy.extensions.http.cache.simple_http_cache.v3.SimpleHttpCacheConfig"}
    else:
        store = {
            "@type": "type.googleapis.com/envoy.extensions.http.cache.file_system_http_cache.v3.FileSystemHttpCacheConfig",
            "manager_config": {"thread_pool": {"thread_count": 1}},
            "cache_path": str(cache_dir),
            "max_cache_size_bytes": max_bytes,
        }
    return {
        "name": CACHE,
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cache.v3.CacheConfig", "typed_config": store},
    }


def _manager(stat_prefix: str, virtual_host: dict[str, Any], filters: list[dict[str, Any]], json_errors: bool = False) -> dict[str, Any]:
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": stat_prefix,
        "codec_type": "AUTO",
        "stream_idle_timeout": "300s",
        "request_timeout": "0s",
        "generate_request_id": True,
        "access_log": [STDOUT_LOG],
        "route_config": {"name": stat_prefix, "virtual_hosts": [virtual_host], "max_direct_response_body_size_bytes": MAX_PAGE_BYTES},
        "http_filters": [*filters, ROUTER],
    }
    if json_errors:
        manager["local_reply_config"] = json_local_replies()
    return manager


def _rest_routes(methods: list[RestMethod], lua_bodies: dict[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The edge's REST routes, each method's and the 405s (see rest.py), with their per-route settings."""

    def extras(method: RestMethod) -> dict[str, Any]:
        found: dict[str, Any] = {"typed_per_filter_config": _disabled(*CACHES)}
        if method.rpc in lua_bodies:
            found["metadata"] = route_metadata(method, lua_bodies[method.rpc])
        return found

    return rest_routes(methods, extras, {"typed_per_filter_config": _disabled(*CACHES, LUA, TRANSCODER)})


def _listener(name: str, host: str, port: int, manager: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "address": _socket(host, port),
        "filter_chains": [{"filters": [{"name": HCM, "typed_config": manager}]}],
    }


def single_gateway(
    *,
    host: str,
    http_port: int,
    origin_port: int,
    admin_port: int,
    clusters: Sequence[Cluster],
    routes: Sequence[Route],
    transcoding: Transcoding,
    playback_cluster: str,
    pages: Sequence[Page] = (),
    cache_dir: Path | None = None,
    cache_max_bytes: int = 1024**3,
) -> dict[str, Any]:
    """One Envoy: the public edge listener (with the HLS cache) and the origin listener behind it."""
    descriptors = read_descriptor_set(transcoding.descriptor)
    # The player's paths are the origin's, untranscoded at the edge.
    rest = [m for m in rest_methods(descriptors, transcoding.services) if not m.template.startswith(PLAYER_PREFIXES)]
    strict_bodies, lua_bodies = lua_filter(descriptors, rest)
    method_routes, wrong_method_routes = _rest_routes(rest, lua_bodies)
    to_origin = {"cluster": "origin", "timeout": "60s"}
    edge_routes = [
        {"match": {"prefix": VOD_PREFIX}, "route": to_origin, "typed_per_filter_config": _disabled(LIVE_CACHE, GRPC_WEB, TRANSCODER)},
        {"match": {"prefix": LIVE_PREFIX}, "route": to_origin, "typed_per_filter_config": _disabled(CACHE, GRPC_WEB, TRANSCODER)},
    ]
    edge_routes += [_page_route(page) for page in pages]
    edge_routes += [_grpc_route(route) for route in routes]
    edge_routes += method_routes
    # CORS preflights (no gRPC content type yet) need a route that is not a direct response,
    # or the CORS filter stands aside; it answers them before they reach the cluster.
    preflight_cluster = routes[0].cluster
    edge_routes.append(
        {
            "match": {"prefix": "/", "headers": [{"name": ":method", "string_match": {"exact": "OPTIONS"}}]},
            "route": {"cluster": preflight_cluster},
            "typed_per_filter_config": _disabled(*CACHES, GRPC_WEB, TRANSCODER),
        }
    )
    # After the preflights: a path that exists, with a method it does not take.
    edge_routes += wrong_method_routes
    # REST calls match no gRPC route until the transcoder has rewritten them; the method routes
    # and this one hold their per-route settings meanwhile (no cache). The transcoder answers
    # unknown paths itself (reject_unknown_method); gRPC calls to unknown services get here.
    edge_routes.append(
        {
            "match": {"prefix": "/"},
            "direct_response": {"status": 404, "body": {"inline_string": "no such path"}},
            "typed_per_filter_config": _disabled(*CACHES),
        }
    )
    edge = _manager(
        "edge",
        {"name": "vidmesh", "domains": ["*"], "routes": edge_routes, "typed_per_filter_config": {CORS: CORS_POLICY}},
        [
            {"name": CORS, "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"}},
            _cache(cache_dir, cache_max_bytes),
            _live_cache(),
            {"name": GRPC_WEB, "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb"}},
            strict_bodies,
            _transcoder(transcoding),
        ],
        json_errors=True,
    )
    origin_routes = [_grpc_route(route) for route in routes if route.cluster == playback_cluster]
    origin = _manager(
        "origin",
        {
            "name": "origin",
            "domains": ["*"],
            "routes": [
                *origin_routes,
                {"match": {"prefix": "/"}, "direct_response": {"status": 404, "body": {"inline_string": "no such path"}}},
            ],
        },
        [
            # First in the chain, so last on the way out: after the transcoder has used them,
            # gRPC's headers mean nothing to players (and would be cached with every object).
            # Route-level header removal would not do: the edge's cache fetches misses itself.
            {
                "name": "envoy.filters.http.header_mutation",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
                    "mutations": {"response_mutations": [{"remove": name} for name in GRPC_RESPONSE_HEADERS]},
                },
            },
            _transcoder(Transcoding(transcoding.descriptor, tuple(s for s in transcoding.services if "playback" in s))),
        ],
        json_errors=True,
    )
    return {
        "admin": {"address": _socket(host, admin_port)},
        "static_resources": {
            "listeners": [_listener("edge", host, http_port, edge), _listener("origin", host, origin_port, origin)],
            "clusters": [_cluster(c) for c in clusters] + [_cluster(Cluster("origin", host, origin_port, http2=False))],
        },
    }


def cdn_tier(
    *,
    name: str,
    host: str,
    port: int,
    admin_port: int,
    upstream: Cluster,
    cache_dir: Path | None = None,
    cache_max_bytes: int = 1024**3,
) -> dict[str, Any]:
    """One caching tier of a CDN: answers what it holds, forwards everything else to upstream."""
    forward = {"cluster": upstream.name, "timeout": "60s"}
    virtual_host = {
        "name": name,
        "domains": ["*"],
        "routes": [
            {"match": {"prefix": LIVE_PREFIX}, "route": forward, "typed_per_filter_config": _disabled(CACHE)},
            {"match": {"prefix": "/"}, "route": forward, "typed_per_filter_config": _disabled(LIVE_CACHE)},
        ],
    }
    manager = _manager(name, virtual_host, [_cache(cache_dir, cache_max_bytes), _live_cache()])
    return {
        "admin": {"address": _socket(host, admin_port)},
        "static_resources": {"listeners": [_listener(name, host, port, manager)], "clusters": [_cluster(upstream)]},
    }


class _PlainDumper(yaml.SafeDumper):
    """Writes shared sub-dicts out in full: no &anchors, so each route reads on its own."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def cdn(
    *,
    host: str,
    origin: tuple[str, int],
    edge_port: int,
    edge_admin_port: int,
    regional_port: int,
    regional_admin_port: int,
    cache_root: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """The `cdn` topology: viewers → edge tier → regional tier → origin (a `single_gateway`).

    Returns one config per tier, by name; each runs as its own Envoy (distinct --base-id).
    """
    regional = cdn_tier(
        name="regional",
        host=host,
        port=regional_port,
        admin_port=regional_admin_port,
        upstream=Cluster("origin", origin[0], origin[1], http2=False),
        cache_dir=cache_root / "regional" if cache_root else None,
    )
    edge = cdn_tier(
        name="edge",
        host=host,
        port=edge_port,
        admin_port=edge_admin_port,
        upstream=Cluster("regional", host, regional_port, http2=False),
        cache_dir=cache_root / "edge" if cache_root else None,
    )
    return {"edge": edge, "regional": regional}


def render(config: dict[str, Any]) -> str:
    return yaml.dump(config, Dumper=_PlainDumper, sort_keys=False)
