"""The generated Envoy configs: canonical shapes, every public service routed, valid for real Envoy."""

import re
from pathlib import Path
from typing import Any

from vidmesh.type.v1 import error_reason_pb2

from vidmesh_envoy import cdn, validate
from vidmesh_envoy.errors import STATUSES
from vidmesh_envoy.rest import path_regex, read_descriptor_set, rest_methods
from vidmesh_envoy.strict_body import LUA, WALKER
from vidmesh_envoy.topologies import CACHE, GRPC_WEB, LIVE_CACHE, PLAYER_PREFIXES, TRANSCODER, render
from vidmesh_services.platform.supervisor import Supervisor
from vidmesh_services.platform.topology import MESH, descriptor_set
from vidmesh_services.runtime.config import load_config


def gateway_config(tmp_path: Path) -> dict[str, Any]:
    return Supervisor(load_config(env={"VIDMESH_HOME": str(tmp_path)})).gateway_config()


def listener(config: dict[str, Any], name: str) -> dict[str, Any]:
    found = next(item for item in config["static_resources"]["listeners"] if item["name"] == name)
    return found["filter_chains"][0]["filters"][0]["typed_config"]  # type: ignore[no-any-return]


def routes(manager: dict[str, Any]) -> list[dict[str, Any]]:
    return manager["route_config"]["virtual_hosts"][0]["routes"]  # type: ignore[no-any-return]


def disabled(route: dict[str, Any]) -> set[str]:
    return {name for name, value in route.get("typed_per_filter_config", {}).items() if value.get("disabled")}


def test_every_public_service_is_routed_and_no_internal_one(tmp_path: Path) -> None:
    edge = listener(gateway_config(tmp_path), "edge")
    grpc_routes = {r["match"]["prefix"]: r["route"]["cluster"] for r in routes(edge) if "cluster" in r.get("route", {})}
    for service in MESH:
        for name in service.public:
            assert grpc_routes[f"/{name}/"] == service.name
        for name in service.internal:
            assert not any(p.startswith(f"/{name}/") for p in grpc_routes)
    assert grpc_routes["/grpc.reflection."] == "catalog"


def test_only_player_requests_meet_the_caches_and_they_skip_the_transcoder(tmp_path: Path) -> None:
    """On-demand objects go through the v1 cache, live ones through the v2 cache (which collapses
    concurrent misses), and nothing else through either."""
    config = gateway_config(tmp_path)
    edge = listener(config, "edge")
    assert [f["name"] for f in edge["http_filters"]][:6] == ["envoy.filters.http.cors", CACHE, LIVE_CACHE, GRPC_WEB, LUA, TRANSCODER]
    for route in routes(edge):
        if route["match"].get("prefix") == "/hls/":
            assert route["route"]["cluster"] == "origin" and disabled(route) == {LIVE_CACHE, GRPC_WEB, TRANSCODER}
        elif route["match"].get("prefix") == "/live/":
            assert route["route"]["cluster"] == "origin" and disabled(route) == {CACHE, GRPC_WEB, TRANSCODER}
        else:
            assert {CACHE, LIVE_CACHE} <= disabled(route), route["match"]
    origin = listener(config, "origin")
    assert [r["route"]["cluster"] for r in routes(origin) if "route" in r] == ["playback"]
    filters = {f["name"]: f["typed_config"] for f in origin["http_filters"]}
    assert filters[TRANSCODER]["services"] == ["vidmesh.playback.v1.PlaybackService"]
    assert next(iter(filters)) == "envoy.filters.http.header_mutation"  # strips gRPC headers after the transcoder
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert all("http2_protocol_options" in str(clusters[s.name]) for s in MESH)  # gRPC upstreams


def test_generated_configs_pass_envoy_validate(tmp_path: Path) -> None:
    configs = {"single": gateway_config(tmp_path)}
    configs |= cdn(
        host="127.0.0.1",
        origin=("127.0.0.1", 8080),
        edge_port=8180,
        edge_admin_port=8181,
        regional_port=8280,
        regional_admin_port=8281,
        cache_root=tmp_path / "cache",
    )
    for name, config in configs.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(render(config))
        result = validate(path)
        assert result.returncode == 0, name + result.stdout + result.stderr


def test_envoy_validate_catches_a_broken_config(tmp_path: Path) -> None:
    config = gateway_config(tmp_path)
    config["static_resources"]["clusters"] = []  # routes now point at clusters that do not exist
    path = tmp_path / "broken.yaml"
    path.write_text(render(config))
    assert validate(path).returncode != 0


def test_path_regexes_match_what_their_templates_do() -> None:
    cases = {
        "/v1/{name=videos/*}": (["/v1/videos/abc"], ["/v1/videos", "/v1/videos/abc/x", "/v1/videos/abc:createPlaybackUrl"]),
        "/v1/{name=videos/*}:createPlaybackUrl": (["/v1/videos/abc:createPlaybackUrl"], ["/v1/videos/abc", "/v1/videos/abc:other"]),
        "/v1/videos:batchGet": (["/v1/videos:batchGet"], ["/v1/videos", "/v1/videosXbatchGet"]),
        "/v1/{name=streams/*/webrtcSessions/*}": (["/v1/streams/s/webrtcSessions/w"], ["/v1/streams/s/webrtcSessions"]),
    }
    for template, (matching, other) in cases.items():
        regex = re.compile(path_regex(template))
        assert all(regex.match(path) for path in matching), template
        assert not any(regex.match(path) for path in other), template


def test_every_rest_binding_has_a_method_route_and_a_405_after_the_preflights(tmp_path: Path) -> None:
    edge = routes(listener(gateway_config(tmp_path), "edge"))
    preflight = next(i for i, r in enumerate(edge) if r["match"].get("headers", [{}])[0].get("string_match") == {"exact": "OPTIONS"})
    services = [name for s in MESH for name in s.public]
    bindings = [m for m in rest_methods(read_descriptor_set(descriptor_set()), services) if not m.template.startswith(PLAYER_PREFIXES)]
    assert {"PATCH /v1/{video.name=videos/*}", "GET /v1/videos", "POST /v1/uploads"} <= {f"{m.http_method} {m.template}" for m in bindings}
    for method in bindings:
        regex = path_regex(method.template)
        exact = {"exact": method.http_method}
        own = next(
            i
            for i, r in enumerate(edge)
            if r["match"].get("safe_regex", {}).get("regex") == regex and r["match"].get("headers", [{}])[0].get("string_match") == exact
        )
        refusal = next(i for i, r in enumerate(edge) if r["match"] == {"safe_regex": {"regex": regex}})
        assert own < preflight < refusal, method
        assert edge[refusal]["direct_response"]["status"] == 405
        assert method.http_method in edge[refusal]["response_headers_to_add"][0]["header"]["value"]
        assert {TRANSCODER, LUA} <= disabled(edge[refusal])
        assert (LUA in edge[own].get("metadata", {}).get("filter_metadata", {})) == bool(method.body), method


def test_both_listeners_answer_rest_errors_as_json_and_leave_grpc_alone(tmp_path: Path) -> None:
    config = gateway_config(tmp_path)
    for name in ("edge", "origin"):
        mappers = listener(config, name)["local_reply_config"]["mappers"]
        assert len(mappers) == len(STATUSES)
        for mapper in mappers:
            assert mapper["body_format_override"]["content_type"] == "application/json"
            assert set(mapper["body_format_override"]["json_format"]) == {"code", "message", "details"}
            assert "application/grpc" in str(mapper["filter"])  # gRPC and gRPC-Web keep gRPC statuses


def test_the_gateways_reasons_are_documented() -> None:
    documented = set(error_reason_pb2.ErrorReason.keys())
    used = {detail["reason"] for *_, details in STATUSES for detail in details if "reason" in detail}
    used |= set(re.findall(r'"reason":"([A-Z_]+)"', WALKER))
    assert used >= {"INVALID_ARGUMENT", "NOT_FOUND", "METHOD_NOT_ALLOWED", "SERVICE_UNAVAILABLE"}
    assert used <= documented
