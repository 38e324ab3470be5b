"""What operators and tools ask the running mesh through the gateway: health per service, server
reflection (v1 and v1alpha), per-RPC Prometheus metrics from every process, and the internal
SubmitJob contract (idempotent, service identity only)."""

from __future__ import annotations

import secrets
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from vidmesh.catalog.v1 import catalog_service_pb2, catalog_service_pb2_grpc
from vidmesh.playback.v1 import playback_service_pb2, playback_service_pb2_grpc
from vidmesh.transcode.v1 import transcode_internal_service_pb2 as internal_pb2
from vidmesh.transcode.v1 import transcode_internal_service_pb2_grpc as internal_grpc
from vidmesh.transcode.v1 import transcode_service_pb2, transcode_service_pb2_grpc
from vidmesh.upload.v1 import upload_service_pb2, upload_service_pb2_grpc

from tests.conftest import bearer
from tests.integration.test_upload_errors import details as error_details
from tests.support.processes import Mesh

PUBLIC_SERVICES = (
    "vidmesh.upload.v1.UploadService",
    "vidmesh.catalog.v1.CatalogService",
    "vidmesh.transcode.v1.TranscodeService",
    "vidmesh.playback.v1.PlaybackService",
)


@pytest.mark.parametrize("service", ["", *PUBLIC_SERVICES])
def test_health_through_the_gateway_answers_for_every_service(gateway: grpc.Channel, service: str) -> None:
    """Envoy routes each check to the process that serves the service ("" is the whole mesh)."""
    answer = health_pb2_grpc.HealthStub(gateway).Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_health_of_an_unknown_service_is_not_found(gateway: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        health_pb2_grpc.HealthStub(gateway).Check(health_pb2.HealthCheckRequest(service="vidmesh.nope.v1.Nope"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def listed_services(channel: grpc.Channel, version: str) -> set[str]:
    """ListServices over the raw reflection stream of `version`: v1 and v1alpha share one wire format."""
    info = channel.stream_stream(
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    requests: Iterator[reflection_pb2.ServerReflectionRequest] = iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    (response,) = list(info(requests, timeout=10))
    return {service.name for service in response.list_services_response.service}


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_lists_the_public_services_in_both_versions(gateway: grpc.Channel, version: str) -> None:
    services = listed_services(gateway, version)
    assert set(PUBLIC_SERVICES) <= services
    assert not any("Internal" in name for name in services)


def scrape(mesh: Mesh, process: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{mesh.ports[f'metrics_{process}']}/metrics", timeout=10) as response:
        return response.read().decode()


def requests_line(service: str, method: str, code: str) -> str:
    return f'vidmesh_rpc_requests_total{{code="{code}",method="{method}",service="{service}"}}'


def sample(text: str, series: str) -> float:
    """The value of one series in a Prometheus text page; 0 if it has not been seen yet."""
    return next((float(row.split()[-1]) for row in text.splitlines() if row.startswith(series + " ")), 0.0)


def test_every_process_serves_per_rpc_metrics(mesh: Mesh, gateway: grpc.Channel, alice_key: str) -> None:
    unknown = f"nope{secrets.token_hex(4)}"
    calls = {
        "catalog": (
            "vidmesh.catalog.v1.CatalogService",
            "GetVideo",
            lambda: catalog_service_pb2_grpc.CatalogServiceStub(gateway).GetVideo(
                catalog_service_pb2.GetVideoRequest(name=f"videos/{unknown}")
            ),
        ),
        "upload": (
            "vidmesh.upload.v1.UploadService",
            "GetUploadStatus",
            lambda: upload_service_pb2_grpc.UploadServiceStub(gateway).GetUploadStatus(
                upload_service_pb2.GetUploadStatusRequest(name=f"uploads/{unknown}"), metadata=bearer(alice_key)
            ),
        ),
        "transcode": (
            "vidmesh.transcode.v1.TranscodeService",
            "GetJob",
            lambda: transcode_service_pb2_grpc.TranscodeServiceStub(gateway).GetJob(
                transcode_service_pb2.GetJobRequest(name=f"jobs/{unknown}"), metadata=bearer(alice_key)
            ),
        ),
        "playback": (
            "vidmesh.playback.v1.PlaybackService",
            "CreatePlaybackUrl",
            lambda: playback_service_pb2_grpc.PlaybackServiceStub(gateway).CreatePlaybackUrl(
                playback_service_pb2.CreatePlaybackUrlRequest(name=f"videos/{unknown}"), metadata=bearer(alice_key)
            ),
        ),
    }
    for process, (service, method, call) in calls.items():
        line = requests_line(service, method, "NOT_FOUND")
        before = sample(scrape(mesh, process), line)
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        text = scrape(mesh, process)
        assert sample(text, line) == before + 1, process
        assert f'vidmesh_rpc_duration_seconds_count{{code="NOT_FOUND",method="{method}",service="{service}"}}' in text
    # The workers have no RPCs of their own, but serve the process metrics of their own endpoint.
    assert "process_resident_memory_bytes" in scrape(mesh, "transcode_worker")


def test_submit_job_is_idempotent_and_for_services_only(mesh: Mesh, alice_key: str) -> None:
    with grpc.insecure_channel(mesh.address("transcode")) as channel:
        stub = internal_grpc.TranscodeInternalServiceStub(channel)
        video = f"videos/{secrets.token_hex(6)}"  # not in the catalog: the worker drops the job unrun

        def submit(request_id: str, key: str = mesh.service_token) -> internal_pb2.SubmitJobResponse:
            request = internal_pb2.SubmitJobRequest(video=video, owner="alice", source_path="raw/x/source", request_id=request_id)
            return stub.SubmitJob(request, metadata=bearer(key), timeout=10)

        first, again, other = submit("uploads/a"), submit("uploads/a"), submit("uploads/b")
        assert first.job.name == again.job.name != other.job.name
        assert first.job.video == video and first.job.owner == "alice"

        with pytest.raises(grpc.RpcError) as caught:
            submit("uploads/c", key=alice_key)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error_details(caught.value)["ErrorInfo"].reason == "SERVICE_ONLY"
        with pytest.raises(grpc.RpcError) as caught:
            submit("")
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in error_details(caught.value)["BadRequest"].field_violations] == ["request_id"]
