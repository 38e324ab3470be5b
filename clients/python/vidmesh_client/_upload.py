"""Resumable uploads from the client side.

The file is cut into the chunk size the server returns; after any interruption the client
asks which chunks arrived and sends only the missing ones. Transient failures (a dropped
connection, a restarting server) are retried here with backoff; a second run of the same
upload picks up from the ledger.
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import google_crc32c
import grpc
from vidmesh.upload.v1 import upload_service_pb2 as pb2
from vidmesh.upload.v1 import upload_service_pb2_grpc as pb2_grpc

from ._errors import VidmeshError
from ._ledger import UploadLedger

RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
}
MAX_ATTEMPTS = 8
# Retryable codes that still end an upload for good: the assembled file is not the one hashed.
FINAL_REASONS = {"SHA256_MISMATCH"}


@dataclass
class UploadProgress:
    """What a progress display needs. sent_bytes counts bytes the server already had, too.

    phase is "sending" while chunks go out and "finishing" once every byte is on its way: the
    server still acknowledges the last chunks, assembles the file and probes it, which can take
    seconds with sent_bytes already at total_bytes.
    """

    upload_name: str
    total_bytes: int
    sent_bytes: int
    resumed_bytes: int
    phase: Literal["sending", "finishing"] = "sending"


ProgressFn = Callable[[UploadProgress], None]


def _backoff_seconds(retry: int) -> float:
    """How long to wait before retry number `retry` (from 0): doubling from half a second, at most 10."""
    return min(0.5 * 2.0**retry, 10.0)


def _bytes_in(indexes: set[int], chunk_size: int, size: int) -> int:
    """The bytes of a file of `size` held by the chunks `indexes` (the last chunk may be short)."""
    return sum(min(chunk_size, size - i * chunk_size) for i in indexes)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


UPLOAD_CHUNKS = "/vidmesh.upload.v1.UploadService/UploadChunks"


class Uploader:
    def __init__(
        self,
        stub: pb2_grpc.UploadServiceStub,
        metadata: tuple[tuple[str, str], ...],
        ledger: UploadLedger,
        max_attempts: int = MAX_ATTEMPTS,
        channel: grpc.Channel | None = None,
    ):
        """With the stub's channel, chunks go out as bytes encoded here (see _encode_chunk) rather
        than as protobuf messages, which costs three copies of every chunk fewer."""
        self._max_attempts = max_attempts
        self._stub = stub
        self._metadata = metadata
        self._ledger = ledger
        self._raw_chunks = (
            channel.stream_unary(UPLOAD_CHUNKS, request_serializer=None, response_deserializer=pb2.UploadChunksResponse.FromString)
            if channel is not None
            else None
        )

    def _unary(self, method: Callable[..., object], request: object, timeout: float = 60.0) -> object:
        try:
            return method(request, metadata=self._metadata, timeout=timeout)
        except grpc.RpcError as error:
            raise VidmeshError.from_rpc_error(error) from None

    def upload(
        self,
        path: Path,
        *,
        title: str,
        description: str = "",
        tags: list[str] | None = None,
        visibility: int = 0,
        chunk_size: int = 0,
        sha256: bool = False,
        progress: ProgressFn | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> str:
        """Uploads (or resumes uploading) path and returns the new video's id."""
        path = Path(path)
        size = path.stat().st_size
        key = self._ledger.key(path, str(self._metadata))
        name, chunk_size, chunk_count, received = self._resume(key, sleep)
        if name is None:
            init: pb2.InitUploadResponse = self._unary(  # type: ignore[assignment]
                self._stub.InitUpload,
                pb2.InitUploadRequest(
                    filename=path.name,
                    size_bytes=size,
                    content_type=_guess_type(path),
                    sha256=file_sha256(path) if sha256 else "",
                    chunk_size_bytes=chunk_size,
                    title=title,
                    description=description,
                    tags=tags or [],
                    visibility=visibility,  # type: ignore[arg-type]
                ),
            )
            name, chunk_size, chunk_count, received = init.name, init.chunk_size_bytes, init.chunk_count, set()
            try:
                self._ledger.put(key, name)
            except BaseException:  # unrecorded, it could never be resumed: leave no orphan on the server
                self._abort_quietly(name)
                raise
        try:
            video_id = self._upload_chunks(path, name, size, chunk_size, chunk_count, received, progress, sleep)
        except VidmeshError as error:
            if error.code not in RETRYABLE or error.reason in FINAL_REASONS:  # refused, not interrupted: a re-run starts afresh
                self._ledger.drop(key)
                self._abort_quietly(name)
            raise
        self._ledger.drop(key)
        return video_id

    def _upload_chunks(
        self,
        path: Path,
        name: str,
        size: int,
        chunk_size: int,
        chunk_count: int,
        received: set[int],
        progress: ProgressFn | None,
        sleep: Callable[[float], None],
    ) -> str:
        state = UploadProgress(name, size, 0, 0)
        state.resumed_bytes = state.sent_bytes = _bytes_in(received, chunk_size, size)
        if progress:
            progress(state)
        attempt = 0
        while True:
            missing = [i for i in range(chunk_count) if i not in received]
            if not missing:
                break
            try:
                self._send(path, name, chunk_size, size, missing, state, progress)
                break
            except VidmeshError as error:
                attempt += 1
                if error.code not in RETRYABLE or attempt >= self._max_attempts:
                    raise
                sleep(_backoff_seconds(attempt - 1))
                received = set(self._status(name, sleep).received_indexes)
                state.sent_bytes = _bytes_in(received, chunk_size, size)
        if state.phase != "finishing":
            state.phase = "finishing"
            if progress:
                progress(state)
        return self._complete(name, sleep)

    def _resume(self, key: str, sleep: Callable[[float], None]) -> tuple[str | None, int, int, set[int]]:
        name = self._ledger.get(key)
        if name is None:
            return None, 0, 0, set()
        try:
            status = self._status(name, sleep)
        except VidmeshError as error:
            if error.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
                self._ledger.drop(key)  # expired or aborted: start afresh
                return None, 0, 0, set()
            raise
        return name, status.chunk_size_bytes, status.chunk_count, set(status.received_indexes)

    def _status(self, name: str, sleep: Callable[[float], None]) -> pb2.GetUploadStatusResponse:
        """The upload's status, retried like chunks while the server is briefly unreachable (a
        restarting service or backend)."""
        for attempt in range(self._max_attempts):
            try:
                status: pb2.GetUploadStatusResponse = self._unary(self._stub.GetUploadStatus, pb2.GetUploadStatusRequest(name=name), 10.0)  # type: ignore[assignment]
                return status
            except VidmeshError as error:
                if error.code not in RETRYABLE or attempt == self._max_attempts - 1:
                    raise
                sleep(_backoff_seconds(attempt))
        raise AssertionError("unreachable")

    def _send(
        self, path: Path, name: str, chunk_size: int, size: int, indexes: list[int], state: UploadProgress, progress: ProgressFn | None
    ) -> None:
        state.phase = "sending"
        with open(path, "rb") as handle:  # closed even when the call is cut short
            raw = self._raw_chunks is not None
            name_field = _field(1, _LEN, _varint(len(name.encode())) + name.encode())

            def messages() -> Iterator[pb2.UploadChunksRequest | bytes]:
                for index in indexes:
                    data = os.pread(handle.fileno(), min(chunk_size, size - index * chunk_size), index * chunk_size)
                    crc = google_crc32c.value(data)
                    if raw:
                        yield _encode_chunk(name_field, index, data, crc)
                    else:
                        yield pb2.UploadChunksRequest(name=name, index=index, data=data, crc32c=crc)
                    # grpc asks for the next message once this one is on its way.
                    state.sent_bytes += len(data)
                    if progress:
                        progress(state)
                state.phase = "finishing"  # all handed over; the server acknowledges the stream next
                if progress:
                    progress(state)

            call = self._raw_chunks or self._stub.UploadChunks
            future = call.future(messages(), metadata=self._metadata)
            try:
                while True:
                    try:
                        future.result(timeout=0.5)  # short waits keep Ctrl-C responsive
                        return
                    except grpc.FutureTimeoutError:
                        continue
            except grpc.RpcError as error:
                raise VidmeshError.from_rpc_error(error) from None
            except BaseException:
                future.cancel()
                raise

    def _complete(self, name: str, sleep: Callable[[float], None]) -> str:
        for attempt in range(self._max_attempts):
            try:
                done: pb2.CompleteUploadResponse = self._unary(self._stub.CompleteUpload, pb2.CompleteUploadRequest(name=name), 600.0)  # type: ignore[assignment]
                return done.video_id
            except VidmeshError as error:
                transient = (
                    error.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) or error.reason == "COMPLETE_IN_PROGRESS"
                )
                if not transient or attempt == self._max_attempts - 1:
                    raise
                sleep(_backoff_seconds(attempt))
        raise AssertionError("unreachable")

    def abort(self, name: str) -> None:
        self._unary(self._stub.AbortUpload, pb2.AbortUploadRequest(name=name))

    def _abort_quietly(self, name: str) -> None:
        """Frees a refused upload's parts now rather than at its expiry; the refusal is the error
        to report, so a failure here is not."""
        with contextlib.suppress(VidmeshError):
            self._unary(self._stub.AbortUpload, pb2.AbortUploadRequest(name=name), 10.0)


_VARINT, _LEN = 0, 2


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # a negative int32 is sent as its 64-bit two's complement
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    return _varint(number << 3 | wire_type) + payload


def _encode_chunk(name_field: bytes, index: int, data: bytes, crc: int) -> bytes:
    """An UploadChunksRequest in protobuf wire format, built with one copy of data (protobuf's
    own message + SerializeToString take three). Fields: name (1), index (2), crc32c (4), then
    data (3) last; any protobuf parser reads fields in any order."""
    header = (
        name_field
        + (_field(2, _VARINT, _varint(index)) if index else b"")
        + (_field(4, _VARINT, _varint(crc)) if crc else b"")
        + _field(3, _LEN, _varint(len(data)))
    )
    return b"".join((header, data))


def _guess_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"
