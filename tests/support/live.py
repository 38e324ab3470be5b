"""Debian's ffmpeg CLI publishing RTMP, as OBS would (H.264 + AAC, 2 s keyframes)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator

from vidmesh.live.v1 import live_service_pb2 as pb2
from vidmesh.live.v1 import live_service_pb2_grpc as pb2_grpc
from vidmesh.live.v1 import resources_pb2

from vidmesh_services.platform.pids import die_with_parent


def publisher(
    url: str, *, seconds: float = 60, size: str = "640x360", rate: int = 30, video_codec: str = "libx264", audio: bool = True
) -> subprocess.Popen[bytes]:
    """ffmpeg pushing a test pattern (and a tone) in real time to url, 2-second keyframes."""
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    args += ["-t", str(seconds), "-c:v", video_codec]
    if video_codec == "libx264":
        args += ["-preset", "veryfast", "-tune", "zerolatency", "-g", str(2 * rate), "-keyint_min", str(2 * rate), "-b:v", "1500k"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "128k"]
    args += ["-f", "flv", url]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=die_with_parent)


@contextlib.contextmanager
def encoding(url: str, **options: object) -> Iterator[subprocess.Popen[bytes]]:
    """A publisher for the duration of the block; killed (and its pipe closed) after it."""
    encoder = publisher(url, **options)  # type: ignore[arg-type]
    try:
        yield encoder
    finally:
        encoder.kill()
        encoder.communicate()


def wait_for_state(
    live: pb2_grpc.LiveServiceStub, name: str, state: int, timeout: float = 20, metadata: tuple[tuple[str, str], ...] = ()
) -> resources_pb2.LiveStream:
    deadline = time.monotonic() + timeout
    while True:
        stream = live.GetStream(pb2.GetStreamRequest(name=name), metadata=metadata).stream
        if stream.state == state:
            return stream
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} stayed {resources_pb2.LiveStreamState.Name(stream.state)}: {stream}")
        time.sleep(0.1)
