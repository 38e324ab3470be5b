"""REST through the Envoy edge: every error is a google.rpc.Status as JSON with the HTTP status of
its code, the ones Envoy makes itself included; bodies naming fields the RPC lacks are refused."""

from __future__ import annotations

import json
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.support.http import Reply, request
from tests.support.processes import Mesh, mesh_env, wait_for_port
from vidmesh_envoy import envoy_binary, render
from vidmesh_services.platform.pids import stop_process
from vidmesh_services.platform.supervisor import Supervisor
from vidmesh_services.runtime.config import load_config

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
NO_SUCH_VIDEO = "/v1/videos/nosuchvideo?updateMask=title"


def call(mesh: Mesh, method: str, path: str, body: Any = None, key: str | None = None, request_id: str = "") -> Reply:
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    if request_id:
        headers["x-request-id"] = request_id
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    return request(method, f"http://{mesh.gateway}{path}", headers, data)


def status(reply: Reply, http: int, code: int, reason: str) -> dict[str, Any]:
    """The reply's google.rpc.Status, after checking it is JSON with the expected status and reason."""
    assert reply.status == http, reply.text
    assert reply.headers["content-type"] == "application/json", reply.text
    body: dict[str, Any] = reply.json()
    assert body["code"] == code and body["message"], body
    info = body["details"][0]
    assert info["@type"] == ERROR_INFO and info["domain"] == "vidmesh.dev" and info["reason"] == reason, body
    assert info["metadata"]["request_id"], body
    return body


def test_successful_calls_still_work(mesh: Mesh, alice_key: str) -> None:
    listed = call(mesh, "GET", "/v1/videos?pageSize=5")
    assert listed.status == 200 and listed.headers["content-type"] == "application/json"
    assert isinstance(listed.json()["videos"], list)
    # Every known field, by JSON and by proto name, with strings that look like JSON inside.
    body = {"filename": "a.mp4", "size_bytes": "1000", "title": 'say "}{"bogus": 1}', "tags": ["x"], "visibility": "VISIBILITY_PRIVATE"}
    started = call(mesh, "POST", "/v1/uploads", body, alice_key)
    assert started.status == 200, started.text
    name = started.json()["name"]
    assert call(mesh, "POST", f"/v1/{name}:abort", {}, alice_key).status == 200


def test_malformed_json_is_400_with_a_status(mesh: Mesh, alice_key: str) -> None:
    reply = call(mesh, "PATCH", NO_SUCH_VIDEO, b'{"title": ', alice_key, request_id="malformed-1")
    body = status(reply, 400, 3, "INVALID_ARGUMENT")
    assert "Unexpected end of string" in body["message"]
    assert body["details"][0]["metadata"]["request_id"] == "malformed-1"


def test_values_of_the_wrong_type_are_400_naming_the_field(mesh: Mesh, alice_key: str) -> None:
    assert "page_size" in status(call(mesh, "GET", "/v1/videos?pageSize=abc"), 400, 3, "INVALID_ARGUMENT")["message"]
    assert (
        "visibility" in status(call(mesh, "PATCH", NO_SUCH_VIDEO, {"visibility": "NOPE"}, alice_key), 400, 3, "INVALID_ARGUMENT")["message"]
    )
    assert "NOPE" in status(call(mesh, "GET", "/v1/jobs?state=NOPE", key=alice_key), 400, 3, "INVALID_ARGUMENT")["message"]
    assert "pagesize" in status(call(mesh, "GET", "/v1/videos?pagesize=5"), 400, 3, "INVALID_ARGUMENT")["message"]


def test_unknown_body_fields_are_refused_with_a_bad_request(mesh: Mesh, alice_key: str) -> None:
    cases = {
        # body "video": paths start at the request's field
        ('{"tittle": "x"}', NO_SUCH_VIDEO): ["video.tittle"],
        ('{"title": "x", "source": {"widht": 1}, "renditions": [{"name": "a"}, {"nope": []}]}', NO_SUCH_VIDEO): [
            "video.source.widht",
            "video.renditions[1].nope",
        ],
        # body "*": the request message itself
        ('{"filename": "a.mp4", "sizeBytes": "10", "title": "t", "bogus": {"a": [1, {"b": 2}]}}', "/v1/uploads"): ["bogus"],
    }
    for (body, path), fields in cases.items():
        reply = call(mesh, "PATCH" if path == NO_SUCH_VIDEO else "POST", path, body.encode(), alice_key, request_id="strict-1")
        refused = status(reply, 400, 3, "INVALID_ARGUMENT")
        assert refused["details"][0]["metadata"]["request_id"] == "strict-1"
        violations = refused["details"][1]
        assert violations["@type"] == "type.googleapis.com/google.rpc.BadRequest"
        assert [v["field"] for v in violations["fieldViolations"]] == fields
        assert all(field in refused["message"] for field in fields)
    # The same bodies without the unknown fields reach the service (which has no such video).
    known = call(mesh, "PATCH", NO_SUCH_VIDEO, b'{"ti\\u0074le": "x", "source": {"width": 1}}', alice_key)
    assert status(known, 404, 5, "NOT_FOUND")["details"][1]["resourceName"] == "videos/nosuchvideo"


def test_unknown_paths_are_404_naming_the_path_without_its_query(mesh: Mesh) -> None:
    for path in ("/v1/nothing-here?token=secret-token", "/no/such/page?token=secret-token", "/hls/nothing?token=secret-token"):
        reply = request("GET", f"http://{mesh.gateway}{path}")
        body = status(reply, 404, 5, "NOT_FOUND")
        assert body["details"][1]["resourceName"] == path.split("?")[0]
        assert "secret-token" not in reply.text


def test_wrong_methods_are_405_with_the_allowed_ones(mesh: Mesh, alice_key: str) -> None:
    cases = [
        ("DELETE", "/v1/videos", "GET"),
        ("PUT", "/v1/videos/x", "DELETE, GET, PATCH"),
        ("GET", "/v1/videos/x:createPlaybackUrl", "POST"),
    ]
    for method, path, allow in cases:
        reply = call(mesh, method, path, key=alice_key)
        assert allow in status(reply, 405, 12, "METHOD_NOT_ALLOWED")["message"]
        assert reply.headers["allow"] == allow


def test_grpc_and_grpc_web_callers_still_get_grpc_statuses(mesh: Mesh, gateway: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as failed:
        gateway.unary_unary("/nosuch.v1.Service/Method", None, None)(b"")
    assert failed.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "{" not in (failed.value.details() or "")
    framed = b"\x00" + struct.pack(">I", 0)
    web = request(
        "POST", f"http://{mesh.gateway}/nosuch.v1.Service/Method", {"content-type": "application/grpc-web+proto", "x-grpc-web": "1"}, framed
    )
    assert web.headers["content-type"].startswith("application/grpc-web") and web.headers["grpc-status"] == "12"


@pytest.fixture
def gateway_without_services(tmp_path: Path) -> Iterator[str]:
    """The real gateway config in a real Envoy, on free ports where no service listens."""
    env, ports = mesh_env(tmp_path, "token")
    config = tmp_path / "envoy.yaml"
    config.write_text(render(Supervisor(load_config(env=env)).gateway_config()))
    with open(tmp_path / "envoy.log", "wb") as log:
        process = subprocess.Popen(
            [envoy_binary(), "-c", str(config), "--base-id", str(ports["http"])], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(ports["http"], process=process)
        yield f"127.0.0.1:{ports['http']}"
    finally:
        stop_process(process)


def test_a_service_that_is_down_is_503_unavailable_naming_it(gateway_without_services: str) -> None:
    address = gateway_without_services
    reply = request("GET", f"http://{address}/v1/videos")
    body = status(reply, 503, 14, "SERVICE_UNAVAILABLE")
    assert body["details"][0]["metadata"]["service"] == "catalog"
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as failed:
        channel.unary_unary("/vidmesh.catalog.v1.CatalogService/ListVideos", None, None)(b"", timeout=10)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE and "{" not in (failed.value.details() or "")
