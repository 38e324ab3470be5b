"""The live watch page's chat (live-chat.js) in Chromium against the session mesh: WatchChat read
over gRPC-Web through Envoy, posts over REST. Bob, signed in, chats with an anonymous viewer
while alice, the stream's owner, deletes and mutes from her own page; a burst is rate limited;
EndStream closes the chat everywhere. A call cut short is made again without repeating or
keeping deleted messages, and the page's own protobuf and gRPC-Web reader is checked against
what the protobuf runtime writes, in every chunking.

The chat works on an IDLE stream, so no encoder runs here. Screenshots are saved at desktop and
phone sizes under each test's tmp dir, or under $VIDMESH_LIVE_SCREENSHOTS when set.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from playwright.sync_api import Browser, BrowserContext, Page, Route
from vidmesh.live.v1 import live_service_pb2 as pb2
from vidmesh.live.v1 import live_service_pb2_grpc as pb2_grpc
from vidmesh.live.v1 import resources_pb2

from tests.support.processes import Mesh

pytestmark = pytest.mark.slow

ChatMessage = resources_pb2.ChatMessage
GRPC_WEB = "application/grpc-web+proto"


@dataclass(frozen=True)
class Screen:
    name: str
    width: int
    height: int
    phone: bool


DESKTOP, PHONE = Screen("desktop", 1280, 900, phone=False), Screen("phone", 390, 844, phone=True)


@dataclass
class Viewers:
    """Browser contexts of one size, one per person, closed (and checked for page errors) at the end."""

    browser: Browser
    screen: Screen
    shots: Path
    gateway: str
    errors: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    def open(self, stream_id: str, key: str = "", watch_chat: Callable[[Route], None] | None = None) -> Page:
        """The live page of stream_id, signed in with key if given; watch_chat, if given, answers
        the page's WatchChat calls in place of the gateway."""
        screen = self.screen
        context = self.browser.new_context(
            viewport={"width": screen.width, "height": screen.height}, is_mobile=screen.phone, has_touch=screen.phone
        )
        if key:  # signed in as the studio pages leave it: the key in this tab's sessionStorage
            context.add_init_script(f"sessionStorage.setItem('vidmesh.apiKey', {key!r})")
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        if watch_chat:
            page.route("**/vidmesh.live.v1.LiveService/WatchChat", watch_chat)
        page.goto(f"http://{self.gateway}/stream/{stream_id}")
        page.locator("#chat").wait_for()
        return page

    def screenshot(self, page: Page, name: str) -> None:
        path = self.shots / f"{name}-{self.screen.name}.png"
        page.screenshot(path=str(path))
        print(f"screenshot: {path}")


def make_viewers(browser: Browser, mesh: Mesh, screen: Screen, tmp_path: Path) -> Iterator[Viewers]:
    shots = Path(os.environ.get("VIDMESH_LIVE_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    viewers = Viewers(browser, screen, shots, mesh.gateway)
    yield viewers
    for context in viewers.contexts:
        context.close()
    assert not viewers.errors, f"the page threw: {viewers.errors}"


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def viewers(browser: Browser, mesh: Mesh, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Viewers]:
    yield from make_viewers(browser, mesh, request.param, tmp_path)


@pytest.fixture
def desktop_viewers(browser: Browser, mesh: Mesh, tmp_path: Path) -> Iterator[Viewers]:
    yield from make_viewers(browser, mesh, DESKTOP, tmp_path)


@pytest.fixture(scope="module")
def live(gateway: grpc.Channel) -> pb2_grpc.LiveServiceStub:
    return pb2_grpc.LiveServiceStub(gateway)


def auth(key: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {key}"),)


def new_stream(live: pb2_grpc.LiveServiceStub, key: str, title: str) -> resources_pb2.LiveStream:
    stream = resources_pb2.LiveStream(title=title, description="Made by the live chat page tests.")
    return live.CreateStream(pb2.CreateStreamRequest(stream=stream), metadata=auth(key)).stream  # type: ignore[no-any-return]


def post(live: pb2_grpc.LiveServiceStub, stream: resources_pb2.LiveStream, key: str, text: str) -> ChatMessage:
    request = pb2.PostChatMessageRequest(parent=stream.name, text=text, request_id=uuid.uuid4().hex)
    return live.PostChatMessage(request, metadata=auth(key)).message  # type: ignore[no-any-return]


def shown(page: Page) -> list[tuple[str, str]]:
    """(author, text) of each message in the panel, top to bottom."""
    pairs = page.eval_on_selector_all(
        "#chat-list li",
        "items => items.map((li) => [li.querySelector('.chat-author').textContent, li.querySelector('.chat-text').textContent])",
    )
    return [(author, text) for author, text in pairs]


def wait_shown(page: Page, text: str, present: bool = True, timeout_ms: int = 10_000) -> None:
    page.wait_for_function(
        "([text, present]) => [...document.querySelectorAll('#chat-list .chat-text')].some((t) => t.textContent === text) === present",
        arg=[text, present],
        timeout=timeout_ms,
    )


def feedback_says(page: Page, words: str) -> str:
    page.locator("#chat-feedback", has_text=words).wait_for(timeout=10_000)
    return page.locator("#chat-feedback").inner_text()


def send(page: Page, text: str) -> None:
    """Types text into the box (which takes away the sentence about the last one) and presses Enter;
    returns once it was posted (the box empties) or refused (a sentence says why)."""
    page.fill("#chat-text", text)
    page.press("#chat-text", "Enter")
    page.wait_for_function(
        "() => document.getElementById('chat-text').value === '' || !document.getElementById('chat-feedback').hidden", timeout=10_000
    )


def message_item(page: Page, text: str) -> Any:
    return page.locator("#chat-list li", has=page.locator(".chat-text", has_text=text))


def moderate(page: Page, text: str, action: str) -> None:
    item = message_item(page, text)
    item.hover()  # with a pointer, the tools show for the message under it
    item.locator(f"button[data-action={action}]").click()


# -- chatting -----------------------------------------------------------------------------------


def test_viewers_chat_the_owner_deletes_and_mutes_a_burst_is_limited_and_the_end_closes_it(
    viewers: Viewers, live: pb2_grpc.LiveServiceStub, alice_key: str, bob_key: str
) -> None:
    stream = new_stream(live, alice_key, "Chat with the workshop")
    anonymous = viewers.open(stream.id)
    bob = viewers.open(stream.id, bob_key)
    alice = viewers.open(stream.id, alice_key)

    # Without a key: the messages, and a way to sign in instead of the box.
    assert anonymous.locator("#chat-sign-in").is_visible() and anonymous.locator("#chat-form").is_hidden()
    assert "Sign in with your API key to chat" in anonymous.locator("#chat-sign-in").inner_text()
    anonymous.locator("#chat-empty", has_text="No messages yet").wait_for()
    # Three pages, three WatchChat calls: three viewers, under the title.
    anonymous.locator("#viewers", has_text="3 watching").wait_for(timeout=10_000)

    hello = "Hello <b>everyone</b> & welcome"  # shown as typed, never as markup
    send(bob, hello)
    for page in (anonymous, bob, alice):
        wait_shown(page, hello)
        assert shown(page) == [("bob", hello)]
    assert anonymous.locator("#chat-list b").count() == 0
    assert bob.locator("#chat-count").inner_text() == "0/500"
    viewers.screenshot(anonymous, "chat-signed-out")

    # The owner gets the tools; bob, signed in but not the owner, does not.
    alice.locator("#chat-list.moderating").wait_for()
    assert bob.locator("#chat-list.moderating").count() == 0
    assert message_item(bob, hello).locator("button[data-action=delete]").is_hidden()
    message_item(alice, hello).hover()
    viewers.screenshot(alice, "chat-owner")
    moderate(alice, hello, "delete")
    for page in (anonymous, bob, alice):
        wait_shown(page, hello, present=False)

    rude = "a rude remark"
    send(bob, rude)
    wait_shown(alice, rude)
    moderate(alice, rude, "mute")
    assert "bob is muted until" in feedback_says(alice, "is muted")
    send(bob, "let me speak")
    assert "alice has muted you in this chat until" in feedback_says(bob, "muted you")
    assert bob.input_value("#chat-text") == "let me speak", "a refused message stays in the box"
    viewers.screenshot(bob, "chat-muted")
    live.MuteChatAuthor(pb2.MuteChatAuthorRequest(parent=stream.name, author="bob", duration={"seconds": 0}), metadata=auth(alice_key))

    # Five in a burst, then one every 2 s: the sixth (or so: the refill goes on) is refused.
    for i in range(8):
        send(bob, f"burst {i}")
        if bob.locator("#chat-feedback").is_visible():
            break
    assert "You are sending messages too fast. Wait" in feedback_says(bob, "too fast")
    assert bob.input_value("#chat-text") == f"burst {i}"
    viewers.screenshot(bob, "chat-rate-limited")

    live.EndStream(pb2.EndStreamRequest(name=stream.name), metadata=auth(alice_key))
    for page in (anonymous, bob, alice):
        page.locator("#chat-ended", has_text="Chat has ended").wait_for(timeout=10_000)
        assert page.locator("#chat-form").is_hidden() and page.locator("#chat-sign-in").is_hidden()
        assert page.locator("#chat-list.moderating").count() == 0
    assert ("bob", "burst 0") in shown(anonymous), "the messages stay to be read"
    # The chat hears of the end first and has the page look at the stream at once.
    anonymous.locator("#overlay-title", has_text="This stream has ended").wait_for(timeout=1500)
    anonymous.locator("#viewers").wait_for(state="hidden")
    viewers.screenshot(anonymous, "chat-ended")


def test_a_cut_call_is_made_again_without_repeats_or_deleted_messages(
    desktop_viewers: Viewers, live: pb2_grpc.LiveServiceStub, alice_key: str, bob_key: str
) -> None:
    """The first call delivers what the chat held a while ago and is cut off (no trailers), the
    second finds the server away; the third is the real one: its history has lost a message the
    owner deleted meanwhile and gained one posted meanwhile."""
    stream = new_stream(live, alice_key, "Chat through a bad network")
    first, second = post(live, stream, bob_key, "first"), post(live, stream, bob_key, "second")
    deleted = post(live, stream, bob_key, "deleted while away")
    live.DeleteChatMessage(pb2.DeleteChatMessageRequest(name=deleted.name), metadata=auth(alice_key))
    post(live, stream, alice_key, "posted while away")

    calls: list[str] = []

    def watch_chat(route: Route) -> None:
        calls.append(route.request.url)
        if len(calls) == 1:
            stale = b"".join(frame(pb2.WatchChatResponse(message=m).SerializeToString()) for m in (first, second, deleted))
            route.fulfill(status=200, headers={"content-type": GRPC_WEB}, body=stale)
        elif len(calls) == 2:  # trailers-only, as Envoy answers while the service is down
            route.fulfill(
                status=200, headers={"content-type": GRPC_WEB, "grpc-status": "14", "grpc-message": "no%20healthy%20upstream"}, body=b""
            )
        else:
            route.continue_()

    page = desktop_viewers.open(stream.id, watch_chat=watch_chat)
    page.locator("#chat-connection", has_text="Reconnecting to the chat").wait_for(timeout=5000)
    desktop_viewers.screenshot(page, "chat-reconnecting")
    wait_shown(page, "posted while away", timeout_ms=15_000)
    page.locator("#chat-connection").wait_for(state="hidden")
    assert shown(page) == [("bob", "first"), ("bob", "second"), ("alice", "posted while away")]
    assert len(calls) == 3


# -- the page's wire format ---------------------------------------------------------------------


def frame(message: bytes, flag: int = 0) -> bytes:
    return struct.pack(">BI", flag, len(message)) + message


# Fields the page does not know, one of each wire type: varint 150, "abc", fixed32, fixed64.
UNKNOWN_FIELDS = (
    bytes([9 << 3 | 0, 0x96, 0x01, 10 << 3 | 2, 3]) + b"abc" + bytes([11 << 3 | 5]) + b"\x01\x02\x03\x04" + bytes([12 << 3 | 1]) + bytes(8)
)

DECODE_IN_CHUNKS_JS = """([body, size]) => {
  const bytes = Uint8Array.from(body), frames = new GrpcWebFrames(), out = [];
  for (let at = 0; at < bytes.length; at += size) {
    for (const f of frames.push(bytes.slice(at, at + size))) {
      if (f.flag & 0x80) { out.push({ trailers: grpcTrailers(f.data) }); continue; }
      const r = decodeWatchChatResponse(f.data);
      if (r.message) r.message.createTime = r.message.createTime.toISOString();
      out.push(r);
    }
  }
  return out;
}"""


def test_the_pages_protobuf_and_grpc_web_reader_reads_what_the_protobuf_runtime_writes(mesh: Mesh, page: Page) -> None:
    page.goto(f"http://{mesh.gateway}/stream/no-such-stream")  # any page that loads live-chat.js
    page.locator("#status", has_text="does not exist").wait_for()
    sent = ChatMessage(
        name="streams/s1/chatMessages/1796411656369-0",
        author="zoë",
        text="héllo 👋 <b>",
        create_time=timestamp_pb2.Timestamp(seconds=1_796_411_656, nanos=369_000_000),
    )
    # Unknown fields inside the message too: the runtime keeps them through a parse, and writes them.
    with_unknown = ChatMessage.FromString(sent.SerializeToString() + UNKNOWN_FIELDS)
    responses = [
        pb2.WatchChatResponse(message=with_unknown),
        pb2.WatchChatResponse(deleted_message=sent.name),
        pb2.WatchChatResponse(stream_ended=True),
        pb2.WatchChatResponse(viewer_count=12_345_678_901),  # past 32 bits
    ]
    body = b"".join(frame(r.SerializeToString() + UNKNOWN_FIELDS) for r in responses)
    body += frame(b"grpc-status:0\r\ngrpc-message:all%20done\r\n", flag=0x80)
    expected: list[dict[str, Any]] = [
        {
            "event": "message",
            "message": {"name": sent.name, "author": "zoë", "text": "héllo 👋 <b>", "createTime": "2026-12-04T19:14:16.369Z"},
        },
        {"event": "deletedMessage", "deletedMessage": sent.name},
        {"event": "streamEnded", "streamEnded": True},
        {"event": "", "viewerCount": 12_345_678_901},
        {"trailers": {"code": 0, "message": "all done"}},
    ]
    # Every chunk size up to 7 bytes (frames split anywhere), and the whole body in one chunk.
    for size in [*range(1, 8), len(body)]:
        decoded: list[dict[str, Any]] = page.evaluate(DECODE_IN_CHUNKS_JS, [list(body), size])
        assert len(decoded) == len(expected), (size, decoded)
        for want, got in zip(expected, decoded, strict=True):
            assert {k: got.get(k) for k in want} == want, (size, got)

    for history in (0, 1, 100):
        written = bytes(page.evaluate("([p, h]) => [...grpcWebFrame(encodeWatchChatRequest(p, h))]", ["streams/s1", history]))
        assert written[:5] == struct.pack(">BI", 0, len(written) - 5)
        assert pb2.WatchChatRequest.FromString(written[5:]) == pb2.WatchChatRequest(parent="streams/s1", history_size=history)
