"""RTMP in, LL-HLS out, through the gateway: a publish with the stream's key goes live and its
playlists and parts play; a wrong key is refused before anything starts; ending the stream
disconnects the encoder and closes the playlists."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import grpc
import pytest
from vidmesh.catalog.v1 import resources_pb2 as catalog_pb2
from vidmesh.live.v1 import live_service_pb2 as pb2
from vidmesh.live.v1 import live_service_pb2_grpc as pb2_grpc
from vidmesh.live.v1 import resources_pb2

from tests.support import http
from tests.support.live import encoding, wait_for_state
from tests.support.processes import Mesh, child_pids
from vidmesh_client import VidmeshClient

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
    with encoding(f"{stream.ingest_url}/{stream.stream_key}", size="1280x720") as encoder:
        on_air = wait_for_state(live, stream.name, LIVE)
        assert on_air.HasField("start_time")
        base = f"http://{mesh.gateway}/live/{stream.id}"
        master = wait_for(f"{base}/master.m3u8")
        assert master.status == 200, master.text
        variants = [line for line in master.text.splitlines() if line and not line.startswith("#")]
        assert variants == ["720p/index.m3u8", "360p/index.m3u8"], master.text  # the source passed through, then 360p encoded
        assert "RESOLUTION=1280x720" in master.text and "RESOLUTION=640x360" in master.text and 'CODECS="avc1.' in master.text
        rendition = variants[0]
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
        # The 360p rung is encoded, so its first part may come a moment after the source's.
        reported = wait_for_text(f"{base}/{folder}/index.m3u8", '#EXT-X-RENDITION-REPORT:URI="../360p/index.m3u8"')
        assert '#EXT-X-RENDITION-REPORT:URI="../360p/index.m3u8"' in reported, reported
        low = wait_for(f"{base}/360p/index.m3u8")
        assert low.status == 200 and "#EXT-X-PART:" in low.text
        deadline = time.monotonic() + 5  # the ingest reports its figures every second
        while not (figures := live.GetStream(pb2.GetStreamRequest(name=stream.name)).stream).renditions:
            assert time.monotonic() < deadline, figures
            time.sleep(0.2)
        assert figures.health.frame_rate > 20 and figures.health.video_bit_rate > 500_000, figures.health
        assert figures.ingest.video_codec == "h264" and figures.ingest.width == 1280
        assert [r.name for r in figures.renditions] == ["720p", "360p"]
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


def playlist_of(mesh: Mesh, stream: LiveStream) -> tuple[str, str]:
    """(URL, text) of the stream's first media playlist, once it has parts."""
    base = f"http://{mesh.gateway}/live/{stream.id}"
    master = wait_for(f"{base}/master.m3u8")
    assert master.status == 200, master.text
    rendition = next(line for line in master.text.splitlines() if line and not line.startswith("#"))
    url = f"{base}/{rendition}"
    return url, wait_for(url).text


def media_sequence(text: str) -> int:
    found = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)
    assert found, text
    return int(found.group(1))


def last_msn(text: str) -> int:
    """The segment of the newest part listed (not the preload hint's, which does not exist yet)."""
    return max(int(m) for m in re.findall(r'#EXT-X-PART:.*URI="(\d+)\.\d+\.m4s"', text))


def wait_for_text(url: str, needle: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = http.get(url).text
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def test_an_encoder_that_reconnects_within_the_window_continues_the_same_stream(
    mesh: Mesh, live: pb2_grpc.LiveServiceStub, alice_key: str
) -> None:
    stream = new_stream(live, alice_key)
    url = f"{stream.ingest_url}/{stream.stream_key}"
    with encoding(url) as first:
        wait_for_state(live, stream.name, LIVE)
        playlist, before = playlist_of(mesh, stream)
        time.sleep(2)  # a few segments in
        seen = last_msn(http.get(playlist).text)
        first.kill()
    dropped = wait_for_state(live, stream.name, resources_pb2.LIVE_STREAM_STATE_RECONNECTING, timeout=10)
    assert dropped.last_ingest_end.error == resources_pb2.INGEST_ERROR_DISCONNECTED, dropped.last_ingest_end
    assert dropped.reconnect_deadline.seconds > time.time()
    with encoding(url):
        wait_for_state(live, stream.name, LIVE)
        after = wait_for_text(playlist, "#EXT-X-DISCONTINUITY\n")
        assert "#EXT-X-DISCONTINUITY\n" in after and 'URI="init-1.mp4"' in after, after
        assert media_sequence(after) >= media_sequence(before) and last_msn(after) > seen, "numbering goes on: viewers keep their place"
        assert "#EXT-X-ENDLIST" not in after
        live.EndStream(pb2.EndStreamRequest(name=stream.name), metadata=auth(alice_key))


def test_an_encoder_that_never_comes_back_ends_the_stream_after_the_window(
    mesh: Mesh, live: pb2_grpc.LiveServiceStub, alice_key: str
) -> None:
    stream = new_stream(live, alice_key)
    with encoding(f"{stream.ingest_url}/{stream.stream_key}") as encoder:
        wait_for_state(live, stream.name, LIVE)
        playlist, _ = playlist_of(mesh, stream)
        encoder.kill()
    started = time.monotonic()
    ended = wait_for_state(live, stream.name, ENDED, timeout=20)
    assert ended.end_reason == resources_pb2.END_REASON_ENCODER_GONE
    assert time.monotonic() - started > 3, "not before the window (5 s in the tests) has passed"
    assert "#EXT-X-ENDLIST" in wait_for_endlist(playlist)
    with encoding(f"{stream.ingest_url}/{stream.stream_key}") as late:
        assert late.wait(10) != 0, "an ended stream's key is refused"


def test_two_streams_at_once_stay_independent(mesh: Mesh, live: pb2_grpc.LiveServiceStub, alice_key: str, bob_key: str) -> None:
    one, two = new_stream(live, alice_key, "one"), new_stream(live, bob_key, "two")
    with (
        encoding(f"{one.ingest_url}/{one.stream_key}", size="640x360") as first,
        encoding(f"{two.ingest_url}/{two.stream_key}", size="320x240"),
    ):
        wait_for_state(live, one.name, LIVE)
        wait_for_state(live, two.name, LIVE)
        playlist_of(mesh, one)  # both play
        url_two, text_two = playlist_of(mesh, two)
        on_air = {s.id for s in live.ListStreams(pb2.ListStreamsRequest(state=LIVE)).streams}
        assert {one.id, two.id} <= on_air
        assert live.GetStream(pb2.GetStreamRequest(name=two.name)).stream.ingest.width == 320
        first.kill()  # one encoder's end is not the other's
        wait_for_state(live, one.name, resources_pb2.LIVE_STREAM_STATE_RECONNECTING, timeout=10)
        before = last_msn(text_two)
        time.sleep(3)
        assert last_msn(http.get(url_two).text) > before
        assert live.GetStream(pb2.GetStreamRequest(name=two.name)).stream.state == LIVE
    for stream, key in ((one, alice_key), (two, bob_key)):
        live.EndStream(pb2.EndStreamRequest(name=stream.name), metadata=auth(key))


def test_malformed_blocking_requests_get_a_clear_400_at_once(mesh: Mesh, live: pb2_grpc.LiveServiceStub, alice_key: str) -> None:
    stream = new_stream(live, alice_key)
    with encoding(f"{stream.ingest_url}/{stream.stream_key}"):
        wait_for_state(live, stream.name, LIVE)
        playlist, text = playlist_of(mesh, stream)
        edge = last_msn(text)
        for query, field in (
            ("_HLS_msn=abc", ""),
            ("_HLS_msn=-1", "_HLS_msn"),
            (f"_HLS_msn={edge + 1000}", "_HLS_msn"),
            ("_HLS_part=1", "_HLS_part"),
            (f"_HLS_msn={edge}&_HLS_part=-2", "_HLS_part"),
        ):
            started = time.monotonic()
            reply = http.get(f"{playlist}?{query}")
            assert reply.status == 400, (query, reply.status, reply.text)
            assert time.monotonic() - started < 1.0, f"{query} was held"
            if field:
                assert field in reply.text, reply.text
        missing = http.get(playlist.replace("index.m3u8", f"{edge + 50}.0.m4s"))
        assert missing.status == 404, "a part far ahead is not waited for"
        live.EndStream(pb2.EndStreamRequest(name=stream.name), metadata=auth(alice_key))


def test_a_killed_packager_ends_that_session_and_the_stream_resumes_on_reconnect(
    mesh: Mesh, live: pb2_grpc.LiveServiceStub, alice_key: str
) -> None:
    """SIGKILL of a stream's packager: that stream's encoder is let go, the recording keeps what
    was written up to the last fragment, and a reconnect resumes the stream."""
    stream = live.CreateStream(pb2.CreateStreamRequest(stream=LiveStream(title="crashy", record=True)), metadata=auth(alice_key)).stream
    url = f"{stream.ingest_url}/{stream.stream_key}"
    with encoding(url) as encoder:
        wait_for_state(live, stream.name, LIVE)
        playlist, _ = playlist_of(mesh, stream)
        time.sleep(4)
        seen = last_msn(http.get(playlist).text)
        packager = next(pid for pid in child_pids(mesh.pids()["live-ingest-1"]) if stream.id in Path(f"/proc/{pid}/cmdline").read_text())
        os.kill(packager, signal.SIGKILL)
        assert encoder.wait(10) != 0, "the encoder is let go when its packager dies"
    dropped = wait_for_state(live, stream.name, resources_pb2.LIVE_STREAM_STATE_RECONNECTING, timeout=10)
    assert dropped.last_ingest_end.error == resources_pb2.INGEST_ERROR_PACKAGER_FAILED, dropped.last_ingest_end
    with encoding(url):
        wait_for_state(live, stream.name, LIVE)
        after = wait_for_text(playlist, "#EXT-X-DISCONTINUITY\n")
        assert "#EXT-X-DISCONTINUITY" in after and last_msn(after) > seen, after
        time.sleep(2)
        live.EndStream(pb2.EndStreamRequest(name=stream.name), metadata=auth(alice_key))
    deadline = time.monotonic() + 60
    while not (ended := live.GetStream(pb2.GetStreamRequest(name=stream.name)).stream).recording_video:
        assert time.monotonic() < deadline, "the recording is published"
        time.sleep(0.5)
    with VidmeshClient(mesh.gateway, alice_key) as client:
        source = client.get_video(ended.recording_video.removeprefix("videos/")).source
    seconds = source.duration.ToTimedelta().total_seconds()
    assert seconds >= 4, f"the killed session's fragments (about 4 s, less at most a GOP) and the second one: {seconds} s"


def test_the_cli_creates_a_stream_an_encoder_publishes_to_and_ends_it(mesh: Mesh, live: pb2_grpc.LiveServiceStub, alice_key: str) -> None:
    """The README's path: `vidmesh streams create` prints the URL and key, ffmpeg publishes, `get`
    shows it live with its health, `end` ends it."""
    env = {"VIDMESH_API_KEY": alice_key, "VIDMESH_URL": mesh.gateway}
    made = mesh.cli("streams", "create", "--title", "from the CLI", "--json", env=env)
    assert made.returncode == 0, made.stderr
    stream = json.loads(made.stdout)
    assert stream["streamKey"].startswith("vsk_") and stream["ingestUrl"].startswith("rtmp://")
    with encoding(f"{stream['ingestUrl']}/{stream['streamKey']}"):
        wait_for_state(live, stream["name"], LIVE)
        deadline = time.monotonic() + 10
        while "fps" not in (shown := mesh.cli("streams", "get", stream["id"], env=env).stdout) or " 0 fps" in shown:
            assert time.monotonic() < deadline, shown
            time.sleep(0.5)
        assert "state:       live" in shown and "h264/aac" in shown and "stream key" not in shown, shown
        listed = mesh.cli("streams", "list", "--live", env=env).stdout
        assert stream["id"] in listed and "from the CLI" in listed
        ended = mesh.cli("streams", "end", stream["id"], env=env)
        assert ended.returncode == 0 and "state:       ended" in ended.stdout and "end reason:  ended_by_owner" in ended.stdout, (
            ended.stdout
        )
    rotated = mesh.cli("streams", "rotate-key", stream["id"], env=env)
    assert rotated.returncode != 0 and "has ended" in rotated.stderr, rotated.stderr
    nobody = mesh.cli("streams", "end", stream["id"], env={"VIDMESH_URL": mesh.gateway, "VIDMESH_API_KEY": ""})
    assert nobody.returncode != 0 and "API key" in nobody.stderr


def test_a_recorded_stream_becomes_a_video_that_plays(mesh: Mesh, live: pb2_grpc.LiveServiceStub, alice_key: str) -> None:
    made = live.CreateStream(
        pb2.CreateStreamRequest(stream=LiveStream(title="recorded show", record=True)), metadata=auth(alice_key)
    ).stream
    url = f"{made.ingest_url}/{made.stream_key}"
    with encoding(url) as first:
        wait_for_state(live, made.name, LIVE)
        time.sleep(4)
        first.kill()  # a reconnect in the middle: both sessions are in the recording
    wait_for_state(live, made.name, resources_pb2.LIVE_STREAM_STATE_RECONNECTING, timeout=10)
    with encoding(url):
        wait_for_state(live, made.name, LIVE)
        time.sleep(4)
        live.EndStream(pb2.EndStreamRequest(name=made.name), metadata=auth(alice_key))
    deadline = time.monotonic() + 60
    while not (ended := live.GetStream(pb2.GetStreamRequest(name=made.name)).stream).recording_video:
        assert time.monotonic() < deadline, "the recording is published as a video"
        time.sleep(0.5)
    video_id = ended.recording_video.removeprefix("videos/")
    with VidmeshClient(mesh.gateway, alice_key) as client:
        deadline = time.monotonic() + 120
        while (video := client.get_video(video_id)).status != catalog_pb2.VIDEO_STATUS_READY:
            assert video.status != catalog_pb2.VIDEO_STATUS_FAILED, video.failure_reason
            assert time.monotonic() < deadline, video
            time.sleep(1)
    assert (video.title, video.owner) == ("recorded show", "alice")
    seconds = video.source.duration.ToTimedelta().total_seconds()
    assert 5 <= seconds <= 14, f"two sessions of about 4-5 s each, not {seconds} s"
    master = http.get(f"http://{mesh.gateway}{video.master_playlist_path}")
    assert master.status == 200 and "#EXT-X-STREAM-INF" in master.text
