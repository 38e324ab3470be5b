"""The watch page as a person sees it, at desktop and phone widths: playing, failed, private, unknown.

Each test saves a screenshot of the state under its tmp dir (look at them when changing the page)
and asserts what the screenshot would show: one set of controls, time and sound visible, the
picture filling the width without bars, and a message with no player for a video that cannot play.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FloatRect, Locator, Page
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from tests.integration.test_transcode_jobs import wait_for_job
from tests.support.media import make_video
from tests.support.processes import Mesh
from tests.support.videos import ReadyVideo, ReadyVideoFactory
from vidmesh_client import VidmeshClient
from vidmesh_client._ledger import UploadLedger

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Screen:
    name: str
    width: int
    height: int
    phone: bool


SCREENS = [Screen("desktop", 1280, 800, phone=False), Screen("phone", 390, 844, phone=True)]


@dataclass(frozen=True)
class Viewer:
    page: Page
    screen: Screen


@pytest.fixture(params=SCREENS, ids=[screen.name for screen in SCREENS])
def viewer(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Viewer]:
    screen: Screen = request.param
    context = browser.new_context(viewport={"width": screen.width, "height": screen.height}, is_mobile=screen.phone, has_touch=screen.phone)
    yield Viewer(context.new_page(), screen)
    context.close()


@pytest.fixture(scope="module")
def failed_video(mesh: Mesh, alice_key: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A video whose upload is accepted but whose transcode fails: a picture wider than the ladder allows."""
    folder = tmp_path_factory.mktemp("failed")
    source = make_video(folder / "wide.mp4", width=8194, height=32, seconds=0.2, audio=False)
    with VidmeshClient(mesh.gateway, alice_key, ledger=UploadLedger(folder / "ledger.json")) as client:
        video_id = client.upload(source, title="A clip too wide", visibility=media_pb2.VISIBILITY_PUBLIC)
        wait_for_job(client, video_id, timeout=120)
        assert client.get_video(video_id).status == resources_pb2.VIDEO_STATUS_FAILED
    return video_id


@pytest.fixture(scope="module")
def portrait_video(ready_video: ReadyVideoFactory, alice_key: str, tmp_path_factory: pytest.TempPathFactory) -> ReadyVideo:
    source = make_video(tmp_path_factory.mktemp("portrait") / "upright.mp4", seconds=4, width=360, height=640)
    return ready_video(alice_key, title="An upright clip", source=source)


def box(locator: Locator) -> FloatRect:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not laid out"
    return found


def screenshot(viewer: Viewer, tmp_path: Path, state: str) -> Path:
    path = tmp_path / f"watch-{state}-{viewer.screen.name}.png"
    viewer.page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


def start_playing(viewer: Viewer, mesh: Mesh, video_id: str) -> Page:
    page = viewer.page
    page.goto(f"http://{mesh.gateway}/watch/{video_id}")
    page.wait_for_function("document.getElementById('player').currentTime > 1.2", timeout=30_000)
    return page


def assert_one_set_of_controls_in_view(viewer: Viewer) -> None:
    page, screen = viewer.page, viewer.screen
    assert page.locator("input[type=range]").count() == 1, "one seek bar"
    assert not page.evaluate("document.getElementById('player').controls"), "no native controls beside the page's own"
    stage = box(page.locator("#stage"))
    assert stage["y"] + stage["height"] <= screen.height, "the whole player, controls included, fits the window"
    for control in ("#seek", "#play", "#mute", "#time", "#quality", "#fullscreen"):
        assert page.locator(control).is_visible(), control
        inside = box(page.locator(control))
        assert stage["x"] <= inside["x"] and inside["x"] + inside["width"] <= stage["x"] + stage["width"] + 0.5, (
            f"{control} inside the player"
        )
    assert page.evaluate("document.documentElement.scrollWidth") <= screen.width, "nothing sticks out sideways"


def test_playing_fills_the_width_with_one_set_of_controls_time_and_unmute(
    viewer: Viewer, mesh: Mesh, public_video: ReadyVideo, tmp_path: Path
) -> None:
    page, screen = start_playing(viewer, mesh, public_video.id), viewer.screen
    screenshot(viewer, tmp_path, "playing")
    # The clip is 4 s long: pause it before it ends, and look at the rest on a still picture.
    assert page.locator("#play").get_attribute("aria-label") == "Pause"
    page.locator("#play").click()
    page.wait_for_function("document.getElementById('player').paused")
    assert page.locator("#play").get_attribute("aria-label") == "Play"
    assert_one_set_of_controls_in_view(viewer)

    # A 16:9 picture fills its column's width (the whole window on a phone; on a desktop, the
    # page less "Up next" beside it) with no bars: the element has the picture's shape.
    player = box(page.locator("#player"))
    content_width = screen.width if screen.phone else box(page.locator(".watch-main"))["width"]
    assert player["width"] == pytest.approx(content_width, abs=1)
    if not screen.phone:
        assert content_width > screen.width * 0.6, "the player keeps most of the width beside Up next"
    picture = page.evaluate("[document.getElementById('player').videoWidth, document.getElementById('player').videoHeight]")
    assert player["width"] / player["height"] == pytest.approx(picture[0] / picture[1], rel=0.01)

    # Autoplay starts muted: the time shows, and so does a way to turn the sound on.
    assert re.fullmatch(r"0:0[1-4] / 0:04", page.locator("#time").inner_text()), page.locator("#time").inner_text()
    unmute = page.locator("#unmute")
    assert page.evaluate("document.getElementById('player').muted") and unmute.is_visible()
    unmute_box = box(unmute)
    assert player["y"] <= unmute_box["y"] and unmute_box["y"] + unmute_box["height"] <= player["y"] + player["height"]
    unmute.click()
    assert not page.evaluate("document.getElementById('player').muted")
    assert unmute.is_hidden() and page.locator("#mute").get_attribute("aria-label") == "Mute"
    screenshot(viewer, tmp_path, "paused-with-sound")

    # Pointing at the seek bar's far end shows that moment's thumbnail, above the bar and inside the player.
    seek = box(page.locator("#seek"))
    page.mouse.move(seek["x"] + seek["width"] - 2, seek["y"] + seek["height"] / 2)
    page.locator("#preview").wait_for(state="visible")
    preview, stage = box(page.locator("#preview")), box(page.locator("#stage"))
    assert preview["y"] + preview["height"] <= seek["y"] and stage["y"] <= preview["y"]
    assert stage["x"] <= preview["x"] and preview["x"] + preview["width"] <= stage["x"] + stage["width"]
    screenshot(viewer, tmp_path, "seeking")


def test_a_portrait_video_is_upright_and_named_as_the_server_names_it(
    viewer: Viewer, mesh: Mesh, portrait_video: ReadyVideo, alice_key: str, tmp_path: Path
) -> None:
    page, screen = start_playing(viewer, mesh, portrait_video.id), viewer.screen
    screenshot(viewer, tmp_path, "portrait")
    with VidmeshClient(mesh.gateway, alice_key, ledger=UploadLedger(tmp_path / "ledger.json")) as client:
        server_names = [rendition.name for rendition in client.get_video(portrait_video.id).renditions]
    assert server_names == ["360p", "240p", "144p"]  # named by the short side
    options = page.locator("#quality option").all_inner_texts()
    assert options[0].startswith("Auto") and options[1:] == server_names
    assert re.fullmatch(r"Auto \((360|240|144)p\)", options[0]), "Auto names the rendition it picked"

    assert_one_set_of_controls_in_view(viewer)
    player, stage = box(page.locator("#player")), box(page.locator("#stage"))
    if screen.phone:  # the full width, as a phone's video apps show it
        assert stage["width"] == screen.width
        assert player["height"] > player["width"] * 1.5, "upright"
    else:  # the picture's shape, narrowed to fit the window's height, and centred in its column
        assert player["height"] / player["width"] == pytest.approx(640 / 360, rel=0.01)
        column = box(page.locator(".watch-main"))
        assert stage["x"] + stage["width"] / 2 == pytest.approx(column["x"] + column["width"] / 2, abs=2)


def show_message(viewer: Viewer, tmp_path: Path, state: str, message: str) -> None:
    try:
        viewer.page.locator("#status").filter(has_text=message).wait_for(timeout=10_000)
    finally:  # the picture of a wrong message says more than the timeout
        screenshot(viewer, tmp_path, state)


def assert_a_message_and_no_player(viewer: Viewer) -> None:
    page, screen = viewer.page, viewer.screen
    assert page.locator("#stage").is_hidden() and page.locator("#player").is_hidden() and page.locator("#seek").is_hidden()
    notice = box(page.locator("#notice"))
    assert notice["y"] + notice["height"] <= screen.height and notice["width"] <= screen.width
    assert page.locator("#detail").is_visible() and page.locator("#detail").inner_text()
    assert page.locator("#home-link a").get_attribute("href") == "/"
    assert page.evaluate("document.getElementById('player').currentTime") == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= screen.width


def test_a_failed_video_shows_why_and_no_player(viewer: Viewer, mesh: Mesh, failed_video: str, tmp_path: Path) -> None:
    viewer.page.goto(f"http://{mesh.gateway}/watch/{failed_video}")
    show_message(viewer, tmp_path, "failed", "This video could not be processed.")
    assert_a_message_and_no_player(viewer)
    assert viewer.page.locator("#detail").inner_text().startswith("The video is 8194x32")  # the processing failure's reason
    title = viewer.page.locator("h1#title")
    assert title.inner_text() == "A clip too wide"
    assert box(title)["y"] < box(viewer.page.locator("#status"))["y"], "the title heads the message"


def test_a_private_video_without_a_token_shows_a_message_and_no_player(
    viewer: Viewer, mesh: Mesh, private_video: ReadyVideo, tmp_path: Path
) -> None:
    viewer.page.goto(f"http://{mesh.gateway}/watch/{private_video.id}")
    show_message(viewer, tmp_path, "private", "This video does not exist or is private.")
    assert_a_message_and_no_player(viewer)
    assert viewer.page.locator("h1#title").is_hidden()  # nothing about the video leaks


def test_an_unknown_video_shows_a_message_and_no_player(viewer: Viewer, mesh: Mesh, tmp_path: Path) -> None:
    viewer.page.goto(f"http://{mesh.gateway}/watch/no-such-video")
    show_message(viewer, tmp_path, "unknown", "This video does not exist or is private.")
    assert_a_message_and_no_player(viewer)
