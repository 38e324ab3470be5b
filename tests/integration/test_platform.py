"""`vidmesh up` as an operator meets it: starts, serves, heals, stops, leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.media import make_video
from tests.support.processes import Mesh, child_pids, pid_alive, start_mesh, stop_mesh
from vidmesh_client import VidmeshClient
from vidmesh_client._ledger import UploadLedger

GRPCURL = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "grpcurl"


def test_up_starts_every_process_and_sigint_stops_them_all(tmp_path: Path) -> None:
    mesh = start_mesh(tmp_path / "home", VIDMESH_TRANSCODE_WORKERS="1")
    pids = mesh.pids()
    # Two search index readers.
    services = {"catalog", "upload", "transcode", "playback", "analytics", "search", "search-2", "recs", "live"}
    # One analytics worker per event log shard; one search indexer (the index has one writer).
    # The RTMP ingest starts a packager per stream on air (none here).
    workers = {"transcode-worker-1", "analytics-worker-1", "analytics-worker-2", "search-indexer-1", "recs-worker-1", "live-ingest-1"}
    try:
        assert set(pids) == {"supervisor", "valkey", "envoy", *services, *workers}
        assert all(pid_alive(pid) for pid in pids.values())
        banner = "".join(mesh.output)
        assert f"127.0.0.1:{mesh.ports['http']}" in banner
    except AssertionError:
        stop_mesh(mesh)  # a failed look must not leave a whole platform running
        raise
    mesh.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert mesh.process.wait(60) == 0
    mesh.close_output()
    assert "vidmesh: stopped" in "".join(mesh.output)
    assert not [name for name, pid in pids.items() if pid_alive(pid)]
    assert not (mesh.home / "run" / "pids.json").exists()


def test_killed_supervisor_takes_its_children_with_it(tmp_path: Path) -> None:
    mesh = start_mesh(tmp_path / "home")
    pids = mesh.pids()
    mesh.process.kill()
    mesh.process.wait()
    mesh.close_output()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids.values()):
        time.sleep(0.1)
    assert not [name for name, pid in pids.items() if pid_alive(pid)], "orphans left after SIGKILL of vidmesh up"


def kill_and_wait_restarted(mesh: Mesh, name: str, service: str) -> None:
    """SIGKILLs one service of the mesh; returns once the supervisor's replacement serves (asked
    on its own port: the gateway routes health checks to the catalog)."""
    before = mesh.pids()[name]
    os.kill(before, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        after = mesh.pids().get(name)
        if after and after != before and pid_alive(after):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"{name} was not restarted")
    with grpc.insecure_channel(f"127.0.0.1:{mesh.ports[name]}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 10
        while True:
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
                break
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_crashed_child_is_restarted(mesh: Mesh) -> None:
    kill_and_wait_restarted(mesh, "catalog", "vidmesh.catalog.v1.CatalogService")


def test_a_crashed_upload_service_leaves_no_probe_worker_behind(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    with VidmeshClient(mesh.gateway, alice_key, ledger=UploadLedger(tmp_path / "ledger.json")) as client:
        client.delete_video(client.upload(make_video(tmp_path / "probed.mp4", seconds=0.5), title="probed"))
    workers = child_pids(mesh.pids()["upload"])
    assert workers, "completing an upload starts the probe workers"
    kill_and_wait_restarted(mesh, "upload", "vidmesh.upload.v1.UploadService")
    deadline = time.monotonic() + 10
    while (left := [pid for pid in workers if pid_alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, "probe workers outlived the Upload service"


def test_grpcurl_lists_the_mesh_through_the_gateway_without_protos(mesh: Mesh) -> None:
    listed = subprocess.run([str(GRPCURL), "-plaintext", mesh.gateway, "list"], capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0, listed.stderr
    services = set(listed.stdout.split())
    assert {
        "vidmesh.catalog.v1.CatalogService",
        "vidmesh.upload.v1.UploadService",
        "vidmesh.transcode.v1.TranscodeService",
        "vidmesh.playback.v1.PlaybackService",
        "grpc.health.v1.Health",
    } <= services
    assert "vidmesh.catalog.v1.CatalogInternalService" not in services
    described = subprocess.run(
        [str(GRPCURL), "-plaintext", mesh.gateway, "describe", "vidmesh.upload.v1.UploadService"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "rpc UploadChunks ( stream .vidmesh.upload.v1.UploadChunksRequest )" in described.stdout
    called = subprocess.run(
        [str(GRPCURL), "-plaintext", "-d", '{"page_size": 1}', mesh.gateway, "vidmesh.catalog.v1.CatalogService/ListVideos"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert called.returncode == 0, called.stderr


def test_access_log_has_one_line_per_call_and_no_secrets(mesh: Mesh, gateway: grpc.Channel, alice_key: str) -> None:
    from vidmesh.catalog.v1 import catalog_service_pb2 as catalog_pb2
    from vidmesh.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
    from vidmesh.upload.v1 import upload_service_pb2 as upload_pb2
    from vidmesh.upload.v1 import upload_service_pb2_grpc as upload_grpc

    metadata = (("authorization", f"Bearer {alice_key}"), ("x-request-id", "trace-me-123"))
    upload_grpc.UploadServiceStub(gateway).InitUpload(
        upload_pb2.InitUploadRequest(filename="a.mp4", size_bytes=10, title="logged"), metadata=metadata
    )
    catalog_grpc.CatalogServiceStub(gateway).ListVideos(catalog_pb2.ListVideosRequest(), metadata=metadata)
    for name in ("upload", "catalog"):
        text = (mesh.home / "logs" / f"{name}.log").read_text()
        assert '"request_id": "trace-me-123"' in text and '"code": "OK"' in text
    for log in (mesh.home / "logs").iterdir():
        text = log.read_text()
        assert alice_key not in text and mesh.service_token not in text, log.name
