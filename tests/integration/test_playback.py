"""Playback through the Envoy edge: HLS objects, caching, signed URLs for private videos."""

from __future__ import annotations

import os
import time
from pathlib import Path

import grpc
import m3u8
import pytest
from google.protobuf import duration_pb2
from vidmesh.playback.v1 import playback_service_pb2 as pb2
from vidmesh.playback.v1 import playback_service_pb2_grpc as pb2_grpc
from vidmesh.type.v1 import media_pb2

from tests.conftest import SHARED_PLAYLIST_SECONDS, bearer
from tests.integration.test_upload_errors import expect
from tests.support.http import envoy_stat, envoy_stat_sum, get, wait_cache_entries
from tests.support.processes import Mesh
from tests.support.videos import ReadyVideo
from vidmesh_client import VidmeshClient
from vidmesh_client._ledger import UploadLedger
from vidmesh_services.playback.tokens import PlaybackTokens

ORIGIN_REQUESTS = "cluster.playback.upstream_rq_total"
# Browsers keep playlists a day (the default); shared caches, as the test mesh configures them.
PLAYLIST_CACHING = f"public, max-age=86400, s-maxage={SHARED_PLAYLIST_SECONDS}"


def url(mesh: Mesh, path: str) -> str:
    return f"http://{mesh.gateway}{path}"


def signed_url(mesh: Mesh, video: ReadyVideo, gateway: grpc.Channel, ttl: int = 600) -> pb2.CreatePlaybackUrlResponse:
    stub = pb2_grpc.PlaybackServiceStub(gateway)
    request = pb2.CreatePlaybackUrlRequest(name=f"videos/{video.id}", ttl=duration_pb2.Duration(seconds=ttl))
    return stub.CreatePlaybackUrl(request, metadata=bearer(video.owner_key))


def test_every_object_of_a_public_video_is_served_with_its_type_and_caching(mesh: Mesh, public_video: ReadyVideo) -> None:
    # The catalog's master_playlist_path is a path on the gateway, as its contract says.
    assert public_video.master_playlist_path == public_video.root + "master.m3u8"
    master = get(url(mesh, public_video.master_playlist_path))
    assert master.status == 200
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert master.headers["cache-control"] == PLAYLIST_CACHING
    playlist = m3u8.loads(master.text)
    assert playlist.is_variant and playlist.playlists
    rendition = playlist.playlists[0].uri.split("/")[0]

    media = get(url(mesh, f"{public_video.root}{rendition}/index.m3u8"))
    assert media.status == 200 and media.headers["cache-control"] == PLAYLIST_CACHING
    segments = m3u8.loads(media.text)
    for name in (segments.segment_map[0].uri, segments.segments[0].uri):
        segment = get(url(mesh, f"{public_video.root}{rendition}/{name}"))
        assert segment.status == 200
        assert segment.headers["content-type"] == "video/mp4"
        assert segment.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert segment.body[4:8] in (b"ftyp", b"styp", b"moof")  # ISO BMFF boxes, byte for byte
        assert not any(name.startswith("grpc-") for name in segment.headers), "no gRPC framing leaks to players"
    audio = m3u8.loads(get(url(mesh, f"{public_video.root}audio/index.m3u8")).text)
    assert audio.target_duration == segments.target_duration  # one target across a master's playlists
    for name in (audio.segment_map[0].uri, audio.segments[0].uri):
        assert get(url(mesh, f"{public_video.root}audio/{name}")).headers["content-type"] == "audio/mp4"

    poster = get(url(mesh, public_video.root + "poster.jpg"))
    assert poster.status == 200 and poster.headers["content-type"] == "image/jpeg" and poster.body[:2] == b"\xff\xd8"
    track = get(url(mesh, public_video.root + "storyboard/index.vtt"))
    assert track.status == 200 and track.text.startswith("WEBVTT")
    sprite_name = next(line for line in track.text.splitlines() if "#xywh=" in line).split("#")[0]
    sprite = get(url(mesh, public_video.root + "storyboard/" + sprite_name))
    assert sprite.status == 200 and sprite.headers["content-type"] == "image/jpeg"


def test_files_on_disk_are_served_unchanged(mesh: Mesh, public_video: ReadyVideo) -> None:
    folder = mesh.home / "data" / "blobs" / public_video.root.strip("/")
    for path in sorted(folder.rglob("*.m4s"))[:3]:
        served = get(url(mesh, public_video.root + str(path.relative_to(folder))))
        assert served.body == path.read_bytes()


@pytest.mark.parametrize(
    ("suffix", "status"),
    [
        ("master.m3u8", 200),
        ("nosuch/index.m3u8", 404),
        ("144p/99999.m4s", 404),
        ("storyboard/sprite-999.jpg", 404),
    ],
)
def test_missing_objects_are_404_with_a_json_status(mesh: Mesh, public_video: ReadyVideo, suffix: str, status: int) -> None:
    reply = get(url(mesh, public_video.root + suffix))
    assert reply.status == status
    if status == 404:
        body = reply.json()
        assert body["code"] == 5
        assert {d["@type"].rsplit(".", 1)[-1] for d in body["details"]} >= {"ErrorInfo", "ResourceInfo"}


def test_unknown_videos_versions_and_staging_folders_are_not_found_and_bad_names_are_400(mesh: Mesh, public_video: ReadyVideo) -> None:
    assert get(url(mesh, f"/hls/nosuchvideo/{public_video.version}/master.m3u8")).status == 404
    assert get(url(mesh, f"/hls/{public_video.id}/nosuchversion/master.m3u8")).status == 404
    bad = get(url(mesh, f"/hls/{public_video.id}/.staging-x/master.m3u8"))
    assert bad.status == 400
    assert bad.json()["details"][1]["fieldViolations"][0]["field"] == "version"
    assert get(url(mesh, f"/hls/{public_video.id}/{public_video.version}/%2E%2E/index.m3u8")).status in (400, 404)


def test_segments_are_served_from_the_edge_cache_after_the_first_request(mesh: Mesh, public_video: ReadyVideo) -> None:
    # An object of the video's version that no other test (or browser) has fetched yet.
    fresh = mesh.home / "data" / "blobs" / public_video.root.strip("/") / "144p" / "98000.m4s"
    fresh.write_bytes(os.urandom(200_000))
    segment = url(mesh, public_video.root + "144p/98000.m4s")
    admin = mesh.ports["envoy_admin"]
    before, entries = envoy_stat(admin, ORIGIN_REQUESTS), envoy_stat_sum(admin, "cache.size_count.")
    first = get(segment)
    assert first.status == 200 and "age" not in first.headers
    wait_cache_entries(admin, entries + 1)  # the file-system cache stores in the background
    hits = [get(segment) for _ in range(5)]
    assert [(hit.status, hit.body == first.body, "age" in hit.headers) for hit in hits] == [(200, True, True)] * 5
    assert envoy_stat(mesh.ports["envoy_admin"], ORIGIN_REQUESTS) == before + 1, "only the first request reached Python"


def test_a_private_video_needs_a_valid_token_and_is_never_cached_at_the_edge(
    mesh: Mesh, private_video: ReadyVideo, gateway: grpc.Channel
) -> None:
    master = private_video.root + "master.m3u8"
    assert get(url(mesh, master)).status == 404  # not revealed without a token
    signed = signed_url(mesh, private_video, gateway)
    assert signed.url == f"{master}?token={signed.token}"
    assert signed.expire_time.seconds > time.time() + 500

    before = envoy_stat(mesh.ports["envoy_admin"], ORIGIN_REQUESTS)
    replies = [get(url(mesh, signed.url)) for _ in range(2)]
    assert all(r.status == 200 and r.headers["cache-control"].startswith("private") for r in replies)
    assert all("age" not in r.headers for r in replies)
    assert envoy_stat(mesh.ports["envoy_admin"], ORIGIN_REQUESTS) == before + 2, "private answers must not be cached"

    # Every URI in the playlists carries the token, so a player needs nothing special.
    variant = m3u8.loads(replies[0].text)
    assert all(p.uri.endswith(f"?token={signed.token}") for p in variant.playlists)
    media = get(url(mesh, private_video.root + variant.playlists[0].uri))
    assert media.status == 200
    segments = m3u8.loads(media.text)
    assert segments.segment_map[0].uri.endswith(f"?token={signed.token}")
    rendition = variant.playlists[0].uri.split("/")[0]
    assert get(url(mesh, f"{private_video.root}{rendition}/{segments.segments[0].uri}")).status == 200
    track = get(url(mesh, f"{private_video.root}storyboard/index.vtt?token={signed.token}"))
    assert f"?token={signed.token}#xywh=" in track.text


def test_forged_expired_and_foreign_tokens_are_refused(
    mesh: Mesh, private_video: ReadyVideo, public_video: ReadyVideo, gateway: grpc.Channel
) -> None:
    master = url(mesh, private_video.root + "master.m3u8")
    secret = (mesh.home / "data" / "secrets" / "playback.key").read_text().strip().encode()
    expired, _ = PlaybackTokens(secret).sign(f"videos/{private_video.id}", 60, now=time.time() - 3600)
    foreign = signed_url(mesh, public_video, gateway).token
    forged, _ = PlaybackTokens(b"not the secret").sign(f"videos/{private_video.id}", 600)
    for token in (expired, foreign, forged, "garbage"):
        reply = get(f"{master}?token={token}")
        assert reply.status == 403, token
        assert reply.json()["details"][0]["reason"] == "INVALID_PLAYBACK_TOKEN"


def test_playback_tokens_never_reach_the_logs(mesh: Mesh, private_video: ReadyVideo, gateway: grpc.Channel) -> None:
    signed = signed_url(mesh, private_video, gateway)
    marker = f"{private_video.root}storyboard/index.vtt"  # fetched by this test only
    assert get(url(mesh, f"{marker}?token={signed.token}")).status == 200
    assert get(url(mesh, f"/v1/videos/{private_video.id}?playbackToken={signed.token}")).status == 200
    envoy_log = mesh.home / "logs" / "envoy.log"
    deadline = time.monotonic() + 10  # Envoy flushes its access log about once a second
    while marker not in envoy_log.read_text():
        assert time.monotonic() < deadline, "the request never reached Envoy's access log"
        time.sleep(0.2)
    for log in (mesh.home / "logs").iterdir():
        assert signed.token not in log.read_text(), log.name


def test_playback_urls_are_for_owners_only(
    mesh: Mesh, private_video: ReadyVideo, public_video: ReadyVideo, bob_key: str, gateway: grpc.Channel
) -> None:
    stub = pb2_grpc.PlaybackServiceStub(gateway)

    def create(name: str, key: str | None, ttl: int = 600) -> pb2.CreatePlaybackUrlResponse:
        request = pb2.CreatePlaybackUrlRequest(name=name, ttl=duration_pb2.Duration(seconds=ttl))
        return stub.CreatePlaybackUrl(request, metadata=bearer(key) if key else ())

    expect(grpc.StatusCode.UNAUTHENTICATED, lambda: create(f"videos/{public_video.id}", None))
    expect(grpc.StatusCode.NOT_FOUND, lambda: create(f"videos/{private_video.id}", bob_key))  # not revealed
    expect(grpc.StatusCode.PERMISSION_DENIED, lambda: create(f"videos/{public_video.id}", bob_key))
    expect(grpc.StatusCode.NOT_FOUND, lambda: create("videos/nosuchvideo", bob_key))
    expect(grpc.StatusCode.NOT_FOUND, lambda: create("streams/nosuchstream", bob_key))
    expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: create(f"videos/{public_video.id}", public_video.owner_key, ttl=10))
    expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: create(f"videos/{public_video.id}", public_video.owner_key, ttl=2 * 86400))
    expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: create("playlists/x", public_video.owner_key))


def test_cli_prints_a_signed_url_that_plays(mesh: Mesh, private_video: ReadyVideo, tmp_path: Path) -> None:
    result = mesh.cli(
        "videos",
        "playback-url",
        private_video.id,
        "--ttl-minutes",
        "5",
        "--url",
        mesh.gateway,
        env={"VIDMESH_API_KEY": private_video.owner_key},
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip()
    assert printed.startswith(f"http://{mesh.gateway}/hls/{private_video.id}/") and "token=" in printed
    assert "/watch/" in result.stderr
    reply = get(printed)
    assert reply.status == 200 and reply.text.startswith("#EXTM3U")


def test_deleting_a_video_stops_playback_of_what_is_not_cached(mesh: Mesh, ready_video, alice_key: str) -> None:  # type: ignore[no-untyped-def]
    video = ready_video(alice_key, title="to delete")
    assert get(url(mesh, video.root + "master.m3u8")).status == 200
    result = mesh.cli("videos", "delete", video.id, "--url", mesh.gateway, env={"VIDMESH_API_KEY": alice_key})
    assert result.returncode == 0, result.stderr
    time.sleep(2.5)  # Playback remembers a lookup for 2 s
    assert get(url(mesh, video.root + "144p/index.m3u8")).status == 404


def test_a_switch_to_private_reaches_the_edge_within_the_shared_playlist_lifetime(mesh: Mesh, ready_video, alice_key: str) -> None:  # type: ignore[no-untyped-def]
    video = ready_video(alice_key, title="soon private")
    master = url(mesh, video.root + "master.m3u8")
    admin = mesh.ports["envoy_admin"]
    entries = envoy_stat_sum(admin, "cache.size_count.")
    assert get(master).status == 200
    wait_cache_entries(admin, entries + 1)
    cached = get(master)
    assert cached.status == 200 and "age" in cached.headers, "the edge holds the public playlist"
    with VidmeshClient(mesh.gateway, alice_key, ledger=UploadLedger(mesh.home / "client-ledger.json")) as client:
        client.update_video(video.id, visibility=media_pb2.VISIBILITY_PRIVATE)
        switched = time.monotonic()
    # Envoy keeps it for s-maxage, not the browsers' day-long max-age; then the origin says 404
    # (once Playback's 2 s memory of the video has passed too).
    deadline = switched + SHARED_PLAYLIST_SECONDS + 2 + 5
    while (reply := get(master)).status == 200:
        assert time.monotonic() < deadline, "the edge kept serving a private video's playlist"
        time.sleep(0.2)
    assert reply.status == 404
    print(f"private at the edge {time.monotonic() - switched:.1f} s after the switch")


def test_objects_larger_than_envoys_default_buffer_are_served_whole(mesh: Mesh, public_video: ReadyVideo) -> None:
    # 1080p and 4K segments run to several MB; Envoy buffers an HttpBody answer whole.
    big = mesh.home / "data" / "blobs" / public_video.root.strip("/") / "144p" / "99000.m4s"
    big.write_bytes(os.urandom(5 * 1024 * 1024))
    try:
        reply = get(url(mesh, public_video.root + "144p/99000.m4s"))
        assert reply.status == 200 and reply.body == big.read_bytes()
    finally:
        big.unlink()
