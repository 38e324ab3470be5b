"""The generated gateway config: canonical shapes, every public service routed, valid for real Envoy."""

from pathlib import Path

from vidmesh_envoy import validate
from vidmesh_envoy.topologies import render
from vidmesh_services.platform.supervisor import Supervisor
from vidmesh_services.platform.topology import MESH
from vidmesh_services.runtime.config import load_config


def gateway_config(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    return Supervisor(load_config(env={"VIDMESH_HOME": str(tmp_path)})).gateway_config()


def test_every_public_service_is_routed_and_no_internal_one(tmp_path: Path) -> None:
    config = gateway_config(tmp_path)
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    prefixes = {r["match"]["prefix"]: r["route"]["cluster"] for r in manager["route_config"]["virtual_hosts"][0]["routes"]}
    for service in MESH:
        for name in service.public:
            assert prefixes[f"/{name}/"] == service.name
        for name in service.internal:
            assert not any(p.startswith(f"/{name}/") for p in prefixes)
    assert prefixes["/grpc.reflection."] == "catalog"
    clusters = config["static_resources"]["clusters"]
    assert all("http2_protocol_options" in str(c["typed_extension_protocol_options"]) for c in clusters)


def test_generated_config_passes_envoy_validate(tmp_path: Path) -> None:
    path = tmp_path / "envoy.yaml"
    path.write_text(render(gateway_config(tmp_path)))
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_envoy_validate_catches_a_broken_config(tmp_path: Path) -> None:
    config = gateway_config(tmp_path)
    config["static_resources"]["clusters"] = []  # routes now point at clusters that do not exist
    path = tmp_path / "broken.yaml"
    path.write_text(render(config))
    assert validate(path).returncode != 0
