"""Uploads through the Envoy gateway, the way a creator's CLI or SDK does them."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import grpc
import pytest
from vidmesh.upload.v1 import upload_service_pb2 as upload_pb2
from vidmesh.upload.v1 import upload_service_pb2_grpc as upload_grpc

from tests.conftest import bearer
from tests.support.media import make_video
from tests.support.processes import Mesh
from tests.support.proxy import CuttableProxy
from vidmesh_client import UploadProgress, VidmeshClient, VidmeshError
from vidmesh_client._ledger import UploadLedger

MiB = 1024 * 1024


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def padded_video(path: Path, size: int) -> Path:
    """A real MPEG-TS video repeated up to about size bytes (repeated TS is still valid TS)."""
    clip = make_video(path.with_suffix(".clip.ts"), seconds=1.0, width=320, height=240)
    data = clip.read_bytes()
    with open(path, "wb") as out:
        while out.tell() < size:
            out.write(data)
    return path


def wait_until_settled(mesh: Mesh, key: str, upload_name: str | None) -> None:
    assert upload_name
    with grpc.insecure_channel(mesh.gateway) as channel:
        stub = upload_grpc.UploadServiceStub(channel)
        last, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 0.5:
            status = stub.GetUploadStatus(upload_pb2.GetUploadStatusRequest(name=upload_name), metadata=bearer(key))
            if len(status.received_indexes) != last:
                last, stable_since = len(status.received_indexes), time.monotonic()
            time.sleep(0.05)


def discard(mesh: Mesh, key: str, video_id: str) -> None:
    """Deletes a padded test video, so the transcoder does not spend the session on it."""
    with VidmeshClient(mesh.gateway, key, ledger=UploadLedger(mesh.home / "client-ledger.json")) as client:
        client.delete_video(video_id)


def source_blob(mesh: Mesh, video_id: str) -> Path:
    return mesh.home / "data" / "blobs" / "raw" / video_id / "source"


def test_cli_upload_prints_video_id_and_the_video_exists(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    video = make_video(tmp_path / "holiday.mp4")
    result = mesh.cli(
        "upload",
        str(video),
        "--title",
        "Holiday",
        "--tag",
        "beach",
        "--tag",
        "sun",
        "--visibility",
        "public",
        "--url",
        mesh.gateway,
        env={"VIDMESH_API_KEY": alice_key},
    )
    assert result.returncode == 0, result.stderr
    video_id = result.stdout.strip().splitlines()[-1]
    assert "100%" in result.stderr, result.stderr  # the progress bar ran to the end

    shown = mesh.cli("videos", "get", video_id, "--json", "--url", mesh.gateway)
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["status"] in ("VIDEO_STATUS_PROCESSING", "VIDEO_STATUS_READY"), body  # the transcoder may be quick
    assert body["owner"] == "alice" and body["tags"] == ["beach", "sun"]
    assert body["source"]["width"] == 320 and body["source"]["videoCodec"] == "h264"
    assert body["source"]["audioCodec"] == "aac"
    assert body["source"]["duration"] == "2s", body["source"]
    assert sha256(source_blob(mesh, video_id)) == sha256(video)

    listed = mesh.cli("videos", "list", "--owner", "alice", "--url", mesh.gateway)
    assert video_id in listed.stdout, listed.stdout + listed.stderr


def test_completed_upload_queues_a_transcode_job(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    import redis

    with VidmeshClient(mesh.gateway, alice_key, ledger=UploadLedger(tmp_path / "l.json")) as client:
        video_id = client.upload(make_video(tmp_path / "a.mp4"), title="queued")
    r = redis.Redis(port=mesh.ports["valkey"])
    jobs = [fields for _, fields in r.xrange("vidmesh:transcode:jobs")]
    r.close()
    from vidmesh.transcode.v1 import transcode_internal_service_pb2 as queue_pb2

    entries = [queue_pb2.QueuedJob.FromString(fields[b"entry"]) for fields in jobs]
    mine = [e for e in entries if e.video == f"videos/{video_id}"]
    assert len(mine) == 1  # typed entries, carrying everything a worker (or a retry) needs
    assert (mine[0].owner, mine[0].source_path) == ("alice", f"raw/{video_id}/source")
    assert mine[0].job.startswith("jobs/")


def received_count(mesh: Mesh, key: str, upload_name: str) -> int:
    with grpc.insecure_channel(mesh.gateway) as channel:
        status = upload_grpc.UploadServiceStub(channel).GetUploadStatus(
            upload_pb2.GetUploadStatusRequest(name=upload_name), metadata=bearer(key)
        )
    return len(status.received_indexes)


def test_resume_after_the_network_is_cut_sends_only_missing_chunks(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    video = padded_video(tmp_path / "big.ts", 48 * MiB)
    ledger = UploadLedger(tmp_path / "ledger.json")
    # The line stalls halfway through the file, then drops once the server has stored what it got.
    proxy = CuttableProxy(mesh.ports["http"], upload_limit=24 * MiB)

    def cut_once_the_server_holds_some_chunks() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            name = ledger.get(ledger.key(video, str(bearer(alice_key))))
            if name and proxy.stalled and received_count(mesh, alice_key, name) >= 1:
                wait_until_settled(mesh, alice_key, name)
                proxy.cut()
                return
            time.sleep(0.01)

    cutter = threading.Thread(target=cut_once_the_server_holds_some_chunks)
    cutter.start()
    with (
        VidmeshClient(f"127.0.0.1:{proxy.port}", alice_key, ledger=ledger, max_attempts=1) as client,
        pytest.raises(VidmeshError) as failed,
    ):
        client.upload(video, title="cut", chunk_size=1 * MiB)
    cutter.join()
    assert failed.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.INTERNAL)
    # The server may still be storing chunks that were in flight when the line dropped.
    wait_until_settled(mesh, alice_key, ledger.get(ledger.key(video, str(bearer(alice_key)))))

    resumed: list[UploadProgress] = []
    with VidmeshClient(mesh.gateway, alice_key, ledger=ledger) as client:
        video_id = client.upload(video, title="cut", chunk_size=1 * MiB, progress=lambda s: resumed.append(UploadProgress(**vars(s))))
    first = resumed[0]
    assert 0 < first.resumed_bytes < first.total_bytes, "the second run must start from what the server kept"
    sent_again = resumed[-1].sent_bytes - first.resumed_bytes
    assert sent_again == first.total_bytes - first.resumed_bytes, "only the missing chunks are sent"
    assert sha256(source_blob(mesh, video_id)) == sha256(video)
    discard(mesh, alice_key, video_id)


def test_upload_survives_upload_service_sigkill(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    video = padded_video(tmp_path / "crash.ts", 40 * MiB)
    killed = threading.Event()
    victim = mesh.pids()["upload"]

    def kill_midway(state: UploadProgress) -> None:
        if state.sent_bytes >= 12 * MiB and not killed.is_set():
            killed.set()
            os.kill(victim, signal.SIGKILL)

    ledger = UploadLedger(tmp_path / "l.json")
    upload_names: list[str] = []

    def remember_and_kill(state: UploadProgress) -> None:
        upload_names.append(state.upload_name)
        kill_midway(state)

    with VidmeshClient(mesh.gateway, alice_key, ledger=ledger) as client:
        video_id = client.upload(video, title="crash-test", chunk_size=1 * MiB, progress=remember_and_kill)
        assert killed.is_set()
        assert mesh.pids()["upload"] != victim, "the supervisor restarted the upload service"
        # Nothing lost: byte-identical source. Nothing duplicated: exactly one video for this upload.
        assert sha256(source_blob(mesh, video_id)) == sha256(video)
        mine = [v for v in client.iter_videos(owner="alice") if v.title == "crash-test"]
        assert [v.id for v in mine] == [video_id]
        client.delete_video(video_id)
    upload_id = upload_names[0].split("/")[1]
    assert not (mesh.home / "data" / "blobs" / "uploads" / upload_id).exists(), "the upload's parts are gone"


def test_sha256_given_at_init_is_verified(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4")
    with VidmeshClient(mesh.gateway, alice_key, ledger=UploadLedger(tmp_path / "l.json")) as client:
        video_id = client.upload(video, title="verified", sha256=True)
    assert sha256(source_blob(mesh, video_id)) == sha256(video)


def test_upload_memory_stays_bounded(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    """Peak RSS of the Upload service grows by far less than the file it received."""
    video = padded_video(tmp_path / "mem.ts", 300 * MiB)
    pid = mesh.pids()["upload"]
    with VidmeshClient(mesh.gateway, alice_key, ledger=UploadLedger(tmp_path / "l.json")) as client:
        client.delete_video(client.upload(video, title="memory", chunk_size=4 * MiB))
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kib = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    assert peak_kib * 1024 < 200 * MiB, f"upload service peaked at {peak_kib // 1024} MiB"


def test_cli_ctrl_c_then_same_command_resumes(mesh: Mesh, alice_key: str, tmp_path: Path) -> None:
    """The README's journey: interrupt `vidmesh upload` with Ctrl-C, run it again, it resumes."""
    import subprocess
    import sys

    video = padded_video(tmp_path / "journey.ts", 64 * MiB)
    argv = [sys.executable, "-m", "vidmesh_client", "upload", str(video), "--title", "journey", "--chunk-size-mib", "1"]
    env = {**mesh.env, "VIDMESH_API_KEY": alice_key, "VIDMESH_CLIENT_STATE": str(tmp_path / "ledger.json")}
    # The first run's line stalls halfway (a loopback upload would otherwise finish before any
    # Ctrl-C could land), so the interrupt always comes mid-upload.
    proxy = CuttableProxy(mesh.ports["http"], upload_limit=32 * MiB)
    # Ctrl-C as a terminal delivers it, even when this suite runs where SIGINT is ignored (a
    # background job of a shell without job control passes SIG_IGN on, and Python then never
    # raises KeyboardInterrupt).
    first = subprocess.Popen(
        [*argv, "--url", f"127.0.0.1:{proxy.port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    ledger = UploadLedger(tmp_path / "ledger.json")
    deadline = time.monotonic() + 60
    while not (
        proxy.stalled and (name := ledger.get(ledger.key(video, str(bearer(alice_key))))) and received_count(mesh, alice_key, name) >= 1
    ):
        assert time.monotonic() < deadline and first.poll() is None, "the first run never got halfway"
        time.sleep(0.01)
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=30)
    proxy.cut()
    assert first.returncode == 130, err
    assert "run the same command again to resume" in err
    assert out.strip() == ""  # no video id: it did not finish

    wait_until_settled(mesh, alice_key, name)
    second = subprocess.run([*argv, "--url", mesh.gateway], env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "resuming" in second.stderr
    video_id = second.stdout.strip().splitlines()[-1]
    assert sha256(source_blob(mesh, video_id)) == sha256(video)
    discard(mesh, alice_key, video_id)
