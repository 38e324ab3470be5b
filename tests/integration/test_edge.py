"""The Envoy edge for browsers and CDNs: JSON/REST, gRPC-Web with CORS, web pages, cache tiers."""

from __future__ import annotations

import json
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from vidmesh.catalog.v1 import catalog_service_pb2 as catalog_pb2

from tests.integration.test_playback import signed_url
from tests.support.http import envoy_stat, get, request, wait_cache_entries
from tests.support.processes import Mesh, free_ports, stop_pid, wait_for_port
from tests.support.videos import ReadyVideo
from vidmesh_envoy import cdn, cdn_tier, envoy_binary, render
from vidmesh_envoy.topologies import Cluster

# -- JSON/REST through the transcoder --------------------------------------------------------


def test_rest_reads_videos_as_json_and_private_ones_with_a_playback_token(
    mesh: Mesh, public_video: ReadyVideo, private_video: ReadyVideo, gateway: grpc.Channel
) -> None:
    shown = get(f"http://{mesh.gateway}/v1/videos/{public_video.id}")
    assert shown.status == 200 and shown.headers["content-type"] == "application/json"
    assert shown.json()["video"]["masterPlaylistPath"] == f"/hls/{public_video.id}/{public_video.version}/master.m3u8"
    listed = get(f"http://{mesh.gateway}/v1/videos?pageSize=100").json()
    assert public_video.id in {v["id"] for v in listed["videos"]}
    assert private_video.id not in {v["id"] for v in listed["videos"]}

    hidden = get(f"http://{mesh.gateway}/v1/videos/{private_video.id}")
    assert hidden.status == 404 and hidden.json()["details"][0]["reason"] == "NOT_FOUND"
    token = signed_url(mesh, private_video, gateway).token
    assert get(f"http://{mesh.gateway}/v1/videos/{private_video.id}?playbackToken={token}").json()["video"]["title"] == "A private clip"
    foreign = signed_url(mesh, public_video, gateway).token
    assert get(f"http://{mesh.gateway}/v1/videos/{private_video.id}?playbackToken={foreign}").status == 404


def test_rest_writes_need_the_owners_key(mesh: Mesh, public_video: ReadyVideo, bob_key: str) -> None:
    url = f"http://{mesh.gateway}/v1/videos/{public_video.id}?updateMask=description"
    body = json.dumps({"description": "Made by the test suite."}).encode()
    anonymous = request("PATCH", url, {"content-type": "application/json"}, body)
    assert anonymous.status == 401 and anonymous.json()["details"][0]["reason"] == "API_KEY_REQUIRED"
    stranger = request("PATCH", url, {"content-type": "application/json", "authorization": f"Bearer {bob_key}"}, body)
    assert stranger.status == 403
    owner = request("PATCH", url, {"content-type": "application/json", "authorization": f"Bearer {public_video.owner_key}"}, body)
    assert owner.status == 200, owner.text
    assert owner.json()["video"]["updateTime"] > owner.json()["video"]["createTime"]
    malformed = request("PATCH", url, {"content-type": "application/json", "authorization": f"Bearer {public_video.owner_key}"}, b"{")
    assert malformed.status == 400


def test_unknown_paths_are_404(mesh: Mesh) -> None:
    assert get(f"http://{mesh.gateway}/v1/nothing-here").status == 404
    assert get(f"http://{mesh.gateway}/no/such/page").status == 404


# -- gRPC-Web and CORS -----------------------------------------------------------------------


def grpc_web_call(mesh: Mesh, method: str, message: bytes) -> tuple[dict[str, str], list[bytes], dict[str, str]]:
    """One unary gRPC-Web call as a browser makes it; returns headers, data frames and trailers."""
    framed = b"\x00" + struct.pack(">I", len(message)) + message
    reply = request(
        "POST",
        f"http://{mesh.gateway}{method}",
        {"content-type": "application/grpc-web+proto", "x-grpc-web": "1", "origin": "http://app.example"},
        framed,
    )
    assert reply.status == 200
    frames, trailers, body = [], dict(), reply.body
    while body:
        flag, length = body[0], struct.unpack(">I", body[1:5])[0]
        payload, body = body[5 : 5 + length], body[5 + length :]
        if flag & 0x80:
            trailers |= dict(line.split(":", 1) for line in payload.decode().strip().split("\r\n"))
        else:
            frames.append(payload)
    return reply.headers, frames, {k.strip().lower(): v.strip() for k, v in trailers.items()}


def test_grpc_web_calls_work_cross_origin(mesh: Mesh, public_video: ReadyVideo) -> None:
    request_bytes = catalog_pb2.GetVideoRequest(name=f"videos/{public_video.id}").SerializeToString()
    headers, frames, trailers = grpc_web_call(mesh, "/vidmesh.catalog.v1.CatalogService/GetVideo", request_bytes)
    assert headers["access-control-allow-origin"] == "http://app.example"
    assert "grpc-status" in headers["access-control-expose-headers"]
    assert trailers["grpc-status"] == "0"
    assert catalog_pb2.GetVideoResponse.FromString(frames[0]).video.id == public_video.id

    missing = catalog_pb2.GetVideoRequest(name="videos/nosuchvideo").SerializeToString()
    headers, frames, trailers = grpc_web_call(mesh, "/vidmesh.catalog.v1.CatalogService/GetVideo", missing)
    assert (trailers.get("grpc-status") or headers.get("grpc-status")) == "5" and not frames


def test_cors_preflights_are_answered_at_the_edge(mesh: Mesh) -> None:
    for path in ("/vidmesh.catalog.v1.CatalogService/GetVideo", "/v1/videos"):
        reply = request(
            "OPTIONS",
            f"http://{mesh.gateway}{path}",
            {
                "origin": "http://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type,x-grpc-web,authorization",
            },
        )
        assert reply.status == 200, path
        assert reply.headers["access-control-allow-origin"] == "http://app.example"
        assert "x-grpc-web" in reply.headers["access-control-allow-headers"]


# -- web pages -------------------------------------------------------------------------------


def test_pages_and_the_pinned_player_are_served_by_envoy(mesh: Mesh) -> None:
    home = get(f"http://{mesh.gateway}/")
    assert home.status == 200 and home.headers["content-type"].startswith("text/html") and "Latest videos" in home.text
    watch = get(f"http://{mesh.gateway}/watch/anything")
    assert watch.status == 200 and "/static/watch.js" in watch.text
    player = get(f"http://{mesh.gateway}/static/hls.min.js")
    assert player.status == 200 and player.headers["content-type"].startswith("text/javascript")
    version = json.loads((Path(__file__).parents[2] / "package.json").read_text())["dependencies"]["hls.js"]
    assert version[0].isdigit(), "hls.js is pinned to an exact version"
    assert f'"{version}"' in player.text or f"'{version}'" in player.text


# -- CDN tiers: viewers → edge tier → regional tier → gateway -----------------------------------------------------------------


CDN_HOST = "cdn.vidmesh.test"


class Tier:
    def __init__(self, name: str, config: dict, folder: Path, port: int, admin_port: int):  # type: ignore[type-arg]
        self.name, self.port, self.admin_port = name, port, admin_port
        path = folder / f"{name}.yaml"
        path.write_text(render(config))
        # Envoy gets its own copy of the log's descriptor; this process needs none once it started.
        with open(folder / f"{name}.log", "wb") as log:
            self.process = subprocess.Popen(
                [envoy_binary(), "-c", str(path), "--base-id", str(port), "--log-level", "warn"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(port, process=self.process)

    def get(self, path: str):  # type: ignore[no-untyped-def]
        # Viewers reach every edge under the CDN's one public name (DNS picks the nearest edge);
        # the Host is part of the cache key, so the tiers share entries only under one name.
        return get(f"http://127.0.0.1:{self.port}{path}", {"host": CDN_HOST})

    def stat(self, name: str) -> int:
        return envoy_stat(self.admin_port, name)

    def stop(self) -> None:
        stop_pid(self.process)


@pytest.fixture(scope="module")
def tiers(mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Tier]]:
    """Edge A and edge B (two points of presence) in front of one regional tier, in front of the mesh."""
    folder = tmp_path_factory.mktemp("cdn")
    edge_a, edge_a_admin, regional, regional_admin, edge_b, edge_b_admin = free_ports(6)
    configs = cdn(
        host="127.0.0.1",
        origin=("127.0.0.1", mesh.ports["http"]),
        edge_port=edge_a,
        edge_admin_port=edge_a_admin,
        regional_port=regional,
        regional_admin_port=regional_admin,
        cache_root=folder / "cache",
    )
    configs["edge-b"] = cdn_tier(
        name="edge",
        host="127.0.0.1",
        port=edge_b,
        admin_port=edge_b_admin,
        upstream=Cluster("regional", "127.0.0.1", regional, http2=False),
        cache_dir=folder / "cache" / "edge-b",
    )
    for name in ("regional", "edge", "edge-b"):
        (folder / "cache" / name).mkdir(parents=True)
    started: dict[str, Tier] = {}
    try:
        for name, port, admin in (("regional", regional, regional_admin), ("edge", edge_a, edge_a_admin), ("edge-b", edge_b, edge_b_admin)):
            started[name] = Tier(name, configs[name], folder, port, admin)
        yield started
    finally:
        for tier in started.values():
            tier.stop()


ORIGIN_FETCHES = "cluster.origin.upstream_rq_total"  # requests leaving the regional tier for the origin
REGIONAL_FETCHES = "cluster.regional.upstream_rq_total"  # requests leaving an edge for the regional tier


def test_cdn_tiers_serve_hot_segments_without_the_origin(tiers: dict[str, Tier], public_video: ReadyVideo) -> None:
    edge, edge_b, regional = tiers["edge"], tiers["edge-b"], tiers["regional"]
    segment = public_video.root + "144p/init.mp4"  # fetched by no other test

    first = edge.get(segment)
    assert first.status == 200 and first.headers["cache-control"].endswith("immutable")
    assert regional.stat(ORIGIN_FETCHES) == 1, "the first request goes to the origin"
    wait_cache_entries(edge.admin_port, 1)

    for _ in range(3):
        hit = edge.get(segment)
        assert hit.status == 200 and hit.body == first.body and "age" in hit.headers
    assert edge.stat(REGIONAL_FETCHES) == 1, "repeat requests are edge hits"
    assert regional.stat(ORIGIN_FETCHES) == 1

    other_edge = edge_b.get(segment)  # a miss at this edge, a hit at the regional tier
    assert other_edge.status == 200 and other_edge.body == first.body and "age" in other_edge.headers
    assert edge_b.stat(REGIONAL_FETCHES) == 1
    assert regional.stat(ORIGIN_FETCHES) == 1, "the regional tier answered without the origin"


def test_cdn_tiers_do_not_keep_private_or_missing_objects(
    tiers: dict[str, Tier], private_video: ReadyVideo, public_video: ReadyVideo, mesh: Mesh, gateway: grpc.Channel
) -> None:
    regional = tiers["regional"]
    signed = signed_url(mesh, private_video, gateway)
    before = regional.stat(ORIGIN_FETCHES)
    for _ in range(2):
        reply = tiers["edge"].get(signed.url)
        assert reply.status == 200 and reply.headers["cache-control"].startswith("private")
    assert tiers["edge"].get(public_video.root + "144p/77777.m4s").status == 404
    assert regional.stat(ORIGIN_FETCHES) == before + 3
