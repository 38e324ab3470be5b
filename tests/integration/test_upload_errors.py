"""Every bad input to the Upload service gets a clear status with details, and loses nothing."""

from __future__ import annotations

import os
from pathlib import Path

import google_crc32c
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from vidmesh.upload.v1 import upload_service_pb2 as pb2
from vidmesh.upload.v1 import upload_service_pb2_grpc as pb2_grpc

from tests.conftest import bearer
from tests.support.media import make_audio_only, make_video
from tests.support.processes import Mesh

KiB = 1024
CHUNK = 64 * KiB


def details(error: grpc.RpcError) -> dict[str, object]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    found: dict[str, object] = {}
    for detail in status.details if status else []:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.ResourceInfo):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found[kind.__name__] = message
    return found


@pytest.fixture(scope="module")
def stub(gateway: grpc.Channel) -> pb2_grpc.UploadServiceStub:
    return pb2_grpc.UploadServiceStub(gateway)


def init(stub: pb2_grpc.UploadServiceStub, key: str, size: int, **fields: object) -> pb2.InitUploadResponse:
    request = pb2.InitUploadRequest(filename="f.mp4", size_bytes=size, title="t", chunk_size_bytes=CHUNK)
    for name, value in fields.items():
        setattr(request, name, value)
    return stub.InitUpload(request, metadata=bearer(key))


def chunk(name: str, index: int, data: bytes, crc: int | None = None) -> pb2.UploadChunksRequest:
    return pb2.UploadChunksRequest(name=name, index=index, data=data, crc32c=google_crc32c.value(data) if crc is None else crc)


def send(stub: pb2_grpc.UploadServiceStub, key: str, messages: list[pb2.UploadChunksRequest]) -> pb2.UploadChunksResponse:
    return stub.UploadChunks(iter(messages), metadata=bearer(key))


def upload_file(stub: pb2_grpc.UploadServiceStub, key: str, path: Path, **fields: object) -> str:
    data = path.read_bytes()
    started = init(stub, key, len(data), **fields)
    pieces = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    send(stub, key, [chunk(started.name, i, p) for i, p in enumerate(pieces)])
    return started.name


def expect(code: grpc.StatusCode, call: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.code() == code, caught.value.details()
    return caught.value


def test_no_key_is_unauthenticated(stub: pb2_grpc.UploadServiceStub) -> None:
    error = expect(grpc.StatusCode.UNAUTHENTICATED, lambda: stub.InitUpload(pb2.InitUploadRequest(filename="a", size_bytes=1, title="t")))
    assert details(error)["ErrorInfo"].reason == "API_KEY_REQUIRED"


def test_unknown_and_malformed_keys_are_unauthenticated(stub: pb2_grpc.UploadServiceStub) -> None:
    request = pb2.InitUploadRequest(filename="a", size_bytes=1, title="t")
    error = expect(grpc.StatusCode.UNAUTHENTICATED, lambda: stub.InitUpload(request, metadata=bearer("vmk_nope")))
    assert details(error)["ErrorInfo"].reason == "INVALID_API_KEY"
    error = expect(grpc.StatusCode.UNAUTHENTICATED, lambda: stub.InitUpload(request, metadata=(("authorization", "Basic x"),)))
    assert details(error)["ErrorInfo"].reason == "MALFORMED_CREDENTIALS"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"size_bytes": 0}, "size_bytes"),
        ({"size_bytes": 513 * 1024 * 1024}, "size_bytes"),  # over the configured maximum
        ({"chunk_size_bytes": 65 * 1024 * 1024}, "chunk_size_bytes"),
        ({"chunk_size_bytes": 100}, "chunk_size_bytes"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"sha256": "abc"}, "sha256"),
        ({"filename": "../etc/passwd"}, "filename"),
        ({"tags": ["ok", ""]}, "tags[1]"),
    ],
)
def test_init_rejects_bad_fields_naming_them(
    stub: pb2_grpc.UploadServiceStub, alice_key: str, fields: dict[str, object], field: str
) -> None:
    base: dict[str, object] = {"filename": "f.mp4", "size_bytes": 1000, "title": "t"}
    request = pb2.InitUploadRequest(**{**base, **fields})  # type: ignore[arg-type]
    error = expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: stub.InitUpload(request, metadata=bearer(alice_key)))
    violations = [v.field for v in details(error)["BadRequest"].field_violations]  # type: ignore[attr-defined]
    assert field in violations


def test_unknown_upload_is_not_found_everywhere(stub: pb2_grpc.UploadServiceStub, alice_key: str) -> None:
    name = "uploads/doesnotexist"
    error = expect(
        grpc.StatusCode.NOT_FOUND, lambda: stub.GetUploadStatus(pb2.GetUploadStatusRequest(name=name), metadata=bearer(alice_key))
    )
    assert details(error)["ResourceInfo"].resource_name == name
    expect(grpc.StatusCode.NOT_FOUND, lambda: send(stub, alice_key, [chunk(name, 0, b"x")]))
    expect(grpc.StatusCode.NOT_FOUND, lambda: stub.CompleteUpload(pb2.CompleteUploadRequest(name=name), metadata=bearer(alice_key)))


def test_malformed_name_is_invalid(stub: pb2_grpc.UploadServiceStub, alice_key: str) -> None:
    error = expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: stub.GetUploadStatus(pb2.GetUploadStatusRequest(name="videos/x"), metadata=bearer(alice_key)),
    )
    assert details(error)["BadRequest"].field_violations[0].field == "name"


def test_bad_chunks_are_refused_and_not_recorded(stub: pb2_grpc.UploadServiceStub, alice_key: str) -> None:
    started = init(stub, alice_key, 3 * CHUNK - 10)
    good = os.urandom(CHUNK)
    expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: send(stub, alice_key, [chunk(started.name, 3, good)]))  # index out of range
    expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: send(stub, alice_key, [chunk(started.name, -1, good)]))
    expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: send(stub, alice_key, [chunk(started.name, 0, good + b"x")]))  # too large
    expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: send(stub, alice_key, [chunk(started.name, 2, good)]))  # last chunk is shorter
    error = expect(
        grpc.StatusCode.DATA_LOSS, lambda: send(stub, alice_key, [chunk(started.name, 0, good), chunk(started.name, 1, good, crc=1)])
    )
    assert details(error)["ErrorInfo"].metadata["index"] == "1"
    status = stub.GetUploadStatus(pb2.GetUploadStatusRequest(name=started.name), metadata=bearer(alice_key))
    # chunk 0 arrived intact before the damaged one and stays; the damaged chunk is not recorded
    assert list(status.received_indexes) == [0]
    # re-sending a recorded chunk is harmless
    again = send(stub, alice_key, [chunk(started.name, 0, good)])
    assert again.received_count == 1 and list(again.recorded_indexes) == [0]


def test_complete_with_missing_chunks_names_them(stub: pb2_grpc.UploadServiceStub, alice_key: str) -> None:
    started = init(stub, alice_key, 5 * CHUNK)
    send(stub, alice_key, [chunk(started.name, i, os.urandom(CHUNK)) for i in (0, 2, 4)])
    error = expect(
        grpc.StatusCode.FAILED_PRECONDITION,
        lambda: stub.CompleteUpload(pb2.CompleteUploadRequest(name=started.name), metadata=bearer(alice_key)),
    )
    info = details(error)["ErrorInfo"]
    assert info.reason == "CHUNKS_MISSING" and info.metadata["missing_indexes"] == "1,3"


def test_another_owner_cannot_touch_an_upload_or_learn_that_it_exists(
    stub: pb2_grpc.UploadServiceStub, alice_key: str, bob_key: str
) -> None:
    started = init(stub, alice_key, CHUNK)
    data = os.urandom(CHUNK)
    for name in (started.name, "uploads/nosuchupload0000"):  # alice's upload looks to bob like one that does not exist
        for call in (
            lambda name=name: stub.GetUploadStatus(pb2.GetUploadStatusRequest(name=name), metadata=bearer(bob_key)),
            lambda name=name: send(stub, bob_key, [chunk(name, 0, data)]),
            lambda name=name: stub.CompleteUpload(pb2.CompleteUploadRequest(name=name), metadata=bearer(bob_key)),
        ):
            error = expect(grpc.StatusCode.NOT_FOUND, call)
            assert details(error)["ErrorInfo"].reason == "UPLOAD_NOT_FOUND"
            assert details(error)["ResourceInfo"].owner == ""
    error = expect(grpc.StatusCode.NOT_FOUND, lambda: stub.AbortUpload(pb2.AbortUploadRequest(name=started.name), metadata=bearer(bob_key)))
    assert details(error)["ErrorInfo"].reason == "UPLOAD_NOT_FOUND"
    status = stub.GetUploadStatus(pb2.GetUploadStatusRequest(name=started.name), metadata=bearer(alice_key))
    assert list(status.received_indexes) == []  # bob's chunk was never stored


def test_whole_file_sha256_mismatch_is_data_loss_and_keeps_the_upload(
    stub: pb2_grpc.UploadServiceStub, alice_key: str, tmp_path: Path
) -> None:
    name = upload_file(stub, alice_key, make_video(tmp_path / "v.mp4"), sha256="0" * 64)
    error = expect(grpc.StatusCode.DATA_LOSS, lambda: stub.CompleteUpload(pb2.CompleteUploadRequest(name=name), metadata=bearer(alice_key)))
    assert details(error)["ErrorInfo"].reason == "SHA256_MISMATCH"
    stub.GetUploadStatus(pb2.GetUploadStatusRequest(name=name), metadata=bearer(alice_key))  # still there to abort or retry


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: make_audio_only(p / "song.mp4"), "NO_VIDEO_STREAM"),
        (lambda p: (p / "notes.txt").write_bytes(b"just some text, not a video\n" * 5000) and p / "notes.txt", "UNREADABLE_MEDIA"),
    ],
)
def test_a_file_that_is_not_a_video_is_rejected_and_leaves_nothing(
    mesh: Mesh, stub: pb2_grpc.UploadServiceStub, alice_key: str, tmp_path: Path, make: object, reason: str
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    name = upload_file(stub, alice_key, path)
    upload_id = name.split("/")[1]
    error = expect(
        grpc.StatusCode.INVALID_ARGUMENT, lambda: stub.CompleteUpload(pb2.CompleteUploadRequest(name=name), metadata=bearer(alice_key))
    )
    assert details(error)["ErrorInfo"].reason == reason
    expect(grpc.StatusCode.NOT_FOUND, lambda: stub.GetUploadStatus(pb2.GetUploadStatusRequest(name=name), metadata=bearer(alice_key)))
    assert not (mesh.home / "data" / "blobs" / "uploads" / upload_id).exists()


def test_abort_removes_everything_and_is_idempotent(mesh: Mesh, stub: pb2_grpc.UploadServiceStub, alice_key: str) -> None:
    started = init(stub, alice_key, 2 * CHUNK)
    send(stub, alice_key, [chunk(started.name, 0, os.urandom(CHUNK))])
    parts = mesh.home / "data" / "blobs" / "uploads" / started.name.split("/")[1]
    assert parts.exists()
    stub.AbortUpload(pb2.AbortUploadRequest(name=started.name), metadata=bearer(alice_key))
    stub.AbortUpload(pb2.AbortUploadRequest(name=started.name), metadata=bearer(alice_key))
    assert not parts.exists()
    expect(
        grpc.StatusCode.NOT_FOUND, lambda: stub.GetUploadStatus(pb2.GetUploadStatusRequest(name=started.name), metadata=bearer(alice_key))
    )


def test_retried_complete_returns_the_same_video(stub: pb2_grpc.UploadServiceStub, alice_key: str, bob_key: str, tmp_path: Path) -> None:
    name = upload_file(stub, alice_key, make_video(tmp_path / "v.mp4"))
    first = stub.CompleteUpload(pb2.CompleteUploadRequest(name=name), metadata=bearer(alice_key))
    second = stub.CompleteUpload(pb2.CompleteUploadRequest(name=name), metadata=bearer(alice_key))
    assert first.video_id == second.video_id
    expect(grpc.StatusCode.NOT_FOUND, lambda: stub.CompleteUpload(pb2.CompleteUploadRequest(name=name), metadata=bearer(bob_key)))
