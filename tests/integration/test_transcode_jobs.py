"""From a completed upload to a READY video: workers, the job queue and the Transcode service."""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from pathlib import Path

import grpc
import pytest
from vidmesh.catalog.v1 import resources_pb2 as catalog_pb2
from vidmesh.transcode.v1 import resources_pb2 as jobs_pb2
from vidmesh.transcode.v1 import transcode_service_pb2 as pb2
from vidmesh.transcode.v1 import transcode_service_pb2_grpc as pb2_grpc

from tests.conftest import bearer
from tests.integration.test_upload_errors import expect
from tests.support.media import make_video
from tests.support.processes import Mesh, pid_alive
from vidmesh_client import VidmeshClient
from vidmesh_client._ledger import UploadLedger


def wait_for_job(client: VidmeshClient, video_id: str, timeout: float = 120) -> jobs_pb2.Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = client.jobs_for_video(video_id)
        if jobs and jobs[0].state in (jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED):
            return jobs[0]
        time.sleep(0.2)
    raise TimeoutError(f"job of {video_id} did not finish")


def wait_until_encoding(client: VidmeshClient, video_id: str, timeout: float) -> jobs_pb2.Job:
    """The video's job once it is encoding and has made progress (so a test can interrupt it mid-way)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.jobs_for_video(video_id)[0]
        if job.state == jobs_pb2.JOB_STATE_RUNNING and job.stage == jobs_pb2.JOB_STAGE_ENCODING and job.percent > 0:
            return job
        time.sleep(0.05)
    pytest.fail("the job never started encoding")


def test_cli_upload_wait_ends_ready_with_a_playable_ladder(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4", seconds=3, width=640, height=360)
    result = mesh.cli(
        "upload", str(video), "--title", "ladder", "--wait", "--url", mesh.gateway, env={"VIDMESH_API_KEY": alice_key}, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "ready:" in result.stderr
    video_id = result.stdout.strip().splitlines()[-1]
    shown = json.loads(mesh.cli("videos", "get", video_id, "--json", "--url", mesh.gateway, env={"VIDMESH_API_KEY": alice_key}).stdout)
    assert shown["status"] == "VIDEO_STATUS_READY"
    heights = [r["height"] for r in shown["renditions"]]
    assert heights and max(heights) <= 360  # never upscaled
    master = mesh.home / "data" / "blobs" / shown["masterPlaylistPath"].removeprefix("/")
    assert master.read_text().startswith("#EXTM3U")
    assert not list(master.parent.parent.glob(".staging-*")), "no partial work left behind"


def test_jobs_are_owner_only_and_unknown_ids_are_not_found(
    mesh: Mesh, gateway: grpc.Channel, alice_key: str, bob_key: str, tmp_path: Path
) -> None:
    stub = pb2_grpc.TranscodeServiceStub(gateway)
    with VidmeshClient(mesh.gateway, alice_key, ledger=UploadLedger(tmp_path / "l.json")) as client:
        video_id = client.upload(make_video(tmp_path / "v.mp4"), title="jobs")
        job = client.jobs_for_video(video_id)[0]
    assert stub.GetJob(pb2.GetJobRequest(name=job.name), metadata=bearer(alice_key)).job.video == f"videos/{video_id}"
    expect(grpc.StatusCode.NOT_FOUND, lambda: stub.GetJob(pb2.GetJobRequest(name=job.name), metadata=bearer(bob_key)))
    expect(grpc.StatusCode.NOT_FOUND, lambda: stub.GetJob(pb2.GetJobRequest(name="jobs/nope"), metadata=bearer(alice_key)))
    expect(grpc.StatusCode.UNAUTHENTICATED, lambda: stub.GetJob(pb2.GetJobRequest(name=job.name)))
    expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: stub.GetJob(pb2.GetJobRequest(name="videos/x"), metadata=bearer(alice_key)))
    watched = list(stub.WatchJob(pb2.WatchJobRequest(name=job.name), metadata=bearer(alice_key), timeout=120))
    assert watched[-1].job.state == jobs_pb2.JOB_STATE_SUCCEEDED
    # Progress over the whole attempt never goes back, and a finished job has no stage.
    assert all(a.job.percent <= b.job.percent for a, b in itertools.pairwise(watched))
    assert watched[-1].job.percent == 100 and watched[-1].job.stage == jobs_pb2.JOB_STAGE_UNSPECIFIED
    assert list(stub.ListJobs(pb2.ListJobsRequest(video=f"videos/{video_id}"), metadata=bearer(bob_key)).jobs) == []
    mine = stub.ListJobs(pb2.ListJobsRequest(state=jobs_pb2.JOB_STATE_SUCCEEDED, page_size=100), metadata=bearer(alice_key)).jobs
    assert job.name in [j.name for j in mine] and all(j.owner == "alice" for j in mine), [(j.owner, j.state) for j in mine]
    expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: stub.ListJobs(pb2.ListJobsRequest(page_token="!!"), metadata=bearer(alice_key)))
    expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: stub.ListJobs(pb2.ListJobsRequest(video="jobs/x"), metadata=bearer(alice_key)))
    expect(grpc.StatusCode.NOT_FOUND, lambda: list(stub.WatchJob(pb2.WatchJobRequest(name="jobs/nope"), metadata=bearer(alice_key))))
    expect(grpc.StatusCode.NOT_FOUND, lambda: list(stub.WatchJob(pb2.WatchJobRequest(name=job.name), metadata=bearer(bob_key))))


@pytest.mark.slow
def test_worker_sigkilled_mid_job_still_ends_ready_exactly_once(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    video = make_video(tmp_path / "long.mp4", seconds=20, width=640, height=360)
    with VidmeshClient(mesh.gateway, alice_key, ledger=UploadLedger(tmp_path / "l.json")) as client:
        video_id = client.upload(video, title="crash")
        wait_until_encoding(client, video_id, timeout=60)
        workers = {name: pid for name, pid in mesh.pids().items() if name.startswith("transcode-worker")}
        for pid in workers.values():  # whichever worker holds it, it dies mid-encode
            os.kill(pid, signal.SIGKILL)
        job = wait_for_job(client, video_id, timeout=180)
        assert job.state == jobs_pb2.JOB_STATE_SUCCEEDED, job.failure_reason
        assert job.attempt == 2
        assert not any(pid_alive(pid) for pid in workers.values())
        final = client.get_video(video_id)
        assert final.status == catalog_pb2.VIDEO_STATUS_READY
        versions = [p.name for p in (mesh.home / "data" / "blobs" / "hls" / video_id).iterdir()]
        assert versions == [job.output.version], "one published version, no staging left"
