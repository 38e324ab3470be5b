"""A viewer in a real browser: the home page, the watch page, private videos and adaptive bitrate."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import m3u8
import pytest
from playwright.sync_api import Page

from tests.integration.test_playback import signed_url
from tests.support.http import get
from tests.support.media import make_noisy_video, make_video
from tests.support.processes import Mesh
from tests.support.videos import ReadyVideo, ReadyVideoFactory

pytestmark = pytest.mark.slow


def metrics(page: Page) -> dict:  # type: ignore[type-arg]
    return page.evaluate("window.vidmeshMetrics")  # type: ignore[no-any-return]


def wait_playing(page: Page, beyond: float = 1.5, timeout_ms: int = 30_000) -> None:
    page.wait_for_function(f"document.getElementById('player').currentTime > {beyond}", timeout=timeout_ms)


def test_a_video_uploaded_with_the_cli_plays_in_the_browser(mesh: Mesh, page: Page, alice_key: str, tmp_path: Path) -> None:
    source = make_video(tmp_path / "trip.mp4", seconds=8, width=640, height=360)
    uploaded = mesh.cli(
        "upload",
        str(source),
        "--title",
        "Trip",
        "--visibility",
        "unlisted",
        "--wait",
        "--quiet",
        "--url",
        mesh.gateway,
        env={"VIDMESH_API_KEY": alice_key},
        timeout=300,
    )
    assert uploaded.returncode == 0, uploaded.stderr
    video_id = uploaded.stdout.strip().splitlines()[-1]
    page.goto(f"http://{mesh.gateway}/watch/{video_id}")
    wait_playing(page, beyond=0.5)
    start = page.evaluate("document.getElementById('player').currentTime")
    time.sleep(1.5)
    assert page.evaluate("document.getElementById('player').currentTime") > start + 1.0, "playback advances"
    print(f"time to first frame: {metrics(page)['firstFrameMs']:.0f} ms after navigation")
    assert page.locator("h1#title").inner_text() == "Trip"


def test_home_page_lists_public_videos_only(mesh: Mesh, page: Page, public_video: ReadyVideo, private_video: ReadyVideo) -> None:
    page.goto(f"http://{mesh.gateway}/")
    card = page.locator(f'a[href="/watch/{public_video.id}"]')
    card.wait_for()
    assert "A public clip" in card.inner_text()
    assert card.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")  # the poster loaded
    assert page.locator(f'a[href="/watch/{private_video.id}"]').count() == 0


def test_watch_page_plays_with_quality_menu_and_storyboard(mesh: Mesh, page: Page, public_video: ReadyVideo) -> None:
    started = time.monotonic()
    page.goto(f"http://{mesh.gateway}/watch/{public_video.id}")
    wait_playing(page)
    first_frame_ms = metrics(page)["firstFrameMs"]
    print(f"time to first frame: {first_frame_ms:.0f} ms after navigation ({time.monotonic() - started:.1f} s to 1.5 s played)")
    assert first_frame_ms is not None and first_frame_ms < 5000
    assert page.locator("h1#title").inner_text() == "A public clip"
    assert page.locator("#description").inner_text() == "Made by the test suite."
    options = page.locator("#quality option").all_inner_texts()
    assert options[0].startswith("Auto") and options[1:] == ["360p", "240p", "144p"]  # Auto also names its pick
    assert page.locator("video").get_attribute("poster", timeout=1000).endswith("poster.jpg")  # type: ignore[union-attr]

    # Choosing a quality pins hls.js to it; Auto hands the choice back.
    page.select_option("#quality", label="144p")
    page.wait_for_function("window.vidmeshHls.currentLevel >= 0 && window.vidmeshHls.levels[window.vidmeshHls.currentLevel].height === 144")
    page.select_option("#quality", value="-1")  # Auto
    assert page.evaluate("window.vidmeshHls.autoLevelEnabled")

    # Hovering the seek bar shows a storyboard thumbnail of that moment.
    box = page.locator("#seek").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    preview = page.locator("#preview")
    preview.wait_for(state="visible")
    assert "sprite-000.jpg" in page.locator("#thumb").evaluate("el => el.style.backgroundImage")


def test_private_video_refuses_playback_without_a_token_and_plays_with_one(
    mesh: Mesh, page: Page, private_video: ReadyVideo, gateway: grpc.Channel
) -> None:
    page.goto(f"http://{mesh.gateway}/watch/{private_video.id}")
    page.wait_for_function("document.getElementById('status').textContent.includes('private')")
    assert page.evaluate("document.getElementById('player').currentTime") == 0
    token = signed_url(mesh, private_video, gateway).token
    page.goto(f"http://{mesh.gateway}/watch/{private_video.id}?token={token}")
    wait_playing(page)
    assert page.locator("h1#title").inner_text() == "A private clip"


@pytest.fixture(scope="session")
def noisy_video(ready_video: ReadyVideoFactory, alice_key: str, tmp_path_factory: pytest.TempPathFactory) -> ReadyVideo:
    source = make_noisy_video(tmp_path_factory.mktemp("noise") / "noise.mp4", seconds=48)
    return ready_video(alice_key, title="Noise", source=source)


def test_abr_moves_down_under_a_throttle_and_climbs_back(mesh: Mesh, page: Page, noisy_video: ReadyVideo) -> None:
    variants = m3u8.loads(get(f"http://{mesh.gateway}{noisy_video.root}master.m3u8").text).playlists
    by_height = sorted(variants, key=lambda p: p.stream_info.resolution[1])
    top, below = by_height[-1], by_height[-2]
    top_height = top.stream_info.resolution[1]
    segment_seconds = m3u8.loads(get(f"http://{mesh.gateway}{noisy_video.root}{top.uri}").text).target_duration
    # Well below the top rendition's rate, a little above the next one's: a step down keeps up.
    limit_bps = below.stream_info.bandwidth * 1.25
    assert limit_bps < top.stream_info.bandwidth * 0.75

    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    page.goto(f"http://{mesh.gateway}/watch/{noisy_video.id}")
    page.wait_for_function(f"(window.vidmeshMetrics.switches.at(-1) || {{}}).height === {top_height}", timeout=30_000)
    wait_playing(page, 2)

    throttled_at = time.monotonic()
    cdp.send(
        "Network.emulateNetworkConditions", {"offline": False, "latency": 20, "downloadThroughput": limit_bps / 8, "uploadThroughput": -1}
    )
    # "Moves down" is hls.js deciding to load a lower rendition (LEVEL_SWITCHING); the picture
    # changes once the buffered top-rendition segments have played.
    page.wait_for_function(
        f"(window.vidmeshMetrics.decisions.at(-1) || {{}}).height < {top_height}", timeout=int(4 * segment_seconds * 1000)
    )
    reacted = time.monotonic() - throttled_at
    print(f"switched down {reacted:.1f} s after the throttle (limit {limit_bps / 1000:.0f} kb/s, segments {segment_seconds} s)")
    assert reacted <= 2 * segment_seconds
    page.wait_for_function(
        f"window.vidmeshMetrics.switches.some(s => s.height < {top_height})", timeout=int(3 * segment_seconds * 1000)
    )  # and the lower rendition reaches the screen

    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    lifted_at = time.monotonic()
    page.wait_for_function(f"window.vidmeshMetrics.decisions.at(-1).height === {top_height}", timeout=int(4 * segment_seconds * 1000))
    print(f"climbed back {time.monotonic() - lifted_at:.1f} s after the throttle was lifted")
    stalls = metrics(page)["stalls"]
    assert all(stall["ms"] <= segment_seconds * 1000 for stall in stalls), stalls
    assert page.evaluate("!document.getElementById('player').paused")
