"""Deleting a video while its job runs cancels the job: no error logged, no retry, nothing published."""

from __future__ import annotations

import json
import time
from pathlib import Path

import redis
from vidmesh.transcode.v1 import resources_pb2 as jobs_pb2
from vidmesh.transcode.v1 import transcode_internal_service_pb2 as queue_pb2

from tests.integration.test_transcode_jobs import wait_until_encoding
from tests.support.media import make_video
from tests.support.processes import Mesh
from vidmesh_client import VidmeshClient
from vidmesh_client._ledger import UploadLedger
from vidmesh_services.transcode.store import DEAD_LETTERS, RETRIES


def worker_logs(mesh: Mesh) -> dict[Path, int]:
    """Each worker log and how long it is now, to read only what a test adds to it."""
    return {log: log.stat().st_size for log in (mesh.home / "logs").glob("transcode-worker-*.log")}


def lines_since(marks: dict[Path, int]) -> list[str]:
    lines = []
    for log, offset in marks.items():
        with open(log, "rb") as handle:
            handle.seek(offset)
            lines += handle.read().decode(errors="replace").splitlines()
    return lines


def level(line: str) -> str:
    try:
        return str(json.loads(line).get("level", ""))
    except ValueError:
        return "unstructured"


def test_deleting_a_video_mid_transcode_cancels_its_job_quietly(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    video = make_video(tmp_path / "long.mp4", seconds=20, width=1280, height=720)
    marks = worker_logs(mesh)
    assert marks, "no worker log found"
    with VidmeshClient(mesh.gateway, alice_key, ledger=UploadLedger(tmp_path / "l.json")) as client:
        video_id = client.upload(video, title="deleted while transcoding")
        wait_until_encoding(client, video_id, timeout=180)  # earlier tests' jobs may still hold the worker
        client.delete_video(video_id)  # metadata, then the source and the staging folder
        deadline = time.monotonic() + 60
        while (job := client.jobs_for_video(video_id)[0]).state in (jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING):
            assert time.monotonic() < deadline, "the job did not stop"
            time.sleep(0.1)
        assert job.state == jobs_pb2.JOB_STATE_CANCELLED, (jobs_pb2.JobState.Name(job.state), job.failure_reason)
        assert (job.attempt, job.failure_reason) == (1, "the video was deleted")
        time.sleep(2)  # longer than the mesh's retry backoff: a retry would have started by now
        again = client.jobs_for_video(video_id)[0]
        assert (again.state, again.attempt) == (jobs_pb2.JOB_STATE_CANCELLED, 1)

    valkey = redis.Redis(port=mesh.ports["valkey"])
    try:
        retries = [queue_pb2.QueuedJob.FromString(m).job for m in valkey.zrange(RETRIES, 0, -1)]
        dead = [queue_pb2.QueuedJob.FromString(f[b"entry"]).job for _, f in valkey.xrange(DEAD_LETTERS) if b"entry" in f]
    finally:
        valkey.close()
    assert job.name not in retries and job.name not in dead
    assert not (mesh.home / "data" / "blobs" / "hls" / video_id).exists(), "nothing published, no staging left"

    lines = lines_since(marks)
    assert not [line for line in lines if level(line) in ("error", "critical", "unstructured")], lines
    cancelled = [json.loads(line) for line in lines if job.name in line and level(line) == "info"]
    assert [entry["msg"] for entry in cancelled] == ["cancelled: the video was deleted"], cancelled
