"""Streams as resources through the gateway: create, read, list, rotate, end and delete, over
gRPC and REST; the key is shown once and only its owner manages a stream."""

from __future__ import annotations

import uuid

import grpc
import pytest
from vidmesh.live.v1 import live_service_pb2 as pb2
from vidmesh.live.v1 import live_service_pb2_grpc as pb2_grpc
from vidmesh.live.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from tests.support import http
from tests.support.errors import refused
from tests.support.processes import Mesh

pytestmark = pytest.mark.slow
LiveStream = resources_pb2.LiveStream
IDLE, LIVE, ENDED = (resources_pb2.LIVE_STREAM_STATE_IDLE, resources_pb2.LIVE_STREAM_STATE_LIVE, resources_pb2.LIVE_STREAM_STATE_ENDED)


@pytest.fixture(scope="module")
def live(gateway: grpc.Channel) -> pb2_grpc.LiveServiceStub:
    return pb2_grpc.LiveServiceStub(gateway)


def auth(key: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {key}"),)


def create(live: pb2_grpc.LiveServiceStub, key: str, **fields: object) -> LiveStream:
    stream = LiveStream(**({"title": "my stream"} | fields))  # type: ignore[arg-type]
    return live.CreateStream(pb2.CreateStreamRequest(stream=stream), metadata=auth(key)).stream  # type: ignore[no-any-return]


def test_a_new_stream_shows_its_key_once_with_where_to_publish(live: pb2_grpc.LiveServiceStub, alice_key: str, mesh: Mesh) -> None:
    made = create(live, alice_key, title="Saturday session", record=True)
    assert made.state == IDLE and made.owner == "alice" and made.record
    assert made.stream_key.startswith("vsk_") and len(made.stream_key) > 40
    assert made.ingest_url == f"rtmp://127.0.0.1:{mesh.ports['rtmp']}/live"
    assert made.master_playlist_path == f"/live/{made.id}/master.m3u8"
    assert made.visibility == media_pb2.VISIBILITY_PUBLIC
    got = live.GetStream(pb2.GetStreamRequest(name=made.name)).stream  # anyone may read a public stream
    assert got.title == "Saturday session" and got.stream_key == "" and got.state == IDLE
    rest = http.get(f"http://{mesh.gateway}/v1/{made.name}").json()["stream"]
    assert rest["title"] == "Saturday session" and not rest.get("streamKey")


def test_a_retried_create_returns_the_same_stream_without_its_key(live: pb2_grpc.LiveServiceStub, alice_key: str) -> None:
    request = pb2.CreateStreamRequest(stream=LiveStream(title="retried"), request_id=str(uuid.uuid4()))
    first = live.CreateStream(request, metadata=auth(alice_key)).stream
    again = live.CreateStream(request, metadata=auth(alice_key)).stream
    assert again.name == first.name and first.stream_key and again.stream_key == ""


def test_only_the_owner_manages_a_stream(live: pb2_grpc.LiveServiceStub, alice_key: str, bob_key: str) -> None:
    made = create(live, alice_key)
    for call in (
        lambda: live.EndStream(pb2.EndStreamRequest(name=made.name), metadata=auth(bob_key)),
        lambda: live.RotateStreamKey(pb2.RotateStreamKeyRequest(name=made.name), metadata=auth(bob_key)),
        lambda: live.DeleteStream(pb2.DeleteStreamRequest(name=made.name), metadata=auth(bob_key)),
    ):
        code, info, _ = refused(call)
        assert (code, info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_OWNER")
    code, info, _ = refused(lambda: live.EndStream(pb2.EndStreamRequest(name=made.name)))
    assert (code, info.reason) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_REQUIRED")
    private = create(live, alice_key, visibility=media_pb2.VISIBILITY_PRIVATE)
    code, info, _ = refused(lambda: live.GetStream(pb2.GetStreamRequest(name=private.name), metadata=auth(bob_key)))
    assert (code, info.reason) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")  # not PERMISSION_DENIED: it would reveal it
    assert live.GetStream(pb2.GetStreamRequest(name=private.name), metadata=auth(alice_key)).stream.id == private.id


def test_rotating_gives_a_new_key_and_ending_is_final(live: pb2_grpc.LiveServiceStub, alice_key: str, mesh: Mesh) -> None:
    made = create(live, alice_key)
    rotated = live.RotateStreamKey(pb2.RotateStreamKeyRequest(name=made.name), metadata=auth(alice_key)).stream
    assert rotated.stream_key.startswith("vsk_") and rotated.stream_key != made.stream_key
    reply = http.request("POST", f"http://{mesh.gateway}/v1/{made.name}:end", {"authorization": f"Bearer {alice_key}"}, b"{}")
    assert reply.status == 200 and reply.json()["stream"]["state"] == "LIVE_STREAM_STATE_ENDED", reply.text
    ended = live.GetStream(pb2.GetStreamRequest(name=made.name)).stream
    assert ended.state == ENDED and ended.end_reason == resources_pb2.END_REASON_ENDED_BY_OWNER and ended.HasField("end_time")
    again = live.EndStream(pb2.EndStreamRequest(name=made.name), metadata=auth(alice_key)).stream  # idempotent
    assert again.end_time == ended.end_time
    code, info, _ = refused(lambda: live.RotateStreamKey(pb2.RotateStreamKeyRequest(name=made.name), metadata=auth(alice_key)))
    assert (code, info.reason, info.metadata["stream"]) == (grpc.StatusCode.FAILED_PRECONDITION, "STREAM_ENDED", made.name)


def test_listings_show_an_owners_streams_newest_first_and_others_only_public_ones(
    live: pb2_grpc.LiveServiceStub, alice_key: str, bob_key: str, mesh: Mesh
) -> None:
    carol = mesh.create_key("carol-lister")
    public = create(live, carol, title="public one")
    unlisted = create(live, carol, title="unlisted one", visibility=media_pb2.VISIBILITY_UNLISTED)
    own = live.ListStreams(pb2.ListStreamsRequest(owner="carol-lister", page_size=1), metadata=auth(carol))
    assert [s.id for s in own.streams] == [unlisted.id] and own.next_page_token
    rest = live.ListStreams(pb2.ListStreamsRequest(owner="carol-lister", page_size=1, page_token=own.next_page_token), metadata=auth(carol))
    assert [s.id for s in rest.streams] == [public.id] and not rest.next_page_token
    theirs = live.ListStreams(pb2.ListStreamsRequest(owner="carol-lister"), metadata=auth(bob_key))
    assert [s.id for s in theirs.streams] == [public.id]
    code, info, _ = refused(
        lambda: live.ListStreams(pb2.ListStreamsRequest(owner="carol-lister", page_token=own.next_page_token), metadata=auth(bob_key))
    )
    assert (code, info.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_MISMATCH")
    on_air = live.ListStreams(pb2.ListStreamsRequest(state=LIVE)).streams
    assert public.id not in {s.id for s in on_air}  # never went live
    live.DeleteStream(pb2.DeleteStreamRequest(name=public.name), metadata=auth(carol))
    code, _, _ = refused(lambda: live.GetStream(pb2.GetStreamRequest(name=public.name)))
    assert code == grpc.StatusCode.NOT_FOUND


def test_bad_requests_get_clear_statuses(live: pb2_grpc.LiveServiceStub, alice_key: str) -> None:
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    for request, fields in (
        (pb2.CreateStreamRequest(stream=LiveStream(title="")), ["stream.title"]),
        (pb2.CreateStreamRequest(stream=LiveStream(title="x" * 201, description="d" * 5001)), ["stream.title", "stream.description"]),
        (pb2.CreateStreamRequest(stream=LiveStream(title="ok"), request_id="has spaces"), ["request_id"]),
    ):
        code, _, found = refused(lambda r=request: live.CreateStream(r, metadata=auth(alice_key)))  # type: ignore[misc]
        assert (code, found) == (invalid, fields)
    for listing, field in (
        (pb2.ListStreamsRequest(), "owner"),
        (pb2.ListStreamsRequest(owner="alice", state=ENDED), "state"),
        (pb2.ListStreamsRequest(owner="alice", page_size=-1), "page_size"),
    ):
        code, _, found = refused(lambda r=listing: live.ListStreams(r))  # type: ignore[misc]
        assert (code, found) == (invalid, [field])
    code, _, found = refused(lambda: live.GetStream(pb2.GetStreamRequest(name="videos/abc")))
    assert (code, found) == (invalid, ["name"])
    code, info, _ = refused(lambda: live.GetStream(pb2.GetStreamRequest(name="streams/doesNotExist")))
    assert (code, info.reason) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")


def test_an_owner_has_a_limited_number_of_streams(mesh: Mesh) -> None:
    """live.max_streams_per_owner is 100 by default: the 101st is refused with a QuotaFailure."""
    key = mesh.create_key("prolific")
    channel = grpc.insecure_channel(mesh.gateway)
    live = pb2_grpc.LiveServiceStub(channel)
    for i in range(100):
        create(live, key, title=f"stream {i}")
    code, info, _ = refused(lambda: create(live, key, title="one too many"))
    assert (code, info.reason, info.metadata["maximum"]) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "STREAMS_QUOTA_EXCEEDED", "100")
    channel.close()
