"""A Valkey outage is UNAVAILABLE (retryable, with a reason) in every service that uses it, never
INTERNAL, and the services carry on by themselves once it is back: a mesh on a Valkey this test
starts, stops and restarts by PID on one port (its append-only file keeps the state)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import google_crc32c
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from vidmesh.transcode.v1 import transcode_service_pb2 as transcode_pb2
from vidmesh.transcode.v1 import transcode_service_pb2_grpc as transcode_grpc
from vidmesh.upload.v1 import upload_service_pb2 as pb2
from vidmesh.upload.v1 import upload_service_pb2_grpc as pb2_grpc

from tests.conftest import bearer
from tests.support.media import make_video
from tests.support.processes import Mesh, free_ports, start_mesh, stop_mesh, wait_for_port
from vidmesh_services.platform.pids import die_with_parent, stop_process
from vidmesh_services.platform.valkey import valkey_argv

CHUNK = 64 * 1024


class Valkey:
    """One Valkey on a fixed port and data folder, so that a restart is the same server."""

    def __init__(self, data_dir: Path):
        (self.port,) = free_ports(1)
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = valkey_argv(self.port, self.data_dir)
        with open(self.data_dir / "valkey.log", "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        wait_for_port(self.port, process=self.process)

    def stop(self) -> None:
        assert self.process is not None
        assert stop_process(self.process) == 0  # SIGTERM: Valkey flushes its append-only file and exits
        self.process = None


@pytest.fixture(scope="module")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Valkey]:
    server = Valkey(tmp_path_factory.mktemp("valkey"))
    server.start()
    yield server
    if server.process is not None:
        server.stop()


@pytest.fixture(scope="module")
def outage_mesh(tmp_path_factory: pytest.TempPathFactory, valkey: Valkey) -> Iterator[Mesh]:
    running = start_mesh(
        tmp_path_factory.mktemp("outage"),
        VIDMESH_REDIS_URL=valkey.url,  # the mesh starts no Valkey of its own
        VIDMESH_UPLOAD_MIN_CHUNK_SIZE=str(CHUNK),
        VIDMESH_TRANSCODE_WORKERS="1",
    )
    yield running
    assert stop_mesh(running) == 0, "".join(running.output)


def unavailable_reason(call: object) -> str:
    """Runs call, which must fail UNAVAILABLE; returns its ErrorInfo reason."""
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    error = caught.value
    assert error.code() == grpc.StatusCode.UNAVAILABLE, (error.code(), error.details())
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "an UNAVAILABLE without details came from the gateway, not the service"
    info = error_details_pb2.ErrorInfo()
    assert any(detail.Unpack(info) for detail in status.details if detail.Is(info.DESCRIPTOR))
    return str(info.reason)


def test_valkey_down_is_unavailable_and_the_mesh_recovers_when_it_is_back(outage_mesh: Mesh, valkey: Valkey, tmp_path: Path) -> None:
    key = outage_mesh.create_key("olga")
    auth = bearer(key)
    clip = make_video(tmp_path / "clip.ts", seconds=1.0, width=160, height=120).read_bytes()
    video = clip * (2 * CHUNK // len(clip) + 1)  # repeated MPEG-TS is still valid: two chunks at least
    pieces = [video[i : i + CHUNK] for i in range(0, len(video), CHUNK)]
    assert len(pieces) >= 2
    messages = [pb2.UploadChunksRequest(index=i, data=p, crc32c=google_crc32c.value(p)) for i, p in enumerate(pieces)]

    with grpc.insecure_channel(outage_mesh.gateway) as channel:
        uploads = pb2_grpc.UploadServiceStub(channel)
        jobs = transcode_grpc.TranscodeServiceStub(channel)
        started = uploads.InitUpload(
            pb2.InitUploadRequest(filename="clip.ts", size_bytes=len(video), title="t", chunk_size_bytes=CHUNK), metadata=auth
        )
        for message in messages:
            message.name = started.name
        uploads.UploadChunks(iter(messages[:1]), metadata=auth)
        jobs.ListJobs(transcode_pb2.ListJobsRequest(), metadata=auth)
        status = pb2.GetUploadStatusRequest(name=started.name)

        # A quick restart with nobody calling meanwhile: the pooled connections are all dead, and
        # the first call after it still succeeds.
        valkey.stop()
        valkey.start()
        assert list(uploads.GetUploadStatus(status, metadata=auth).received_indexes) == [0]
        jobs.ListJobs(transcode_pb2.ListJobsRequest(), metadata=auth)

        # Down: every call that needs Valkey says so, in the upload and transcode services.
        valkey.stop()
        assert unavailable_reason(lambda: uploads.GetUploadStatus(status, metadata=auth)) == "STATE_STORE_UNAVAILABLE"
        assert unavailable_reason(lambda: uploads.UploadChunks(iter(messages[1:]), metadata=auth)) == "STATE_STORE_UNAVAILABLE"
        init = pb2.InitUploadRequest(filename="b.ts", size_bytes=10, title="t", chunk_size_bytes=CHUNK)
        assert unavailable_reason(lambda: uploads.InitUpload(init, metadata=auth)) == "STATE_STORE_UNAVAILABLE"
        assert unavailable_reason(lambda: jobs.ListJobs(transcode_pb2.ListJobsRequest(), metadata=auth)) == "STATE_STORE_UNAVAILABLE"
        missing = transcode_pb2.GetJobRequest(name="jobs/nope")
        assert unavailable_reason(lambda: jobs.GetJob(missing, metadata=auth)) == "STATE_STORE_UNAVAILABLE"

        # Back: the upload resumes where it was and becomes a video with its transcode job.
        valkey.start()
        assert list(uploads.GetUploadStatus(status, metadata=auth).received_indexes) == [0]
        uploads.UploadChunks(iter(messages[1:]), metadata=auth)
        completed = uploads.CompleteUpload(pb2.CompleteUploadRequest(name=started.name), metadata=auth)
        assert completed.video_id == started.video_id
        listed = jobs.ListJobs(transcode_pb2.ListJobsRequest(video=f"videos/{completed.video_id}"), metadata=auth)
        assert len(listed.jobs) == 1
