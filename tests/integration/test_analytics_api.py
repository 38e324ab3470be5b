"""The analytics API through the gateway, against the whole mesh (real Valkey, aggregators):
ingest refuses bad events one by one with reasons while the rest count, drops resent events,
refuses oversized batches; metrics are the owner's only; view counts are public."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable

import grpc
import pytest
from google.protobuf import json_format, timestamp_pb2
from vidmesh.analytics.v1 import analytics_service_pb2 as pb2
from vidmesh.type.v1 import error_reason_pb2, media_pb2

from tests.support import http
from tests.support.catalog import catalog_video
from tests.support.event_log import duration
from tests.support.processes import Mesh
from vidmesh_client import VidmeshClient, VidmeshError

Kind = pb2.PlayerEventKind
R = error_reason_pb2


def player_event(video_id: str, session: str, kind: int, at: dt.datetime | None = None, **fields: object) -> pb2.PlayerEvent:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(at or dt.datetime.now(dt.UTC))
    return pb2.PlayerEvent(
        event_id=str(uuid.uuid4()),
        session_id=session,
        video=f"videos/{video_id}",
        kind=kind,  # type: ignore[arg-type]
        event_time=stamp,
        **fields,  # type: ignore[arg-type]
    )


def a_view(video_id: str, played_ms: int = 31_000) -> list[pb2.PlayerEvent]:
    """One session that starts and plays played_ms from the start (a view from 30 s)."""
    session = str(uuid.uuid4())
    return [
        player_event(video_id, session, Kind.PLAYER_EVENT_KIND_PLAY_REQUEST),
        player_event(video_id, session, Kind.PLAYER_EVENT_KIND_PLAY, startup_time=duration(250), rendition="360p"),
        player_event(
            video_id, session, Kind.PLAYER_EVENT_KIND_HEARTBEAT, position=duration(played_ms), played=duration(played_ms), rendition="360p"
        ),
    ]


def wait_for(check: Callable[[], bool], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within  # generous: the suite loads the machine; the benchmark measures lag
    while not check():
        assert time.monotonic() < deadline, f"{what} within {within} s"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def video(mesh: Mesh) -> str:
    return catalog_video(mesh, "alice", 120)


@pytest.fixture(scope="module")
def anonymous(mesh: Mesh) -> VidmeshClient:
    return VidmeshClient(mesh.gateway)


@pytest.fixture(scope="module")
def alice(mesh: Mesh, alice_key: str) -> VidmeshClient:
    return VidmeshClient(mesh.gateway, alice_key)


def test_bad_events_are_refused_one_by_one_while_the_rest_count(
    mesh: Mesh, video: str, anonymous: VidmeshClient, alice: VidmeshClient
) -> None:
    before = alice.video_metrics(video).totals
    good = a_view(video)
    session = str(uuid.uuid4())
    now = dt.datetime.now(dt.UTC)
    private = catalog_video(mesh, "bob", 60, media_pb2.VISIBILITY_PRIVATE)
    bad = [
        pb2.PlayerEvent(session_id=session, video=f"videos/{video}", kind=Kind.PLAYER_EVENT_KIND_PAUSE),  # no event_id
        player_event(video, session, Kind.PLAYER_EVENT_KIND_PAUSE, at=now + dt.timedelta(hours=2)),
        player_event(video, session, Kind.PLAYER_EVENT_KIND_PAUSE, at=now - dt.timedelta(days=3)),
        player_event("nosuchvideo1", session, Kind.PLAYER_EVENT_KIND_PLAY),
        player_event(private, session, Kind.PLAYER_EVENT_KIND_PLAY),  # bob's private video: not playable by anyone else
        player_event(video, session, Kind.PLAYER_EVENT_KIND_HEARTBEAT, position=duration(500_000)),  # the video is 120 s
        player_event(video, session, Kind.PLAYER_EVENT_KIND_HEARTBEAT, rendition="r" * 1000),
        player_event(video, session, Kind.PLAYER_EVENT_KIND_UNSPECIFIED),
    ]
    answer = anonymous.send_events([good[0], *bad, *good[1:]])
    assert (answer.accepted_count, answer.duplicate_count) == (3, 0), answer
    refused = {r.index: (r.reason, r.field) for r in answer.rejected_events}
    assert refused == {
        1: (R.EVENT_FIELD_MISSING, "event_id"),
        2: (R.EVENT_TIME_OUT_OF_RANGE, "event_time"),
        3: (R.EVENT_TIME_OUT_OF_RANGE, "event_time"),
        4: (R.EVENT_VIDEO_UNKNOWN, "video"),
        5: (R.EVENT_VIDEO_UNKNOWN, "video"),
        6: (R.EVENT_POSITION_OUT_OF_RANGE, "position"),
        7: (R.EVENT_FIELD_TOO_LONG, "rendition"),
        8: (R.EVENT_FIELD_MISSING, "kind"),
    }, answer
    assert all(r.description for r in answer.rejected_events)
    assert [r.event_id for r in answer.rejected_events if r.index == 6] == [bad[5].event_id]

    wait_for(lambda: alice.video_metrics(video).totals.views == before.views + 1, "the good session counted")
    after = alice.video_metrics(video).totals
    assert after.watch_time.ToMilliseconds() - before.watch_time.ToMilliseconds() == 31_000


def test_a_resent_batch_counts_once(video: str, anonymous: VidmeshClient, alice: VidmeshClient) -> None:
    before = alice.video_metrics(video).totals.views
    events = a_view(video)
    first = anonymous.send_events(events)
    again = anonymous.send_events(events)  # as a player does after a timeout it could not tell from a loss
    assert (first.accepted_count, first.duplicate_count) == (3, 0)
    assert (again.accepted_count, again.duplicate_count, list(again.rejected_events)) == (0, 3, [])
    wait_for(lambda: alice.video_metrics(video).totals.views == before + 1, "the session counted")
    time.sleep(1)  # the duplicates, had they been counted, would be by now too
    assert alice.video_metrics(video).totals.views == before + 1


def test_the_stream_answers_each_batch_in_order(video: str, anonymous: VidmeshClient) -> None:
    batches = [a_view(video), [pb2.PlayerEvent(event_id="x", session_id="s", video=f"videos/{video}")], a_view(video)]
    answers = list(anonymous.stream_events(batches))
    assert [(a.accepted_count, len(a.rejected_events)) for a in answers] == [(3, 0), (0, 1), (3, 0)]


def test_an_oversized_batch_is_refused_whole(mesh: Mesh, video: str, anonymous: VidmeshClient) -> None:
    events = [player_event(video, "big", Kind.PLAYER_EVENT_KIND_PAUSE) for _ in range(501)]
    with pytest.raises(VidmeshError) as refused:
        anonymous.send_events(events)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT and refused.value.reason == "EVENT_BATCH_TOO_LARGE"
    assert refused.value.metadata.get("max_events") == "500", refused.value.metadata

    body = json.dumps({"events": [json_format.MessageToDict(e) for e in events]}).encode()
    reply = http.request("POST", f"http://{mesh.gateway}/v1/events:send", {"content-type": "application/json"}, body)
    assert reply.status == 400, reply.text()
    assert reply.json()["details"][0]["reason"] == "EVENT_BATCH_TOO_LARGE", reply.text()


def test_rest_batches_are_accepted_as_json(mesh: Mesh, video: str) -> None:
    body = json.dumps({"events": [json_format.MessageToDict(e) for e in a_view(video)]}).encode()
    reply = http.request("POST", f"http://{mesh.gateway}/v1/events:send", {"content-type": "application/json"}, body)
    assert reply.status == 200, reply.text()
    assert reply.json().get("acceptedCount") == 3, reply.text()


def test_metrics_are_the_owners_only(mesh: Mesh, video: str, bob_key: str, anonymous: VidmeshClient) -> None:
    with VidmeshClient(mesh.gateway, bob_key) as bob:
        for read in (lambda: bob.video_metrics(video), lambda: bob.retention(video)):
            with pytest.raises(VidmeshError) as refused:
                read()
            assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED, refused.value
        with pytest.raises(VidmeshError) as unknown:
            bob.video_metrics("nosuchvideo1")
        assert unknown.value.code == grpc.StatusCode.NOT_FOUND
        with pytest.raises(VidmeshError) as others:
            bob.top_videos("alice")
        assert others.value.code == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(VidmeshError) as keyless:
        anonymous.video_metrics(video)
    assert keyless.value.code == grpc.StatusCode.UNAUTHENTICATED
    reply = http.get(f"http://{mesh.gateway}/v1/videos/{video}/metrics", {"authorization": f"Bearer {bob_key}"})
    assert reply.status == 403 and reply.json()["code"] == grpc.StatusCode.PERMISSION_DENIED.value[0], reply.text()


def test_retention_and_top_videos_answer_the_owner(video: str, anonymous: VidmeshClient, alice: VidmeshClient) -> None:
    anonymous.send_events(a_view(video, played_ms=60_000))  # the first half of the video
    wait_for(lambda: alice.retention(video).views >= 1, "a view in the curve")
    curve = alice.retention(video)
    assert len(curve.buckets) == 100 and curve.video_duration.seconds == 120
    assert curve.buckets[0].audience_ratio == 1.0 and curve.buckets[0].views == curve.views
    assert curve.buckets[-1].views < curve.views  # nobody has watched to the end
    top = alice.top_videos("alice", order=pb2.TOP_VIDEOS_ORDER_VIEWS)
    assert f"videos/{video}" in [t.video for t in top.videos], top


def test_view_counts_are_public_and_leave_out_what_the_caller_cannot_see(mesh: Mesh, video: str, anonymous: VidmeshClient) -> None:
    private = catalog_video(mesh, "alice", 60, media_pb2.VISIBILITY_PRIVATE)
    counts = anonymous.view_counts([video, private, "nosuchvideo1"])
    assert set(counts) == {video}, counts
    reply = http.get(f"http://{mesh.gateway}/v1/videos:batchGetViewCounts?videos=videos/{video}")
    assert reply.status == 200, reply.text()
    (count,) = reply.json()["viewCounts"]
    assert count["video"] == f"videos/{video}" and int(count.get("views", 0)) == counts[video]
