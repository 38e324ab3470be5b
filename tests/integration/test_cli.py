"""What `vidmesh upload` and `vidmesh videos` tell their user, and how the SDK's resume and ledger
behave against a real mesh: a refused upload leaves no ledger entry, a resume waits out a
restarting Upload service."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
import redis
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2
from vidmesh.upload.v1 import upload_service_pb2 as upload_pb2
from vidmesh.upload.v1 import upload_service_pb2_grpc as upload_grpc

from tests.conftest import bearer
from tests.integration.test_transcode_jobs import wait_for_job
from tests.integration.test_upload_errors import CHUNK, chunk
from tests.integration.test_upload_journey import padded_video, source_blob
from tests.support.media import make_audio_only, make_video
from tests.support.processes import Mesh
from vidmesh_client import VidmeshClient, VidmeshError
from vidmesh_client._ledger import UploadLedger

OPEN_UPLOADS = "vidmesh:upload:expiry"  # the Upload service's index of open uploads (upload/store.py)


def cli_env(key: str, ledger: Path) -> dict[str, str]:
    return {"VIDMESH_API_KEY": key, "VIDMESH_CLIENT_STATE": str(ledger)}


def test_upload_bar_says_it_is_finishing_once_every_byte_is_sent(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4")
    env = cli_env(alice_key, tmp_path / "ledger.json")
    result = mesh.cli("upload", str(video), "--title", "finishing", "--url", mesh.gateway, env=env)
    assert result.returncode == 0, result.stderr
    # The full bar names the wait for the server's acknowledgement and probe, not a silent 100%.
    assert re.search(r"100%\|[^\r\n]*finishing: the server confirms the last chunks", result.stderr), result.stderr
    with VidmeshClient(mesh.gateway, alice_key, ledger=UploadLedger(tmp_path / "ledger.json")) as client:
        client.delete_video(result.stdout.strip().splitlines()[-1])


def test_an_upload_the_server_refuses_leaves_no_ledger_entry(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    sound = make_audio_only(tmp_path / "podcast.mp4")  # accepted chunk by chunk, refused at completion
    ledger = tmp_path / "ledger.json"
    result = mesh.cli("upload", str(sound), "--title", "no picture", "--url", mesh.gateway, env=cli_env(alice_key, ledger))
    assert result.returncode == 1 and "INVALID_ARGUMENT" in result.stderr, result.stderr
    assert json.loads(ledger.read_text()) == {}, "the refused upload's entry is gone"


def test_an_upload_the_ledger_cannot_record_is_aborted_not_orphaned(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4")
    ledger = UploadLedger(tmp_path / "ledger.json")
    # The ledger reads, but cannot record: its lock file (and the fixed temp name older clients
    # wrote through) are folders.
    (tmp_path / "ledger.json.lock").mkdir()
    (tmp_path / "ledger.tmp").mkdir()
    with redis.Redis(port=mesh.ports["valkey"]) as valkey:
        before = set(valkey.zrange(OPEN_UPLOADS, 0, -1))
        with VidmeshClient(mesh.gateway, alice_key, ledger=ledger) as client, pytest.raises(IsADirectoryError):
            client.upload(video, title="unrecorded")
        assert set(valkey.zrange(OPEN_UPLOADS, 0, -1)) == before, "the upload it could not record was aborted on the server"


def test_videos_get_shows_why_a_video_failed_and_list_has_a_header(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    source = make_video(tmp_path / "wide.mp4", width=8194, height=32, seconds=0.2, audio=False)  # wider than the ladder allows
    with VidmeshClient(mesh.gateway, alice_key, ledger=UploadLedger(tmp_path / "l.json")) as client:
        video_id = client.upload(source, title="too wide", visibility=media_pb2.VISIBILITY_PUBLIC)
        wait_for_job(client, video_id)
        video = client.get_video(video_id)
    assert video.status == resources_pb2.VIDEO_STATUS_FAILED and video.failure_reason
    env = {"VIDMESH_API_KEY": alice_key}
    shown = mesh.cli("videos", "get", video_id, "--url", mesh.gateway, env=env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "status:      failed" in lines and f"reason:      {video.failure_reason}" in lines, shown.stdout
    assert "title:       too wide" in lines
    listed = mesh.cli("videos", "list", "--owner", "alice", "--limit", "1", "--url", mesh.gateway, env=env)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "VISIBILITY", "CREATED", "OWNER", "TITLE"]
    assert row.startswith(video_id)
    for column, value in (("STATUS", "failed"), ("VISIBILITY", "public"), ("OWNER", "alice"), ("TITLE", "too wide")):
        assert row[header.index(column) :].startswith(value), (column, header, row)
    with VidmeshClient(mesh.gateway, alice_key, ledger=UploadLedger(tmp_path / "l.json")) as client:
        client.delete_video(video_id)


def wait_port_closed(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
        except OSError:
            return
        time.sleep(0.05)
    raise TimeoutError(f"127.0.0.1:{port} still accepts connections")


def test_resume_retries_the_status_call_while_the_upload_service_is_down(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    video = padded_video(tmp_path / "resume.ts", 6 * CHUNK)
    data = video.read_bytes()
    ledger = UploadLedger(tmp_path / "ledger.json")
    entry = ledger.key(video, str(bearer(alice_key)))
    # What an interrupted `vidmesh upload` leaves: an upload with its first chunks, in the ledger.
    with grpc.insecure_channel(mesh.gateway) as channel:
        stub = upload_grpc.UploadServiceStub(channel)
        request = upload_pb2.InitUploadRequest(filename=video.name, size_bytes=len(data), title="resumed", chunk_size_bytes=CHUNK)
        started = stub.InitUpload(request, metadata=bearer(alice_key))
        stub.UploadChunks(iter([chunk(started.name, i, data[i * CHUNK : (i + 1) * CHUNK]) for i in range(2)]), metadata=bearer(alice_key))
    ledger.put(entry, started.name)

    resumed: list[int] = []

    def resume() -> str:
        with VidmeshClient(mesh.gateway, alice_key, ledger=ledger) as client:
            return client.upload(video, title="resumed", progress=lambda s: resumed.append(s.resumed_bytes))

    # The supervisor, paused, cannot restart the Upload service it loses until the test lets it.
    supervisor = mesh.process.pid
    with ThreadPoolExecutor(1) as pool:
        os.kill(supervisor, signal.SIGSTOP)
        try:
            os.kill(mesh.pids()["upload"], signal.SIGKILL)
            wait_port_closed(mesh.ports["upload"])
            with VidmeshClient(mesh.gateway, alice_key, ledger=ledger, max_attempts=1) as client, pytest.raises(VidmeshError) as down:
                client.upload(video, title="resumed")  # no retries: the first status call's answer
            assert down.value.code == grpc.StatusCode.UNAVAILABLE, down.value
            assert ledger.get(entry) == started.name, "an outage is not a refusal: the entry stays"
            resuming = pool.submit(resume)
            time.sleep(1.5)  # its first status calls meet the outage too
            assert not resuming.done(), "the resume neither gave up nor finished while the service was down"
        finally:
            os.kill(supervisor, signal.SIGCONT)
        video_id = resuming.result(timeout=120)
    assert resumed and resumed[0] == 2 * CHUNK, "it resumed after the two chunks already sent"
    assert ledger.get(entry) is None
    assert hashlib.sha256(source_blob(mesh, video_id).read_bytes()).digest() == hashlib.sha256(data).digest()
    with VidmeshClient(mesh.gateway, alice_key, ledger=ledger) as client:
        client.delete_video(video_id)
