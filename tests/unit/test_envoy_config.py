"""The generated Envoy configs: canonical shapes, every public service routed, valid for real Envoy."""

from pathlib import Path
from typing import Any

from vidmesh_envoy import cdn, validate
from vidmesh_envoy.topologies import CACHE, GRPC_WEB, TRANSCODER, render
from vidmesh_services.platform.supervisor import Supervisor
from vidmesh_services.platform.topology import MESH
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


def test_only_player_requests_meet_the_cache_and_they_skip_the_transcoder(tmp_path: Path) -> None:
    config = gateway_config(tmp_path)
    edge = listener(config, "edge")
    assert [f["name"] for f in edge["http_filters"]][:4] == ["envoy.filters.http.cors", CACHE, GRPC_WEB, TRANSCODER]
    for route in routes(edge):
        if route["match"].get("prefix") in ("/hls/", "/live/"):
            assert route["route"]["cluster"] == "origin" and disabled(route) == {GRPC_WEB, TRANSCODER}
        else:
            assert CACHE in disabled(route), route["match"]
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
