"""Recommendations and reactions in Chromium, against the whole mesh and its real recs service:
the home page's Trending row once videos have views (impressions recorded once per card seen,
in batches, a click recorded although the page navigates away), "Recommended for you" once a
trained model knows the viewer, the watch page's Up next (beside the player or below it) with
Autoplay (off by default, remembered, a countdown that can be cancelled), Like / Dislike / Share
with their counts, and failures that leave the page working and the buttons as they were.

Screenshots are saved under each test's tmp dir (look at them when changing the pages).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from playwright.sync_api import Browser, BrowserContext, FloatRect, Locator, Page, Request, expect

from tests.integration.test_analytics_api import wait_for
from tests.integration.test_playback import signed_url
from tests.integration.test_recs import archived, watched
from tests.integration.test_search import word
from tests.support import http
from tests.support.catalog import catalog_video
from tests.support.interactions import synthetic_history, write_warehouse
from tests.support.processes import Mesh
from tests.support.videos import ReadyVideo, ReadyVideoFactory
from vidmesh_client import VidmeshClient

pytestmark = pytest.mark.slow

EVENTS_PATH = "/v1/recommendations:recordEvents"


@dataclass(frozen=True)
class Screen:
    name: str
    width: int
    height: int
    phone: bool


DESKTOP, PHONE = Screen("desktop", 1280, 800, phone=False), Screen("phone", 390, 844, phone=True)


@dataclass
class Viewer:
    """A browser with its own anonymous viewer id (the one the pages keep in localStorage)."""

    context: BrowserContext
    page: Page
    screen: Screen
    id: str
    event_calls: list[dict[str, Any]]  # bodies of the page's RecordRecommendationEvents calls

    def screenshot(self, tmp_path: Path, name: str, full_page: bool = False) -> None:
        path = tmp_path / f"{name}-{self.screen.name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        print(f"screenshot: {path}")


def open_viewer(browser: Browser, screen: Screen, viewer_id: str | None = None) -> Viewer:
    context = browser.new_context(viewport={"width": screen.width, "height": screen.height}, is_mobile=screen.phone, has_touch=screen.phone)
    viewer_id = viewer_id or str(uuid.uuid4())
    context.add_init_script(f"localStorage.setItem('vidmesh.viewerId', {json.dumps(viewer_id)})")
    page = context.new_page()
    calls: list[dict[str, Any]] = []

    def note(request: Request) -> None:
        if request.url.endswith(EVENTS_PATH):
            calls.append(json.loads(request.post_data or "{}"))

    page.on("request", note)
    return Viewer(context, page, screen, viewer_id, calls)


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def viewer(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Viewer]:
    opened = open_viewer(browser, request.param)
    yield opened
    opened.context.close()


@pytest.fixture
def desktop(browser: Browser) -> Iterator[Viewer]:
    opened = open_viewer(browser, DESKTOP)
    yield opened
    opened.context.close()


def box(locator: Locator) -> FloatRect:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not laid out"
    return found


def give_views(mesh: Mesh, video_id: str, views: int) -> None:
    """`views` sessions of as many new viewers, each a view (60 s played)."""
    with VidmeshClient(mesh.gateway) as client:
        for _ in range(views):
            assert client.send_events(watched(video_id, str(uuid.uuid4()))).accepted_count > 0


def recommended(mesh: Mesh, **params: object) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()})
    reply = http.get(f"http://{mesh.gateway}/v1/recommendations?{query}")
    assert reply.status == 200, reply.text
    return list(reply.json().get("recommendations", []))


def trending(mesh: Mesh) -> list[str]:
    """The Trending row a new viewer gets."""
    return [r["video"]["id"] for r in recommended(mesh, viewerId=str(uuid.uuid4()), trendingOnly=True, pageSize=20)]


def record_events(mesh: Mesh, impressions: list[str] = [], clicks: list[str] = []) -> dict[str, int]:  # noqa: B006
    body = json.dumps({"impressionTokens": impressions, "clickTokens": clicks}).encode()
    reply = http.request("POST", f"http://{mesh.gateway}{EVENTS_PATH}", {"content-type": "application/json"}, body)
    assert reply.status == 200, reply.text
    answer: dict[str, int] = reply.json()
    return answer


def view_count(mesh: Mesh, video_id: str) -> int:
    reply = http.get(f"http://{mesh.gateway}/v1/videos:batchGetViewCounts?videos=videos/{video_id}")
    assert reply.status == 200, reply.text
    return sum(int(c.get("views", 0)) for c in reply.json().get("viewCounts", []))


def trending_feedback(mesh: Mesh) -> dict[str, Any]:
    """`vidmesh recs status`'s row of trending entries: impressions and clicks."""
    status = mesh.cli("recs", "status", "--json")
    assert status.returncode == 0, status.stderr
    row: dict[str, Any] = next(m for m in json.loads(status.stdout)["models"] if m["version"] == "trending")
    return row


def reactions_of(mesh: Mesh, video_id: str, viewer_id: str) -> dict[str, Any]:
    reply = http.get(f"http://{mesh.gateway}/v1/videos/{video_id}/reactions?viewerId={viewer_id}")
    assert reply.status == 200, reply.text
    found: dict[str, Any] = reply.json()["reactions"]
    return found


def tokens_on_screen(page: Page, row: str) -> dict[str, list[str]]:
    """The row's card tokens: "all", and by how much of them the viewer can see, "whole" (all of
    it) or "none"."""
    found: dict[str, list[str]] = page.evaluate(
        """(row) => {
          const clip = document.getElementById(row).getBoundingClientRect();
          const seen = { all: [], whole: [], none: [] };
          for (const card of document.getElementById(row).querySelectorAll("[data-rec-token]")) {
            const r = card.getBoundingClientRect();
            seen.all.push(card.dataset.recToken);
            if (r.left >= clip.left - 1 && r.right <= clip.right + 1 && r.bottom <= innerHeight) seen.whole.push(card.dataset.recToken);
            else if (r.left >= clip.right || r.right <= clip.left) seen.none.push(card.dataset.recToken);
          }
          return seen;
        }""",
        row,
    )
    return found


def card(page: Page, row: str, video_id: str) -> Locator:
    return page.locator(f"#{row} .card").filter(has=page.locator(f'a[href="/watch/{video_id}"]'))


def test_trending_row_shows_viewed_videos_and_records_impressions_once_and_the_click(mesh: Mesh, desktop: Viewer, tmp_path: Path) -> None:
    page = desktop.page
    w = word()
    hot = catalog_video(mesh, "trendsetter", 120, title=f"{w} everybody watches this")
    others = [catalog_video(mesh, "trendsetter", 120, title=f"{w} also seen {i}") for i in range(6)]

    # No views yet: not trending, so not in the row (which is hidden while nothing trends).
    page.goto(f"http://{mesh.gateway}/")
    expect(page.locator("#videos .card").first).to_be_visible()
    expect(card(page, "trending-list", hot)).to_have_count(0)

    give_views(mesh, hot, 40)  # more than any other test gives one video: near the row's start
    for video_id in others:
        give_views(mesh, video_id, 2)
    wait_for(lambda: hot in trending(mesh)[:3], "the viewed video at the top of trending")
    wait_for(lambda: len(trending(mesh)) >= len(others) + 1, "more trending videos than one screenful")
    wait_for(lambda: view_count(mesh, hot) == 40, "the views counted")

    page.goto(f"http://{mesh.gateway}/")
    trending_row = page.get_by_role("region", name="Trending")
    expect(trending_row).to_be_visible()
    hot_card = card(page, "trending-list", hot)
    expect(hot_card).to_be_visible()
    expect(hot_card.locator(".why")).to_have_text("Trending")
    expect(hot_card.locator(".title")).to_have_text(f"{w} everybody watches this")
    expect(hot_card.locator(".views")).to_have_text("40 views")
    # A new viewer has no personal list: their feed is all trending, and that row is hidden.
    expect(page.locator("#recommended")).to_be_hidden()
    desktop.screenshot(tmp_path, "home")

    # The cards on screen went out in one call, each token once; the service counted them all.
    page.wait_for_function("window.vidmeshRecsFeedback && window.vidmeshRecsFeedback.answered === 1")
    shown = tokens_on_screen(page, "trending-list")
    on_page = set(shown["all"])
    # (The calls seen include the previous page's: this page's tokens are its own.)
    calls = [call for call in desktop.event_calls if set(call["impressionTokens"]) <= on_page]
    assert len(calls) == 1, calls
    impressions = calls[0]["impressionTokens"]
    assert len(impressions) == len(set(impressions)) and not calls[0].get("clickTokens")
    assert set(shown["whole"]) <= set(impressions), "every card fully on screen was recorded"
    assert not set(shown["none"]) & set(impressions), "no card off screen was recorded"
    assert hot_card.get_attribute("data-rec-token") in impressions
    assert page.evaluate("window.vidmeshRecsFeedback.recorded") == len(impressions), "the service counted each"
    assert record_events(mesh, impressions=impressions) == {"recordedCount": 0, "ignoredCount": len(impressions)}

    # Paging the row on shows more cards: only those are recorded, in one more call.
    assert shown["none"], "the row holds more cards than one screenful"
    page.get_by_role("button", name="Scroll Trending on").click()
    page.wait_for_function("window.vidmeshRecsFeedback.answered === 2")
    more = [call["impressionTokens"] for call in desktop.event_calls if set(call["impressionTokens"]) <= on_page][1]
    assert more and not set(more) & set(impressions)
    assert page.evaluate("window.vidmeshRecsFeedback.recorded") == len(impressions) + len(more)

    # A click is recorded even though the page navigates away at once.
    clicks_before = trending_feedback(mesh)["clicks"]
    page.get_by_role("button", name="Scroll Trending back").click()
    token = hot_card.get_attribute("data-rec-token") or ""
    hot_card.get_by_role("link").click()
    page.wait_for_url(f"**/watch/{hot}")
    assert [call["clickTokens"] for call in desktop.event_calls if call.get("clickTokens")] == [[token]]
    wait_for(lambda: trending_feedback(mesh)["clicks"] == clicks_before + 1, "the click counted for trending")
    assert record_events(mesh, clicks=[token])["recordedCount"] == 0  # counted once


def test_a_viewer_the_model_knows_gets_recommended_for_you_and_similar_videos_up_next(mesh: Mesh, browser: Browser, tmp_path: Path) -> None:
    w = word()
    videos = [catalog_video(mesh, "topics", 120, title=f"{w} topic video {i}") for i in range(40)]
    history, columns = synthetic_history(500, 40, 12_000, topics=4, seed=11, noise=0.05, video_ids=videos)
    # Viewers of their own: other tests write synthetic histories with the same viewer names.
    history = dataclasses.replace(history, viewers=[f"{w}-{name}" for name in history.viewers])
    write_warehouse(mesh.home / "data" / "warehouse", history, columns, at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=3))
    topic_of = dict(zip(videos, history.video_topic.tolist(), strict=True))
    topic = 2
    chosen = [v for v in videos if topic_of[v] == topic][:3]
    viewer_id = str(uuid.uuid4())
    events = [event for video in chosen for event in watched(video, viewer_id, seconds=120)]
    with VidmeshClient(mesh.gateway) as client:
        assert client.send_events(events).accepted_count == len(events)
    wait_for(lambda: archived(mesh, {e.session_id for e in events}), "the viewer's sessions in the warehouse")
    trained = mesh.cli("recs", "train", timeout=300)
    assert trained.returncode == 0, trained.stdout + trained.stderr

    for screen in (DESKTOP, PHONE):
        viewer = open_viewer(browser, screen, viewer_id)
        try:
            page = viewer.page
            page.goto(f"http://{mesh.gateway}/")
            row = page.get_by_role("region", name="Recommended for you")
            expect(row).to_be_visible()
            cards = page.locator("#recommended-list .card")
            expect(cards.first).to_be_visible()
            assert set(cards.locator(".why").all_inner_texts()) == {"Based on what you watched"}
            shown = cards.evaluate_all("cards => cards.map(c => c.querySelector('a').getAttribute('href').split('/')[2])")
            assert not set(shown) & set(chosen), "what they watched is not offered again"
            assert sum(topic_of.get(v) == topic for v in shown[:5]) >= 4, [topic_of.get(v) for v in shown]
            trending_ids = page.locator("#trending-list .card a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
            assert not {f"/watch/{v}" for v in shown} & set(trending_ids), "the Trending row does not repeat the first"
            assert page.evaluate("document.documentElement.scrollWidth") <= screen.width, "nothing sticks out sideways"
            viewer.screenshot(tmp_path, "home-for-you")

            # Up next after one of them: videos watched by the same people, saying so.
            page.goto(f"http://{mesh.gateway}/watch/{chosen[0]}")
            up_next = page.get_by_role("complementary", name="Up next")
            expect(up_next.locator(".next-item").first).to_be_visible()
            reasons = up_next.locator(".why").all_inner_texts()
            assert reasons[0] == "Viewers of this video also watched", reasons
            assert chosen[0] not in up_next.locator(".next-item").evaluate_all("items => items.map(i => i.dataset.video)")
        finally:
            viewer.context.close()


def test_up_next_sits_beside_or_below_the_player_and_autoplay_counts_down_when_on(
    mesh: Mesh, viewer: Viewer, ready_video: ReadyVideoFactory, alice_key: str, tmp_path: Path
) -> None:
    page, screen = viewer.page, viewer.screen
    playing = ready_video(alice_key, title=f"{word()} a short clip")
    upcoming = catalog_video(mesh, "bob", 120, title=f"{word()} watch this one next")
    give_views(mesh, upcoming, 3)  # so that there is something to suggest, at least
    wait_for(lambda: bool(trending(mesh)), "a trending video to suggest")

    page.goto(f"http://{mesh.gateway}/watch/{playing.id}")
    up_next = page.get_by_role("complementary", name="Up next")
    items = up_next.locator(".next-item")
    expect(items.first).to_be_visible()
    assert playing.id not in items.evaluate_all("items => items.map(i => i.dataset.video)"), "never the video itself"
    first = items.first
    first_id, first_title = first.get_attribute("data-video"), first.locator(".next-title").inner_text()
    assert first_id and first.locator("a").get_attribute("href") == f"/watch/{first_id}"

    stage, column = box(page.locator("#stage")), box(up_next)
    if screen.phone:  # below the player, the page's width less its margins
        assert column["y"] >= stage["y"] + stage["height"] and column["width"] <= screen.width - 2 * 16 + 1
        assert box(first)["height"] >= 44, "a tap target"
    else:  # beside the player, level with it, inside the window
        assert column["x"] >= stage["x"] + stage["width"] and abs(column["y"] - stage["y"]) < 24
        assert column["x"] + column["width"] <= screen.width
    assert page.evaluate("document.documentElement.scrollWidth") <= screen.width, "nothing sticks out sideways"

    # Autoplay is off until the viewer turns it on: the clip ends and the page stays.
    autoplay = page.get_by_role("switch", name="Autoplay")
    expect(autoplay).not_to_be_checked()
    page.wait_for_function("document.getElementById('player').ended", timeout=30_000)
    page.wait_for_timeout(1500)
    expect(page.locator("#countdown")).to_be_hidden()
    assert page.url.endswith(f"/watch/{playing.id}")
    viewer.screenshot(tmp_path, "watch-up-next")

    # On, it is remembered: the next page starts with it on.
    autoplay.click()
    assert page.evaluate("localStorage.getItem('vidmesh.autoplay')") == "on"
    page.reload()
    expect(page.get_by_role("switch", name="Autoplay")).to_be_checked()
    expect(items.first).to_be_visible()

    # The clip ends: a countdown over the player names the next video; Cancel stops it.
    countdown = page.locator("#countdown")
    expect(countdown).to_be_visible(timeout=30_000)
    expect(countdown.locator("#countdown-title")).to_have_text(first_title)
    seconds = int(page.locator("#countdown-seconds").inner_text())
    assert 1 <= seconds <= 5
    inside, stage = box(countdown), box(page.locator("#stage"))
    assert all(abs(inside[k] - stage[k]) < 1 for k in ("x", "y", "width", "height")), "over the whole player"
    viewer.screenshot(tmp_path, "watch-countdown")
    page.get_by_role("button", name="Cancel").click()
    expect(countdown).to_be_hidden()
    assert not page.evaluate("window.vidmeshUpNext.countdownRunning()")
    page.wait_for_timeout(1500)
    assert page.url.endswith(f"/watch/{playing.id}")

    # Played again to the end, the countdown runs out and the first suggestion opens.
    page.evaluate("const v = document.getElementById('player'); v.currentTime = 0; v.play()")
    expect(countdown).to_be_visible(timeout=30_000)
    page.wait_for_url(f"**/watch/{first_id}", timeout=10_000)


def test_like_dislike_and_share_reach_the_service_and_show_its_counts(
    mesh: Mesh, viewer: Viewer, browser: Browser, ready_video: ReadyVideoFactory, alice_key: str, tmp_path: Path
) -> None:
    page, screen = viewer.page, viewer.screen
    clip = ready_video(alice_key, title=f"{word()} a clip to like")
    viewer.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"http://{mesh.gateway}/watch/{clip.id}")
    like, dislike, share = page.locator("#like"), page.locator("#dislike"), page.get_by_role("button", name="Share")
    expect(page.locator("#like-count")).to_have_text("0")
    expect(page.locator("#dislike-count")).to_have_text("0")
    for button in (like, dislike):
        expect(button).to_have_attribute("aria-pressed", "false")
        height = box(button)["height"]
        assert height >= (44 if screen.phone else 40), f"tap target {height}px high"
    assert page.evaluate("document.documentElement.scrollWidth") <= screen.width

    like.click()
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#like-count")).to_have_text("1")
    wait_for(lambda: reactions_of(mesh, clip.id, viewer.id)["viewerReaction"] == "REACTION_LIKE", "the like stored")
    viewer.screenshot(tmp_path, "liked")

    # Switching moves the count; pressing the pressed one takes the reaction back.
    dislike.click()
    expect(dislike).to_have_attribute("aria-pressed", "true")
    expect(like).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#like-count")).to_have_text("0")
    expect(page.locator("#dislike-count")).to_have_text("1")
    dislike.click()
    expect(dislike).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#dislike-count")).to_have_text("0")
    wait_for(lambda: reactions_of(mesh, clip.id, viewer.id)["viewerReaction"] == "REACTION_NONE", "the dislike taken back")

    # A like is the viewer's: it is there after a reload, and others see its count, unpressed.
    like.click()
    expect(page.locator("#like-count")).to_have_text("1")
    page.reload()
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#like-count")).to_have_text("1")
    other = open_viewer(browser, screen)
    try:
        other.page.goto(f"http://{mesh.gateway}/watch/{clip.id}")
        expect(other.page.locator("#like-count")).to_have_text("1")
        expect(other.page.locator("#like")).to_have_attribute("aria-pressed", "false")
    finally:
        other.context.close()
    like.click()
    expect(page.locator("#like-count")).to_have_text("0")
    expect(like).to_have_attribute("aria-pressed", "false")

    # Share copies the watch page's address and records one share.
    share.click()
    expect(page.locator("#reaction-status")).to_have_text("Link copied.")
    assert page.evaluate("navigator.clipboard.readText()") == f"http://{mesh.gateway}/watch/{clip.id}"
    wait_for(lambda: reactions_of(mesh, clip.id, viewer.id).get("shareCount") == "1", "the share recorded")
    message = box(page.locator("#reaction-status"))
    assert message["x"] >= 0 and message["x"] + message["width"] <= screen.width, "the message fits the window"
    viewer.screenshot(tmp_path, "shared")

    # Without the clipboard the link is shown, selected, to copy by hand; the share still counts.
    page.evaluate("() => { navigator.clipboard.writeText = () => Promise.reject(new DOMException('denied', 'NotAllowedError')); }")
    share.click()
    field = page.get_by_label("Copy this link")
    expect(field).to_be_visible()
    expect(field).to_have_value(f"http://{mesh.gateway}/watch/{clip.id}")
    expect(field).to_be_focused()
    expect(page.locator("#reaction-status")).to_have_text("Copy the link below.")
    assert page.evaluate("document.activeElement.selectionEnd - document.activeElement.selectionStart") == len(field.input_value())
    wait_for(lambda: reactions_of(mesh, clip.id, viewer.id).get("shareCount") == "2", "the second share recorded")
    assert page.evaluate("document.documentElement.scrollWidth") <= screen.width
    viewer.screenshot(tmp_path, "share-by-hand")


def test_failures_leave_the_buttons_as_they_were_and_the_pages_working(
    mesh: Mesh, desktop: Viewer, ready_video: ReadyVideoFactory, alice_key: str, tmp_path: Path
) -> None:
    page = desktop.page
    clip = ready_video(alice_key, title=f"{word()} a clip for bad days")
    page.goto(f"http://{mesh.gateway}/watch/{clip.id}")
    like, status = page.locator("#like"), page.locator("#reaction-status")
    expect(page.locator("#like-count")).to_have_text("0")

    # The service answers 503: the like is rolled back, and a short message says why.
    unavailable = {"code": 14, "message": "the recs service is unavailable", "details": []}
    page.route("**/v1/videos/*:react", lambda route: route.fulfill(status=503, json=unavailable))
    like.click()
    expect(status).to_contain_text("Your like was not saved. The service is unavailable right now.")
    expect(like).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#like-count")).to_have_text("0")
    desktop.screenshot(tmp_path, "like-failed")
    assert reactions_of(mesh, clip.id, desktop.id)["viewerReaction"] == "REACTION_NONE"

    # The network is gone: the same, in other words.
    page.unroute("**/v1/videos/*:react")
    page.route("**/v1/videos/*:react", lambda route: route.abort())
    like.click()
    expect(status).to_contain_text("cannot be reached")
    expect(like).to_have_attribute("aria-pressed", "false")

    # Back again: the same button works.
    page.unroute("**/v1/videos/*:react")
    like.click()
    expect(page.locator("#like-count")).to_have_text("1")
    expect(like).to_have_attribute("aria-pressed", "true")

    # A refusal (4xx) of a share: the link is still copied, the message says the share was not counted.
    desktop.context.grant_permissions(["clipboard-read", "clipboard-write"])
    refused = {"code": 3, "message": "request_id: required", "details": []}
    page.route("**/v1/videos/*:share", lambda route: route.fulfill(status=400, json=refused))
    page.get_by_role("button", name="Share").click()
    expect(status).to_contain_text("Link copied, but the share was not recorded.")
    page.unroute("**/v1/videos/*:share")

    # Recommendations unavailable: no Up next entries, a quiet line; the video still plays.
    page.route("**/v1/recommendations?*", lambda route: route.fulfill(status=503, json=unavailable))
    page.reload()
    expect(page.locator("#up-next-status")).to_have_text("Suggestions are unavailable right now.")
    page.wait_for_function("document.getElementById('player').currentTime > 0.5", timeout=30_000)

    # And the home page: no rows, a quiet line, the latest videos as ever.
    page.goto(f"http://{mesh.gateway}/")
    expect(page.locator(f'#videos a[href="/watch/{clip.id}"]')).to_be_visible()
    expect(page.locator("#recs-status")).to_have_text("Recommendations are unavailable right now.")
    expect(page.locator("#trending")).to_be_hidden()
    expect(page.locator("#recommended")).to_be_hidden()
    desktop.screenshot(tmp_path, "home-without-recs")


def test_a_private_video_played_by_token_gets_neither_reactions_nor_up_next(
    mesh: Mesh, desktop: Viewer, private_video: ReadyVideo, gateway: grpc.Channel
) -> None:
    token = signed_url(mesh, private_video, gateway).token
    page = desktop.page
    page.goto(f"http://{mesh.gateway}/watch/{private_video.id}?token={token}")
    page.wait_for_function("document.getElementById('player').currentTime > 0.5", timeout=30_000)
    expect(page.locator("#reactions")).to_be_hidden()
    expect(page.locator("#up-next")).to_be_hidden()
    asked = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert not [url for url in asked if re.search(r"/v1/recommendations|/v1/videos/[^/]+/reactions", url)], asked
