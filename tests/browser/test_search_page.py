"""Search in Chromium: the header's search box suggests completions from the keyboard, /search
shows highlighted hits with filter chips, paging and "did you mean", survives broken posters and
failed calls, and a hit leads to its watch page.

The videos are READY without media (their posters 404, as a missing poster would). Screenshots
are saved under each test's tmp dir (look at them when changing the pages).
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, Request, expect

from tests.integration.test_search import word
from tests.support.catalog import catalog_video
from tests.support.processes import Mesh

pytestmark = pytest.mark.slow

FRESH_SECONDS = 5.0  # the index trails the catalog by under a second; room for a loaded machine


def searchable(mesh: Mesh, query: str, video_ids: set[str]) -> None:
    """Waits until searches for `query` find every one of `video_ids` (without typo tolerance),
    three times in a row: two search processes reload the index each on its own clock."""
    deadline = time.monotonic() + FRESH_SECONDS
    url = f"http://{mesh.gateway}/v1/videos:search?{urllib.parse.urlencode({'query': query, 'pageSize': 50})}"
    agreeing = 0
    while True:
        with urllib.request.urlopen(url, timeout=10) as reply:
            hits = json.loads(reply.read())["hits"]
        agreeing = agreeing + 1 if video_ids <= {hit["video"]["id"] for hit in hits if not hit.get("fuzzy")} else 0
        if agreeing == 3:
            return
        assert time.monotonic() < deadline, f"{video_ids} not searchable as {query!r} within {FRESH_SECONDS}s"
        time.sleep(0.05)


def hit(page: Page, video_id: str) -> Locator:
    return page.locator(f'.hit[data-video="{video_id}"]')


def test_from_the_home_page_box_to_results_filters_did_you_mean_and_a_watch_page(mesh: Mesh, page: Page, tmp_path: Path) -> None:
    w, tag = word(), word()
    short = catalog_video(
        mesh, "alice", 42, title=f"{w} kittens playing", description=f"Two {w} kittens <b>chase</b> a ball of wool", tags=[tag, "pets"]
    )
    long = catalog_video(mesh, "bob", 1500, title=f"{w} kittens, the documentary", description="Four years with a litter.")
    searchable(mesh, w, {short, long})

    # Typing asks for suggestions once per pause, not once per key.
    suggest_calls: list[str] = []

    def note(request: Request) -> None:
        if "/v1/videos:suggest" in request.url:
            suggest_calls.append(request.url)

    page.on("request", note)
    page.goto(f"http://{mesh.gateway}/")
    box = page.locator("#search-q")
    box.click()
    box.press_sequentially(f"{w} kit", delay=15)
    listbox = page.get_by_role("listbox", name="Suggestions")
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    option = listbox.get_by_role("option").first
    expect(option).to_have_text(f"{w} kittens")
    assert len(suggest_calls) <= 2, suggest_calls
    page.screenshot(path=str(tmp_path / "home-suggestions.png"))

    # Down marks the completion, Enter searches for it.
    box.press("ArrowDown")
    expect(option).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", option.get_attribute("id") or "?")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)["q"] == [f"{w} kittens"]

    expect(page.locator(".hit")).to_have_count(2)
    expect(page.locator("#status")).to_have_text("2 results")
    expect(hit(page, short).locator(".hit-title mark").first).to_have_text(w)
    assert hit(page, short).locator(".hit-title").inner_text() == f"{w} kittens playing"
    # Server text is text: the description's markup shows as written, no element made of it.
    snippet = hit(page, short).locator(".hit-snippet")
    assert "<b>chase</b>" in snippet.inner_text() and snippet.locator("b").count() == 0
    assert hit(page, long).locator(".length").inner_text() == "25:00"
    assert hit(page, short).locator(".hit-meta").inner_text() == "No views · just now"
    # The posters 404: the picture is hidden and the placeholder frame shows, at 16:9.
    expect(hit(page, short).locator(".thumb img")).to_be_hidden()
    frame = hit(page, short).locator(".thumb").bounding_box()
    assert frame is not None and frame["width"] / frame["height"] == pytest.approx(16 / 9, rel=0.02)
    page.screenshot(path=str(tmp_path / "results.png"), full_page=True)

    # A chip narrows the results in place; the URL says so, and Back undoes it.
    page.get_by_role("group", name="Duration").get_by_role("link", name="Over 20 min").click()
    expect(page.locator(".hit")).to_have_count(1)
    expect(hit(page, long)).to_be_visible()
    assert "duration=long" in page.url
    expect(page.get_by_role("group", name="Duration").get_by_role("link", name="Over 20 min")).to_have_attribute("aria-current", "true")
    page.go_back()
    expect(page.locator(".hit")).to_have_count(2)

    # A hit's tag adds a tag filter.
    hit(page, short).get_by_role("link", name=f"#{tag}").click()
    expect(page.locator(".hit")).to_have_count(1)
    expect(hit(page, short)).to_be_visible()
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)["tags"] == [tag]

    # Two letters swapped: the hits are marked as similar spellings, under a "did you mean".
    typo = w[:4] + w[5] + w[4] + w[6:]
    page.goto(f"http://{mesh.gateway}/search?q={typo}")
    did_you_mean = page.locator("#did-you-mean")
    expect(did_you_mean).to_be_visible()
    expect(did_you_mean).to_have_text(f"Did you mean {w}?")
    expect(hit(page, short).locator(".fuzzy-note")).to_have_text("similar spelling")
    page.screenshot(path=str(tmp_path / "did-you-mean.png"))
    did_you_mean.get_by_role("link").click()
    expect(page.locator(".hit")).to_have_count(2)
    expect(page.locator(".fuzzy-note")).to_have_count(0)
    expect(did_you_mean).to_be_hidden()
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)["q"] == [w]

    hit(page, short).locator(".hit-title a").click()
    page.wait_for_url(f"**/watch/{short}")
    expect(page.locator("h1#title")).to_have_text(f"{w} kittens playing")


def test_load_more_pages_through_every_hit_once(mesh: Mesh, page: Page) -> None:
    w = word()
    made = {catalog_video(mesh, "carol", 30 + i, title=f"{w} episode {i}") for i in range(23)}
    searchable(mesh, w, made)
    page.goto(f"http://{mesh.gateway}/search?q={w}")
    expect(page.locator(".hit")).to_have_count(20)  # one page
    expect(page.locator("#status")).to_have_text("23 results")
    page.get_by_role("button", name="Load more").click()
    expect(page.locator(".hit")).to_have_count(23)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    shown = page.locator(".hit").evaluate_all("items => items.map(item => item.dataset.video)")
    assert sorted(shown) == sorted(made)


def test_no_results_and_failed_searches_get_a_message_not_a_blank_page(mesh: Mesh, page: Page, tmp_path: Path) -> None:
    nothing = word()
    page.goto(f"http://{mesh.gateway}/search?q={nothing}&duration=short")
    empty = page.locator("#empty")
    expect(empty).to_be_visible()
    expect(empty).to_contain_text(f"No results for “{nothing}”")
    expect(empty.get_by_role("link", name="search without filters")).to_have_attribute("href", f"/search?q={nothing}")
    page.screenshot(path=str(tmp_path / "empty.png"))

    # INVALID_ARGUMENT: what was wrong, in words, and no pointless "Try again".
    page.goto(f"http://{mesh.gateway}/search?q={'x' * 201}")
    problem = page.get_by_role("alert").filter(has_text="cannot be run")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text("Search text: at most 200 characters.")
    expect(page.get_by_role("button", name="Try again")).to_be_hidden()

    # The network fails: a message and a button that tries again.
    w = word()
    video_id = catalog_video(mesh, "alice", 30, title=f"{w} comeback")
    searchable(mesh, w, {video_id})
    page.route("**/v1/videos:search?*", lambda route: route.abort())
    page.goto(f"http://{mesh.gateway}/search?q={w}")
    expect(page.get_by_role("alert")).to_contain_text("vidmesh cannot be reached")
    page.unroute("**/v1/videos:search?*")
    page.get_by_role("button", name="Try again").click()
    expect(hit(page, video_id)).to_be_visible()
    expect(page.get_by_role("alert")).to_be_hidden()

    # The index is being rebuilt (503, SEARCH_INDEX_BUILDING): the page says so and retries by itself.
    building = {
        "code": 14,
        "message": "the search index is being built; retry shortly",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SEARCH_INDEX_BUILDING", "domain": "vidmesh"}],
    }
    page.route("**/v1/videos:search?*", lambda route: route.fulfill(status=503, json=building))
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text("Search is getting ready")
    page.unroute("**/v1/videos:search?*")
    expect(hit(page, video_id)).to_be_visible(timeout=10_000)


def test_the_results_fit_a_phone_with_long_titles_and_the_box_on_its_own_row(mesh: Mesh, browser: Browser, tmp_path: Path) -> None:
    w = word()
    long_title = f"{w} " + "unbreakable" * 8 + " and a title long enough to need more than two lines on any phone screen at all"
    video_id = catalog_video(mesh, "dave", 4000, title=long_title, tags=["a" * 40, "b" * 40])
    searchable(mesh, w, {video_id})
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        phone.goto(f"http://{mesh.gateway}/search?q={w}")
        expect(hit(phone, video_id)).to_be_visible()
        assert hit(phone, video_id).locator(".length").inner_text() == "1:06:40"
        phone.screenshot(path=str(tmp_path / "phone-results.png"))
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, "nothing sticks out sideways"
        title = hit(phone, video_id).locator(".hit-title").bounding_box()
        assert title is not None and title["height"] < 3 * 1.1 * 16 * 1.35, "long titles are cut at two lines"
        field = phone.locator("#search-q").bounding_box()
        assert field is not None and field["width"] > 250, "the box gets a row of its own beside the nav"
    finally:
        context.close()
