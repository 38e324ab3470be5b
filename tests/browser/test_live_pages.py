"""Live streaming in Chromium against the session mesh (the real ingest, packager, Playback and
Envoy): the live watch page (/stream/{id}) playing LL-HLS in hls.js's low-latency mode, with its
glass-to-glass latency measured on one clock (frames stamped with the wall clock when Python
made them, read back from each frame the page presents); the page's states (not started,
reconnecting, ended, unknown or private); the creators' go-live page (/studio/live) from a new
stream to its end; and the home page's "Live now" row.

Screenshots of every state are saved at desktop and phone widths under each test's tmp dir, or
under $VIDMESH_LIVE_SCREENSHOTS when set (look at them when changing the pages).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from playwright.sync_api import Browser, Page
from vidmesh.live.v1 import live_service_pb2 as pb2
from vidmesh.live.v1 import live_service_pb2_grpc as pb2_grpc
from vidmesh.live.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from tests.support import http
from tests.support.live import STAMP_DECODER_JS, encoding, stamp_decoder_args, stamped_encoding, wait_for_state
from tests.support.processes import Mesh

pytestmark = pytest.mark.slow

LiveStream = resources_pb2.LiveStream
LIVE, RECONNECTING = resources_pb2.LIVE_STREAM_STATE_LIVE, resources_pb2.LIVE_STREAM_STATE_RECONNECTING
# Glass-to-glass, median over MEASURE_MS of playback: the target is 1.5 s (notes/live.md, section
# 3, held ~1.4 s with 1 s keyframes); the bound leaves room for a busy machine.
LATENCY_BOUND_MS = 3500
MEASURE_MS = 10_000


@dataclass(frozen=True)
class Screen:
    name: str
    width: int
    height: int
    phone: bool


SCREENS = [Screen("desktop", 1280, 900, phone=False), Screen("phone", 390, 844, phone=True)]


@dataclass(frozen=True)
class Viewer:
    page: Page
    screen: Screen
    shots: Path

    def screenshot(self, name: str, full_page: bool = False) -> None:
        path = self.shots / f"{name}-{self.screen.name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        print(f"screenshot: {path}")


@pytest.fixture(params=SCREENS, ids=[screen.name for screen in SCREENS])
def viewer(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Viewer]:
    screen: Screen = request.param
    context = browser.new_context(viewport={"width": screen.width, "height": screen.height}, is_mobile=screen.phone, has_touch=screen.phone)
    shots = Path(os.environ.get("VIDMESH_LIVE_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield Viewer(page, screen, shots)
    context.close()
    assert not errors, f"the page threw: {errors}"


@pytest.fixture(scope="module")
def live(gateway: grpc.Channel) -> pb2_grpc.LiveServiceStub:
    return pb2_grpc.LiveServiceStub(gateway)


def auth(key: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {key}"),)


def new_stream(
    live: pb2_grpc.LiveServiceStub, key: str, title: str, visibility: media_pb2.Visibility = media_pb2.VISIBILITY_PUBLIC
) -> LiveStream:
    stream = LiveStream(title=title, description="Made by the live page tests.", visibility=visibility, record=True)
    return live.CreateStream(pb2.CreateStreamRequest(stream=stream), metadata=auth(key)).stream  # type: ignore[no-any-return]


def end(live: pb2_grpc.LiveServiceStub, key: str, stream: LiveStream) -> None:
    live.EndStream(pb2.EndStreamRequest(name=stream.name), metadata=auth(key))


def overlay_says(page: Page, words: str, timeout_ms: int = 20_000) -> None:
    page.wait_for_function(
        "words => !document.getElementById('overlay').hidden && document.getElementById('overlay-title').textContent.includes(words)",
        arg=words,
        timeout=timeout_ms,
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# -- the live watch page ---------------------------------------------------------------------


def test_a_stamped_stream_plays_on_the_live_page_in_low_latency_mode_within_the_latency_bound(
    mesh: Mesh, viewer: Viewer, live: pb2_grpc.LiveServiceStub, alice_key: str
) -> None:
    page = viewer.page
    stream = new_stream(live, alice_key, "Harbour at dusk, live")
    page.goto(f"http://{mesh.gateway}/stream/{stream.id}")
    overlay_says(page, "hasn't started yet")
    assert page.locator("h1#title").inner_text() == "Harbour at dusk, live"
    assert page.locator("#owner").inner_text() == "alice"
    assert page.locator("#description").inner_text() == "Made by the live page tests."
    viewer.screenshot("watch-not-started")

    with stamped_encoding(f"{stream.ingest_url}/{stream.stream_key}") as encoder:
        # The page looks at the stream every 2 s and starts playing by itself once it is LIVE.
        page.wait_for_function("document.getElementById('player').currentTime > 1", timeout=30_000)
        player: dict[str, Any] = page.evaluate(
            """() => { const hls = window.vidmeshHls, details = hls.levels.find((level) => level.details).details;
                 return { lowLatencyMode: hls.lowLatencyMode, maxRate: hls.config.maxLiveSyncPlaybackRate,
                          canBlockReload: details.canBlockReload, parts: details.partList ? details.partList.length : 0 }; }"""
        )
        assert player["lowLatencyMode"] is True and player["maxRate"] == 1.5, player
        assert player["canBlockReload"] and player["parts"] > 0, f"the player reads parts and blocks on reloads: {player}"
        assert page.locator("#overlay").is_hidden()
        assert page.locator(".live-badge").is_visible()
        # The quality menu is the master playlist's levels: Auto and each, or the one there is.
        levels = page.evaluate("window.vidmeshHls.levels.length")
        options = page.locator("#quality option").all_inner_texts()
        if levels == 1:
            assert len(options) == 1 and options[0].startswith("360p") and page.locator("#quality").is_disabled(), options
        else:
            assert options[0].startswith("Auto") and len(options) == levels + 1, options

        page.evaluate(STAMP_DECODER_JS, stamp_decoder_args("player"))
        # What the player itself believes, over the same time: hls.latency, and now − the
        # PROGRAM-DATE-TIME of the playhead.
        page.evaluate(
            """() => { const hls = window.vidmeshHls, readings = (window.vidmeshReadings = { latency: [], programDate: [] });
                 const timer = setInterval(() => {
                   if (!hls.media) return clearInterval(timer); // the player is gone (the stream ended)
                   readings.latency.push(hls.latency * 1000);
                   if (hls.playingDate) readings.programDate.push(Date.now() - hls.playingDate.getTime());
                 }, 250); }"""
        )
        page.wait_for_timeout(MEASURE_MS)
        stamps: dict[str, Any] = page.evaluate("window.vidmeshStamps")
        readings: dict[str, list[float]] = page.evaluate("window.vidmeshReadings")
        figures: dict[str, float] = page.evaluate(
            """() => { const quality = document.getElementById('player').getVideoPlaybackQuality();
                 return { target: window.vidmeshHls.targetLatency, frames: quality.totalVideoFrames, dropped: quality.droppedVideoFrames }; }"""
        )
        shown = page.locator("#latency").get_attribute("data-value")
        viewer.screenshot("watch-live")

        latencies = [float(ms) for ms in stamps["latencies"]]
        # rVFC reports the frames the compositor presented: all 30 a second on the desktop screen,
        # fewer under the phone's emulation on a busy machine. Enough for a median either way.
        assert len(latencies) > MEASURE_MS / 1000 * 10, f"frames presented and read: {len(latencies)}, unreadable {stamps['unreadable']}"
        median, p10, p90 = statistics.median(latencies), percentile(latencies, 0.1), percentile(latencies, 0.9)
        hls_latency, program_date = statistics.median(readings["latency"]), statistics.median(readings["programDate"])
        print(
            f"glass-to-glass ({viewer.screen.name}) over {len(latencies)} frames: median {median:.0f} ms, p10 {p10:.0f} ms, p90 {p90:.0f} ms "
            f"({stamps['unreadable']} unreadable; the player dropped {figures['dropped']:.0f} of {figures['frames']:.0f}); medians of the "
            f"player's own: hls.latency {hls_latency:.0f} ms (target {figures['target'] * 1000:.0f} ms, the page shows {shown} s), "
            f"now − PROGRAM-DATE-TIME {program_date:.0f} ms; publisher: {encoder.late} of {encoder.sent} frames late"
        )
        assert median < LATENCY_BOUND_MS, f"glass-to-glass median {median:.0f} ms"
        # The page shows a median of hls.latency over its last 4 s: within what hls.js reported
        # during the window (which moves when a stall raises its target).
        low, high = min(readings["latency"]), max(readings["latency"])
        assert shown and low - 250 <= float(shown) * 1000 <= high + 250, f"the page shows {shown} s, hls.js said {low:.0f}-{high:.0f} ms"

        encoder.process.kill()  # the broadcaster's connection drops
        wait_for_state(live, stream.name, RECONNECTING)
        overlay_says(page, "connection dropped")
        viewer.screenshot("watch-reconnecting")

    end(live, alice_key, stream)
    overlay_says(page, "This stream has ended")
    # Recorded: its video is linked once it is published (or the page says it will be).
    assert "recording" in page.locator("#overlay").inner_text()
    if page.locator("#recording-link").is_visible():
        assert (page.locator("#recording-link").get_attribute("href") or "").startswith("/watch/")
    assert page.locator("#stage").evaluate("stage => !stage.classList.contains('has-player')"), "the player is gone, and its controls"
    viewer.screenshot("watch-ended")


def test_an_unknown_or_private_stream_gets_a_message_not_a_player(
    mesh: Mesh, viewer: Viewer, live: pb2_grpc.LiveServiceStub, alice_key: str
) -> None:
    page = viewer.page
    private = new_stream(live, alice_key, "Rehearsal", visibility=media_pb2.VISIBILITY_PRIVATE)
    for stream_id in ("no-such-stream", private.id):
        page.goto(f"http://{mesh.gateway}/stream/{stream_id}")
        page.wait_for_function("document.getElementById('status').textContent.includes('does not exist or is private')")
        assert page.locator("#stage").is_hidden()
        assert page.locator("#home-link").is_visible()
    viewer.screenshot("watch-not-found")


# -- the go-live page ------------------------------------------------------------------------


def test_going_live_from_the_studio_page_shows_key_health_and_the_end(
    mesh: Mesh, viewer: Viewer, live: pb2_grpc.LiveServiceStub, alice_key: str
) -> None:
    page = viewer.page
    page.goto(f"http://{mesh.gateway}/studio/live")
    page.fill("#api-key", alice_key)
    page.click("#sign-in-form button[type=submit]")
    page.locator("#create-form").wait_for()
    assert page.locator("#new-record").is_checked(), "recording is on by default"
    viewer.screenshot("studio-new-stream")

    page.fill("#new-title", "Friday build stream")
    page.select_option("#new-visibility", "VISIBILITY_UNLISTED")
    page.click("#create-form button[type=submit]")
    page.wait_for_function("document.getElementById('stream-key').value.startsWith('vsk_')")
    first_key = page.input_value("#stream-key")
    server = page.input_value("#ingest-url")
    assert server.startswith("rtmp://") and server.endswith("/live")
    assert page.locator("#stream-key").get_attribute("type") == "password", "the key is masked until asked for"
    assert "shown only now" in page.locator("#key-note").inner_text()
    assert first_key not in page.locator("#ffmpeg-command").inner_text()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click('button[data-copy="stream-key"]')
    assert page.evaluate("navigator.clipboard.readText()") == first_key
    page.click("#show-key")
    assert first_key in page.locator("#ffmpeg-command").inner_text() and server in page.locator("#ffmpeg-command").inner_text()
    assert page.locator("#stream-state").inner_text().lower() == "not live yet"
    viewer.screenshot("studio-not-live", full_page=True)

    # A new key: the old one stops working.
    page.click("#rotate-key")
    page.click("#confirm-ok")
    page.wait_for_function(
        "key => { const now = document.getElementById('stream-key').value; return now.startsWith('vsk_') && now !== key; }", arg=first_key
    )
    key = page.input_value("#stream-key")
    stream_id = page.evaluate("new URLSearchParams(location.search).get('stream')")

    with encoding(f"{server}/{key}", seconds=60):
        page.wait_for_function("document.getElementById('stream-state').textContent === 'Live'", timeout=20_000)
        page.wait_for_function("document.getElementById('preview-player').currentTime > 0.5", timeout=30_000)
        assert page.locator("#preview-player").evaluate("video => video.muted")
        # The second keyframe (2 s apart) gives the interval.
        page.wait_for_function("parseFloat(document.getElementById('health-keyframes').dataset.value) > 0", timeout=15_000)
        assert float(page.locator("#health-fps").get_attribute("data-value") or 0) > 20
        assert float(page.locator("#health-video").get_attribute("data-value") or 0) > 500_000
        assert page.locator("#health-keyframes").inner_text() == "2.0 s" and page.locator("#keyframe-warning").is_hidden()
        assert page.locator("#health-picture").inner_text() == "640×360"
        page.wait_for_timeout(1500)  # the preview's latency settles
        viewer.screenshot("studio-live", full_page=True)

        page.click("#end-stream")
        page.locator("#confirm[open]").wait_for()
        viewer.screenshot("studio-end-confirm")
        page.click("#confirm-ok")
        page.wait_for_function("document.getElementById('stream-state').textContent === 'Ended'", timeout=10_000)
    assert (
        live.GetStream(pb2.GetStreamRequest(name=f"streams/{stream_id}"), metadata=auth(alice_key)).stream.state
        == resources_pb2.LIVE_STREAM_STATE_ENDED
    )
    overlay_says(page, "This stream has ended")
    assert page.locator("#end-stream").is_hidden() and page.locator("#encoder").is_hidden()
    assert page.locator(f'#stream-list li[data-stream="{stream_id}"] .state-chip').inner_text().lower() == "ended"
    viewer.screenshot("studio-ended", full_page=True)

    page.goto(f"http://{mesh.gateway}/stream/{stream_id}")
    overlay_says(page, "This stream has ended")
    assert page.locator("#state-chip").inner_text().lower() == "ended"
    viewer.screenshot("watch-ended-from-studio")


def test_the_studio_page_warns_of_keyframes_far_apart(mesh: Mesh, viewer: Viewer, live: pb2_grpc.LiveServiceStub, alice_key: str) -> None:
    """A creator coming back to a stream (its address names it): the key is not shown again, and
    an encoder sending a keyframe every 5 s is told to send them closer."""
    page = viewer.page
    stream = new_stream(live, alice_key, "Keyframes far apart")
    page.context.add_init_script(f"sessionStorage.setItem('vidmesh.apiKey', {alice_key!r})")
    page.goto(f"http://{mesh.gateway}/studio/live?stream={stream.id}")
    page.locator("#stream-heading", has_text="Keyframes far apart").wait_for()
    assert page.input_value("#stream-key") == "" and page.locator("#show-key").is_disabled()
    assert "Rotate it" in page.locator("#key-note").inner_text()
    with stamped_encoding(f"{stream.ingest_url}/{stream.stream_key}", keyframes=150):
        page.locator("#keyframe-warning").wait_for(timeout=20_000)
        assert page.locator("#health-keyframes").inner_text() == "5.0 s"
        assert "Set your encoder's keyframe interval to 1 or 2 s" in page.locator("#keyframe-warning").inner_text()
        viewer.screenshot("studio-keyframe-warning", full_page=True)
    end(live, alice_key, stream)


# -- the home page ---------------------------------------------------------------------------


def on_air(mesh: Mesh) -> list[str]:
    reply = http.get(f"http://{mesh.gateway}/v1/streams?state=LIVE_STREAM_STATE_LIVE")
    assert reply.status == 200, reply.text
    return [s["id"] for s in reply.json().get("streams", [])]


def test_the_home_page_shows_a_stream_in_live_now_while_it_is_live(
    mesh: Mesh, viewer: Viewer, live: pb2_grpc.LiveServiceStub, bob_key: str
) -> None:
    page = viewer.page
    stream = new_stream(live, bob_key, "Bob's morning coffee stream")
    card = page.locator(f'#live-now a[href="/stream/{stream.id}"]')
    with encoding(f"{stream.ingest_url}/{stream.stream_key}", seconds=60):
        wait_for_state(live, stream.name, LIVE)
        page.goto(f"http://{mesh.gateway}/")
        card.wait_for()
        assert "Bob's morning coffee stream" in card.inner_text() and "bob" in card.inner_text()
        assert page.locator("#live-now").is_visible()
        viewer.screenshot("home-live-now")
        card.click()
        page.wait_for_url(f"**/stream/{stream.id}")
        page.wait_for_function("document.getElementById('player').currentTime > 0.5", timeout=30_000)
    end(live, bob_key, stream)
    deadline = time.monotonic() + 10
    while stream.id in on_air(mesh) and time.monotonic() < deadline:
        time.sleep(0.2)
    page.goto(f"http://{mesh.gateway}/")
    page.locator("#latest-heading").wait_for()  # the rows are shown with the first page of videos
    assert card.count() == 0
    assert page.locator("#live-now").is_hidden() == (not on_air(mesh)), "the row is there only while someone is live"
    viewer.screenshot("home-nobody-live")
