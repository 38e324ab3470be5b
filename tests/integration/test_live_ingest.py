"""RTMP in, LL-HLS out, through the gateway: a publish with the stream's key goes live and its
playlists and parts play; a wrong key is refused before anything starts; ending the stream
disconnects the encoder and closes the playlists."""

from __future__ import annotations

import re
import time

import grpc
import pytest
from vidmesh.live.v1 import live_service_pb2 as pb2
from vidmesh.live.v1 import live_service_pb2_grpc as pb2_grpc
from vidmesh.live.v1 import resources_pb2

from tests.support import http
from tests.support.live import encoding, wait_for_state
from tests.support.processes import Mesh

pytestmark = pytest.mark.slow
LiveStream = resources_pb2.LiveStream
LIVE, ENDED = resources_pb2.LIVE_STREAM_STATE_LIVE, resources_pb2.LIVE_STREAM_STATE_ENDED


@pytest.fixture(scope="module")
def live(gateway: grpc.Channel) -> pb2_grpc.LiveServiceStub:
    return pb2_grpc.LiveServiceStub(gateway)


def auth(key: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {key}"),)


def new_stream(live: pb2_grpc.LiveServiceStub, key: str, title: str = "live test") -> LiveStream:
    return live.CreateStream(pb2.CreateStreamRequest(stream=LiveStream(title=title)), metadata=auth(key)).stream  # type: ignore[no-any-return]


def wait_for(url: str, timeout: float = 20) -> http.Reply:
    deadline = time.monotonic() + timeout
    while True:
        reply = http.get(url)
        if reply.status == 200 or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


def test_a_publish_with_the_key_goes_live_and_plays_as_ll_hls(mesh: Mesh, live: pb2_grpc.LiveServiceStub, alice_key: str) -> None:
    stream = new_stream(live, alice_key)
    with encoding(f"{stream.ingest_url}/{stream.stream_key}") as encoder:
        on_air = wait_for_state(live, stream.name, LIVE)
        assert on_air.HasField("start_time")
        base = f"http://{mesh.gateway}/live/{stream.id}"
        master = wait_for(f"{base}/master.m3u8")
        assert master.status == 200, master.text
        rendition = next(line for line in master.text.splitlines() if line and not line.startswith("#"))
        media = wait_for(f"{base}/{rendition}")
        assert media.status == 200 and "#EXT-X-PART:" in media.text, media.text
        assert "CAN-BLOCK-RELOAD=YES" in media.text and "#EXT-X-PRELOAD-HINT:TYPE=PART" in media.text
        hint = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\d+)\.(\d+)\.m4s"', media.text)
        assert hint
        msn, part = int(hint.group(1)), int(hint.group(2))
        folder = rendition.rsplit("/", 1)[0]
        started = time.monotonic()
        blocked = http.get(f"{base}/{folder}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}")
        waited = time.monotonic() - started
        assert blocked.status == 200 and f'URI="{msn}.{part}.m4s"' in blocked.text.split("#EXT-X-PRELOAD-HINT")[0], blocked.text
        assert waited < 2.0, f"a blocking reload for the next part waited {waited:.2f} s"
        piece = http.get(f"{base}/{folder}/{msn}.{part}.m4s")
        assert piece.status == 200 and piece.headers.get("content-type") == "video/mp4" and len(piece.body) > 1000
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', blocked.text)
        assert init and http.get(f"{base}/{folder}/{init.group(1)}").body[4:8] == b"ftyp"
        figures = live.GetStream(pb2.GetStreamRequest(name=stream.name)).stream
        assert figures.health.frame_rate > 20 and figures.health.video_bit_rate > 500_000, figures.health
        assert figures.ingest.video_codec == "h264" and figures.ingest.width == 640
        ended = live.EndStream(pb2.EndStreamRequest(name=stream.name), metadata=auth(alice_key)).stream
        assert ended.state == ENDED
        assert encoder.wait(10) != 0, "the encoder is disconnected when its stream ends"
        closed = wait_for_endlist(f"{base}/{folder}/index.m3u8")
        assert closed.rstrip().endswith("#EXT-X-ENDLIST")


def wait_for_endlist(url: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = http.get(url).text
        if "#EXT-X-ENDLIST" in text or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def test_a_wrong_or_rotated_key_is_refused_within_a_second_and_nothing_starts(
    mesh: Mesh, live: pb2_grpc.LiveServiceStub, alice_key: str
) -> None:
    stream = new_stream(live, alice_key)
    rotated = live.RotateStreamKey(pb2.RotateStreamKeyRequest(name=stream.name), metadata=auth(alice_key)).stream
    for key in ("vsk_not-a-key", stream.stream_key):
        started = time.monotonic()
        with encoding(f"{rotated.ingest_url}/{key}") as encoder:
            assert encoder.wait(10) != 0
        assert time.monotonic() - started < 3.0  # ffmpeg's own start-up included; the refusal itself is ~0.15 s
    again = live.GetStream(pb2.GetStreamRequest(name=stream.name)).stream
    assert again.state == resources_pb2.LIVE_STREAM_STATE_IDLE
    assert http.get(f"http://{mesh.gateway}/live/{stream.id}/master.m3u8").status == 404
