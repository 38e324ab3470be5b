"""Analytics end to end in Chromium: the watch page reports playback, the creator's dashboard
(/studio/analytics) shows it within seconds, and only to the video's owner.

Screenshots of the dashboard are saved under each test's tmp dir (look at them when changing it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.support.http import get
from tests.support.media import make_noisy_video, make_video
from tests.support.processes import Mesh
from tests.support.videos import ReadyVideo, ReadyVideoFactory

pytestmark = pytest.mark.slow

WATCH_SECONDS = 30
LEAVE_AT = WATCH_SECONDS + 1.5
# The dashboard polls every second; the player's last events leave as the page goes away.
DASHBOARD_LAG_MS = 2000


@pytest.fixture(scope="module")
def long_video(ready_video: ReadyVideoFactory, alice_key: str, tmp_path_factory: pytest.TempPathFactory) -> ReadyVideo:
    """Long enough to make a view by playing 30 s of it (the fixture clips are 4 s)."""
    source = make_video(tmp_path_factory.mktemp("long") / "long.mp4", seconds=36, width=640, height=360)
    return ready_video(alice_key, title="Thirty-six seconds", source=source)


@pytest.fixture(scope="module")
def stalling_video(ready_video: ReadyVideoFactory, alice_key: str, tmp_path_factory: pytest.TempPathFactory) -> ReadyVideo:
    """Noise, so that every rendition runs at its bit-rate cap and a throttle below the lowest one stalls."""
    source = make_noisy_video(tmp_path_factory.mktemp("stall") / "noise.mp4", seconds=24)
    return ready_video(alice_key, title="Played on a slow line", source=source)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """One browser profile for the viewer's tab and the creator's: the player and the dashboard side by side."""
    opened = browser.new_context(viewport={"width": 1280, "height": 900})
    yield opened
    opened.close()


def open_dashboard(context: BrowserContext, mesh: Mesh, key: str, video_id: str) -> Page:
    dashboard = context.new_page()
    dashboard.goto(f"http://{mesh.gateway}/studio/analytics?video={video_id}")
    dashboard.fill("#api-key", key)
    dashboard.click("#sign-in-form button[type=submit]")
    return dashboard


def value(page: Page, element_id: str) -> float:
    """The raw number behind a figure of the dashboard (its text is formatted for people)."""
    raw = page.locator(f"#{element_id}").get_attribute("data-value")
    assert raw is not None, f"#{element_id} has no value yet"
    return float(raw)


def reported(page: Page) -> list[str]:
    return page.evaluate("window.vidmeshPlayerEvents.events")  # type: ignore[no-any-return]


def test_a_watched_video_shows_on_the_dashboard_within_two_seconds(
    mesh: Mesh, context: BrowserContext, long_video: ReadyVideo, alice_key: str, tmp_path: Path
) -> None:
    player = context.new_page()
    player.goto(f"http://{mesh.gateway}/watch/{long_video.id}")
    dashboard = open_dashboard(context, mesh, alice_key, long_video.id)
    dashboard.locator("#video-panels").wait_for()
    assert dashboard.locator("#video-title").inner_text() == "Thirty-six seconds"

    # Past the third heartbeat (30 s) by 1.5 s, which only the page's last words can report.
    player.wait_for_function(f"document.getElementById('player').currentTime >= {LEAVE_AT}", timeout=(WATCH_SECONDS + 15) * 1000)
    assert reported(player)[:2] == ["PLAY_REQUEST", "PLAY"] and reported(player).count("HEARTBEAT") >= 3
    # Leaving the page sends what played since the last heartbeat (keepalive, on pagehide).
    played: float = player.evaluate("document.getElementById('player').currentTime")
    left = time.monotonic()
    player.goto("about:blank")
    dashboard.wait_for_function(
        f"Number(document.getElementById('tile-watch-time').dataset.value) >= {played - 0.5}", timeout=DASHBOARD_LAG_MS
    )
    print(f"dashboard showed the session {time.monotonic() - left:.1f} s after the player page went away")
    dashboard.screenshot(path=tmp_path / "dashboard-after-one-view.png", full_page=True)

    assert value(dashboard, "tile-views") == 1 and dashboard.locator("#tile-views").inner_text() == "1"
    assert value(dashboard, "tile-viewers") == 1
    watched = value(dashboard, "tile-watch-time")
    assert abs(watched - WATCH_SECONDS) <= 3 and abs(watched - played) < 0.75, (watched, played)
    assert abs(value(dashboard, "tile-average") - watched) < 0.01  # one view: its duration is all the watch time
    assert 0 < value(dashboard, "qoe-startup-p50") < 10
    assert value(dashboard, "qoe-exits") == 0 and value(dashboard, "qoe-failures") == 0

    # The retention chart as drawn: one bucket a second; what was played is at 100%, the end not.
    curve: list[float] = dashboard.evaluate("Chart.getChart('retention-chart').data.datasets[0].data")
    assert len(curve) == 36
    assert all(share == 100 for share in curve[: len(curve) // 3]), curve
    assert curve[-1] == 0, curve
    assert dashboard.locator(f'#top-videos tr[data-video="{long_video.id}"] td').nth(1).inner_text() == "1"

    # The public count on the watch page and the home page's card.
    player.goto(f"http://{mesh.gateway}/watch/{long_video.id}")
    player.wait_for_function("document.getElementById('views').textContent === '1 view'")
    player.goto(f"http://{mesh.gateway}/")
    card = player.locator(f'a[href="/watch/{long_video.id}"] .views')
    card.wait_for()
    player.wait_for_function(f"document.querySelector('a[href=\"/watch/{long_video.id}\"] .views').textContent === '1 view'")


def test_a_slow_network_shows_as_rebuffering(
    mesh: Mesh, context: BrowserContext, stalling_video: ReadyVideo, alice_key: str, tmp_path: Path
) -> None:
    master = get(f"http://{mesh.gateway}{stalling_video.root}master.m3u8").text
    lowest_bps = min(int(rate) for rate in re.findall(r"[:,]BANDWIDTH=(\d+)", master))  # peak rates, not AVERAGE-BANDWIDTH
    player = context.new_page()
    cdp = context.new_cdp_session(player)
    cdp.send("Network.enable")
    player.goto(f"http://{mesh.gateway}/watch/{stalling_video.id}")
    player.wait_for_function("document.getElementById('player').currentTime > 1", timeout=30_000)
    # A quarter of the lowest rendition's rate: the buffer (8 s ahead) runs dry whatever hls.js
    # picks, and it moves down on the way.
    throttle = {"offline": False, "latency": 20, "downloadThroughput": lowest_bps / 8 / 4, "uploadThroughput": -1}
    cdp.send("Network.emulateNetworkConditions", throttle)
    player.wait_for_function("window.vidmeshPlayerEvents.events.includes('BUFFER_START')", timeout=40_000)
    player.wait_for_timeout(1500)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    player.wait_for_function("window.vidmeshPlayerEvents.events.includes('BUFFER_END')", timeout=20_000)
    stalled_ms = sum(stall["ms"] for stall in player.evaluate("window.vidmeshMetrics.stalls"))
    assert stalled_ms >= 1500

    dashboard = open_dashboard(context, mesh, alice_key, stalling_video.id)
    dashboard.wait_for_function("Number(document.getElementById('qoe-rebuffering').dataset.value) > 0", timeout=10_000)
    dashboard.screenshot(path=tmp_path / "dashboard-after-stalls.png", full_page=True)
    ratio = value(dashboard, "qoe-rebuffering")
    watched = value(dashboard, "tile-watch-time")
    # stall / (stall + watch): the page's own stall time against what the service folded.
    expected = (stalled_ms / 1000) / (stalled_ms / 1000 + watched)
    assert abs(ratio - expected) < 0.1, (ratio, expected, stalled_ms, watched)
    assert "% of play time" in dashboard.locator("#qoe-rebuffering").inner_text()
    renditions = dashboard.locator("#renditions li").evaluate_all("items => items.map(i => i.dataset.rendition)")
    switches = [e for e in reported(player) if e == "QUALITY_CHANGE"]
    print(f"stalled {stalled_ms:.0f} ms, rebuffering {ratio:.1%}, renditions {renditions}, {len(switches)} switches")
    assert renditions and all(renditions), renditions


def test_another_users_key_gets_a_permission_message_and_no_numbers(
    mesh: Mesh, context: BrowserContext, long_video: ReadyVideo, bob_key: str, tmp_path: Path
) -> None:
    dashboard = open_dashboard(context, mesh, bob_key, long_video.id)
    problem = dashboard.locator("#problem")
    problem.wait_for()
    dashboard.screenshot(path=tmp_path / "dashboard-not-owner.png", full_page=True)
    assert "do not have access" in problem.inner_text()
    assert "only the video's owner may read its analytics" in problem.inner_text().lower()
    assert "belongs to alice" in problem.inner_text()
    dashboard.wait_for_timeout(1500)  # a refresh later, still nothing
    assert dashboard.locator("#video-panels").is_hidden()
    assert dashboard.locator("#tile-views").inner_text() == "–"
    assert dashboard.locator("#top-videos tbody tr").count() == 0

    # A key that is nobody's: back to the sign-in form, with the server's reason.
    dashboard.click("#sign-out")
    dashboard.fill("#api-key", "not-a-key")
    dashboard.click("#sign-in-form button[type=submit]")
    error = dashboard.locator("#sign-in-error")
    error.wait_for()
    assert "not accepted" in error.inner_text()
    assert dashboard.evaluate("sessionStorage.getItem('vidmesh.apiKey')") is None
