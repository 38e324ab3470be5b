"""Live chat through the gateway: a message reaches every watcher (gRPC, gRPC-Web, the bidi Chat),
late joiners get the history, authors are rate limited, owners delete and mute, viewers are
counted, and every watcher is told when the stream ends."""

from __future__ import annotations

import contextlib
import queue
import struct
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator

import grpc
import pytest
from vidmesh.live.v1 import live_service_pb2 as pb2
from vidmesh.live.v1 import live_service_pb2_grpc as pb2_grpc
from vidmesh.live.v1 import resources_pb2

from tests.support.errors import refused
from tests.support.processes import Mesh

pytestmark = pytest.mark.slow
LiveStream = resources_pb2.LiveStream


@pytest.fixture(scope="module")
def live(gateway: grpc.Channel) -> pb2_grpc.LiveServiceStub:
    return pb2_grpc.LiveServiceStub(gateway)


def auth(key: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {key}"),)


def new_stream(live: pb2_grpc.LiveServiceStub, key: str) -> LiveStream:
    return live.CreateStream(pb2.CreateStreamRequest(stream=LiveStream(title="chat test")), metadata=auth(key)).stream  # type: ignore[no-any-return]


def post(live: pb2_grpc.LiveServiceStub, stream: LiveStream, key: str, text: str, request_id: str = "") -> resources_pb2.ChatMessage:
    request = pb2.PostChatMessageRequest(parent=stream.name, text=text, request_id=request_id or uuid.uuid4().hex)
    return live.PostChatMessage(request, metadata=auth(key)).message  # type: ignore[no-any-return]


class Watcher:
    """A WatchChat call read on a thread, its responses in a queue."""

    def __init__(self, live: pb2_grpc.LiveServiceStub, stream: LiveStream, history: int = 0):
        self.call = live.WatchChat(pb2.WatchChatRequest(parent=stream.name, history_size=history))
        self.responses: queue.Queue[pb2.WatchChatResponse | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for response in self.call:
                self.responses.put(response)
        except grpc.RpcError:
            pass
        self.responses.put(None)

    def next(self, what: str, timeout: float = 10) -> pb2.WatchChatResponse:
        """The next response that is not a keep-alive."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.responses.get(timeout=max(deadline - time.monotonic(), 0.01))
            assert response is not None, f"the call ended waiting for {what}"
            if response.WhichOneof("event"):
                return response

    def texts(self, count: int) -> list[str]:
        return [self.next("a message").message.text for _ in range(count)]


def test_a_message_reaches_every_watcher_and_late_joiners_get_the_history(
    live: pb2_grpc.LiveServiceStub, alice_key: str, bob_key: str
) -> None:
    stream = new_stream(live, alice_key)
    early = Watcher(live, stream)
    time.sleep(0.5)  # subscribed
    sent = post(live, stream, bob_key, "hello from bob")
    assert sent.author == "bob" and sent.name.startswith(f"{stream.name}/chatMessages/")
    got = early.next("bob's message").message
    assert (got.name, got.text, got.author) == (sent.name, "hello from bob", "bob")
    post(live, stream, alice_key, "welcome!")
    assert early.texts(1) == ["welcome!"]
    late = Watcher(live, stream, history=10)
    assert late.texts(2) == ["hello from bob", "welcome!"]
    early.call.cancel()
    late.call.cancel()


def test_a_retried_post_is_posted_once(live: pb2_grpc.LiveServiceStub, alice_key: str, bob_key: str) -> None:
    stream = new_stream(live, alice_key)
    request_id = uuid.uuid4().hex
    first = post(live, stream, bob_key, "once", request_id)
    again = post(live, stream, bob_key, "once", request_id)
    assert first.name == again.name
    history = Watcher(live, stream, history=10)
    assert history.texts(1) == ["once"]
    assert history.responses.get(timeout=12).WhichOneof("event") is None  # next comes a keep-alive, not a copy
    history.call.cancel()


def test_authors_are_rate_limited_and_texts_bounded(live: pb2_grpc.LiveServiceStub, alice_key: str, bob_key: str) -> None:
    stream = new_stream(live, alice_key)
    for i in range(5):  # the burst
        post(live, stream, bob_key, f"message {i}")
    code, info, _ = refused(lambda: post(live, stream, bob_key, "one too many"))
    assert (code, info.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "CHAT_RATE_LIMITED")
    assert 0 < int(info.metadata["retry_after_ms"]) <= 2000
    post(live, stream, alice_key, "others still may")
    for text, field in (("", "text"), ("   ", "text"), ("x" * 501, "text")):
        code, _, fields = refused(lambda t=text: post(live, stream, alice_key, t))  # type: ignore[misc]
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])
    code, info, _ = refused(lambda: live.PostChatMessage(pb2.PostChatMessageRequest(parent=stream.name, text="hi", request_id="r1")))
    assert (code, info.reason) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_REQUIRED")


def test_the_owner_deletes_and_mutes_and_nobody_else_may(live: pb2_grpc.LiveServiceStub, alice_key: str, bob_key: str, mesh: Mesh) -> None:
    stream = new_stream(live, alice_key)
    watcher = Watcher(live, stream)
    time.sleep(0.5)
    rude = post(live, stream, bob_key, "something rude")
    assert watcher.next("the message").message.name == rude.name
    code, info, _ = refused(lambda: live.DeleteChatMessage(pb2.DeleteChatMessageRequest(name=rude.name), metadata=auth(bob_key)))
    assert (code, info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_OWNER")
    live.DeleteChatMessage(pb2.DeleteChatMessageRequest(name=rude.name), metadata=auth(alice_key))
    assert watcher.next("the deletion").deleted_message == rude.name
    assert not Watcher(live, stream, history=10).responses.get(timeout=12).WhichOneof("event")  # gone from the history
    mute = pb2.MuteChatAuthorRequest(parent=stream.name, author="bob")
    code, info, _ = refused(lambda: live.MuteChatAuthor(mute, metadata=auth(bob_key)))
    assert (code, info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_OWNER")
    muted = live.MuteChatAuthor(mute, metadata=auth(alice_key))
    assert muted.mute_expire_time.seconds > time.time() + 500  # ten minutes by default
    code, info, _ = refused(lambda: post(live, stream, bob_key, "let me speak"))
    assert (code, info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "CHAT_MUTED") and info.metadata["until"]
    live.MuteChatAuthor(pb2.MuteChatAuthorRequest(parent=stream.name, author="bob", duration={"seconds": 0}), metadata=auth(alice_key))
    post(live, stream, bob_key, "sorry")
    assert watcher.texts(1) == ["sorry"]
    watcher.call.cancel()


def test_watchers_count_as_viewers_and_everyone_is_told_when_the_stream_ends(live: pb2_grpc.LiveServiceStub, alice_key: str) -> None:
    stream = new_stream(live, alice_key)
    watchers = [Watcher(live, stream) for _ in range(3)]
    deadline = time.monotonic() + 5
    while live.GetStream(pb2.GetStreamRequest(name=stream.name)).stream.viewer_count != 3:
        assert time.monotonic() < deadline, "three open watch calls are three viewers"
        time.sleep(0.2)
    live.EndStream(pb2.EndStreamRequest(name=stream.name), metadata=auth(alice_key))
    for watcher in watchers:
        assert watcher.next("the end").stream_ended
        assert watcher.responses.get(timeout=5) is None  # and then the call ends
        assert watcher.call.code() == grpc.StatusCode.OK
    code, info, _ = refused(lambda: post(live, stream, alice_key, "too late"))
    assert (code, info.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "STREAM_ENDED")
    late = Watcher(live, stream)
    assert late.next("the end").stream_ended  # an ended stream's chat says so at once


def chat_requests(first: pb2.ChatRequest, outbox: queue.Queue[pb2.ChatRequest | None]) -> Iterator[pb2.ChatRequest]:
    yield first
    while (request := outbox.get()) is not None:
        yield request


def test_the_bidirectional_chat_posts_reads_and_rejects_over_one_call(live: pb2_grpc.LiveServiceStub, alice_key: str, bob_key: str) -> None:
    stream = new_stream(live, alice_key)
    outbox: queue.Queue[pb2.ChatRequest | None] = queue.Queue()
    call = live.Chat(chat_requests(pb2.ChatRequest(parent=stream.name), outbox), metadata=auth(bob_key))
    replies: queue.Queue[pb2.ChatResponse] = queue.Queue()

    def read() -> None:
        with contextlib.suppress(grpc.RpcError):  # cancelled at the end
            for reply in call:
                replies.put(reply)

    threading.Thread(target=read, daemon=True).start()

    def next_event() -> pb2.ChatResponse:
        while not (reply := replies.get(timeout=10)).WhichOneof("event"):
            pass
        return reply

    time.sleep(0.5)
    outbox.put(pb2.ChatRequest(text="over the bidi call", request_id="mine-1"))
    own = next_event()
    assert (own.message.text, own.message.author, own.request_id) == ("over the bidi call", "bob", "mine-1")
    post(live, stream, alice_key, "from the owner")
    other = next_event()
    assert (other.message.text, other.request_id) == ("from the owner", "")
    outbox.put(pb2.ChatRequest(text="x" * 501, request_id="too-long"))
    rejected = next_event()
    assert (rejected.rejection, rejected.request_id) == (pb2.CHAT_REJECTION_REASON_INVALID_TEXT, "too-long")
    outbox.put(None)
    call.cancel()


def grpc_web_frame(message: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(message)) + message


def test_browsers_watch_over_grpc_web(live: pb2_grpc.LiveServiceStub, alice_key: str, bob_key: str, mesh: Mesh) -> None:
    """What the live page does: WatchChat over gRPC-Web through Envoy (binary framing)."""
    stream = new_stream(live, alice_key)
    post(live, stream, bob_key, "before you came")
    body = grpc_web_frame(pb2.WatchChatRequest(parent=stream.name, history_size=5).SerializeToString())
    request = urllib.request.Request(
        f"http://{mesh.gateway}/vidmesh.live.v1.LiveService/WatchChat",
        data=body,
        headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["content-type"].startswith("application/grpc-web")
        flag, length = struct.unpack(">BI", response.read(5))
        assert flag == 0
        first = pb2.WatchChatResponse.FromString(response.read(length))
        assert first.message.text == "before you came"
