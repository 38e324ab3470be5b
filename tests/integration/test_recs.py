"""Recommendations through the gateway, against the whole mesh: trending for new viewers, what
is watched or disliked or hidden never recommended, reactions, bad requests, and the newcomer's
journey (watch three videos of a topic, `vidmesh recs train`, see that topic recommended, with
why), with click-through counted per model version.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
import uuid

import duckdb
import grpc
import pytest
from vidmesh.analytics.v1 import analytics_service_pb2 as analytics_pb2
from vidmesh.recs.v1 import recs_service_pb2 as pb2
from vidmesh.recs.v1 import recs_service_pb2_grpc as pb2_grpc
from vidmesh.type.v1 import media_pb2

from tests.integration.test_analytics_api import player_event, wait_for
from tests.support import http
from tests.support.catalog import catalog_video
from tests.support.errors import refused
from tests.support.event_log import duration
from tests.support.interactions import synthetic_history, write_warehouse
from tests.support.processes import Mesh
from vidmesh_client import VidmeshClient
from vidmesh_services.analytics.archive import data_files

pytestmark = pytest.mark.slow
Kind = analytics_pb2.PlayerEventKind
PERSONAL, SIMILAR, TRENDING = (
    pb2.RECOMMENDATION_REASON_PERSONALIZED,
    pb2.RECOMMENDATION_REASON_SIMILAR,
    pb2.RECOMMENDATION_REASON_TRENDING,
)


def watched(video_id: str, viewer_id: str, seconds: int = 60, to_the_end: bool = True) -> list[analytics_pb2.PlayerEvent]:
    """A session of viewer_id playing `seconds` of the video from the start (a view from 30)."""
    session = str(uuid.uuid4())
    events = [
        player_event(video_id, session, Kind.PLAYER_EVENT_KIND_PLAY_REQUEST, viewer_id=viewer_id),
        player_event(video_id, session, Kind.PLAYER_EVENT_KIND_PLAY, startup_time=duration(200), viewer_id=viewer_id),
    ]
    for at in range(30, seconds + 1, 30):
        kind = Kind.PLAYER_EVENT_KIND_ENDED if to_the_end and at == seconds else Kind.PLAYER_EVENT_KIND_HEARTBEAT
        events.append(player_event(video_id, session, kind, position=duration(at * 1000), played=duration(30_000), viewer_id=viewer_id))
    return events


def feed(mesh: Mesh, **params: object) -> dict[str, object]:
    query = urllib.parse.urlencode({k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()})
    reply = http.get(f"http://{mesh.gateway}/v1/recommendations?{query}")
    assert reply.status == 200, reply.text
    found: dict[str, object] = reply.json()
    return found


def entries(found: dict[str, object]) -> list[tuple[str, str]]:
    return [(r["video"]["id"], r["reason"]) for r in found.get("recommendations", [])]  # type: ignore[attr-defined, index]


@pytest.fixture(scope="module")
def recs(gateway: grpc.Channel) -> pb2_grpc.RecsServiceStub:
    return pb2_grpc.RecsServiceStub(gateway)


def test_bad_requests_get_clear_statuses(mesh: Mesh, recs: pb2_grpc.RecsServiceStub) -> None:
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    for request, field in (
        (pb2.GetRecommendationsRequest(page_size=-1), "page_size"),
        (pb2.GetRecommendationsRequest(page_size=1_000_000), "page_size"),
        (pb2.GetRecommendationsRequest(seed_video="not-a-name"), "seed_video"),
        (pb2.GetRecommendationsRequest(seed_video="videos/abc", trending_only=True), "trending_only"),
        (pb2.GetRecommendationsRequest(viewer_id="x" * 65), "viewer_id"),
    ):
        assert refused(lambda r=request: recs.GetRecommendations(r))[::2] == (invalid, [field])  # type: ignore[misc]
    code, info, _ = refused(lambda: recs.GetRecommendations(pb2.GetRecommendationsRequest(seed_video="videos/doesNotExist")))
    assert (code, info.reason) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")

    video = catalog_video(mesh, "alice", 60)
    private = catalog_video(mesh, "alice", 60, media_pb2.VISIBILITY_PRIVATE)
    code, info, _ = refused(lambda: recs.SetReaction(pb2.SetReactionRequest(video=f"videos/{video}", reaction=pb2.REACTION_LIKE)))
    assert (code, info.reason) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_REQUIRED")
    like_private = pb2.SetReactionRequest(video=f"videos/{private}", reaction=pb2.REACTION_LIKE, viewer_id="v")
    assert refused(lambda: recs.SetReaction(like_private))[0] == grpc.StatusCode.NOT_FOUND
    unspecified = pb2.SetReactionRequest(video=f"videos/{video}", viewer_id="v")
    assert refused(lambda: recs.SetReaction(unspecified))[::2] == (invalid, ["reaction"])
    no_id = pb2.RecordShareRequest(video=f"videos/{video}", viewer_id="v")
    assert refused(lambda: recs.RecordShare(no_id))[::2] == (invalid, ["request_id"])
    too_many = pb2.RecordRecommendationEventsRequest(impression_tokens=["t"] * 101)
    assert refused(lambda: recs.RecordRecommendationEvents(too_many))[::2] == (invalid, ["impression_tokens"])
    forged = recs.RecordRecommendationEvents(pb2.RecordRecommendationEventsRequest(click_tokens=["bm90LW91cnM.AAAA", "junk"]))
    assert (forged.recorded_count, forged.ignored_count) == (0, 2)


def test_a_new_viewer_gets_trending_and_hidden_videos_never_appear(mesh: Mesh, alice_key: str) -> None:
    hot, warm, fading = (catalog_video(mesh, "alice", 60, title=f"trending {i}") for i in range(3))
    with VidmeshClient(mesh.gateway) as anonymous:
        for video, views in ((hot, 4), (warm, 2), (fading, 1)):
            for _ in range(views):
                assert anonymous.send_events(watched(video, str(uuid.uuid4()))).accepted_count > 0

    def ranked() -> list[str]:
        return [
            v for v, reason in entries(feed(mesh, viewerId=str(uuid.uuid4()), pageSize=100)) if reason == "RECOMMENDATION_REASON_TRENDING"
        ]

    wait_for(lambda: {hot, warm, fading} <= set(ranked()), "the three videos trending")
    order = ranked()
    assert order.index(hot) < order.index(warm) < order.index(fading)
    only = feed(mesh, trendingOnly=True, pageSize=100)
    assert {hot, warm, fading} <= {v for v, _ in entries(only)} and all(r == "RECOMMENDATION_REASON_TRENDING" for _, r in entries(only))

    with VidmeshClient(mesh.gateway, alice_key) as alice:
        alice.update_video(hot, visibility=media_pb2.VISIBILITY_PRIVATE)
        alice.delete_video(warm)
        # Nor are one's own videos recommended to oneself.
        mine = {r.video.id for r in alice.recommendations(page_size=100).recommendations}
        assert fading not in mine
    # Serving follows the catalog's change feed: hidden and deleted videos go within a poll.
    wait_for(lambda: not {hot, warm} & set(ranked()), "the private and the deleted video gone from trending", within=5)
    assert fading in ranked()


def test_what_a_viewer_watched_or_dislikes_is_not_recommended_to_them(mesh: Mesh) -> None:
    a, b = (catalog_video(mesh, "alice", 60, title=f"watched {i}") for i in range(2))
    viewer = str(uuid.uuid4())
    with VidmeshClient(mesh.gateway) as client:
        for video in (a, a, b):  # both trending; the viewer watches a
            client.send_events(watched(video, str(uuid.uuid4())))
        wait_for(lambda: {a, b} <= {v for v, _ in entries(feed(mesh, viewerId=viewer, pageSize=100))}, "a and b trending")
        client.send_events(watched(a, viewer))
        wait_for(lambda: a not in {v for v, _ in entries(feed(mesh, viewerId=viewer, pageSize=100))}, "a left out once watched")
        client.react(b, pb2.REACTION_DISLIKE, viewer_id=viewer)
        assert b not in {v for v, _ in entries(feed(mesh, viewerId=viewer, pageSize=100))}
        assert {a, b} <= {v for v, _ in entries(feed(mesh, viewerId=str(uuid.uuid4()), pageSize=100))}  # others still get both


def test_likes_can_be_taken_back_and_shares_count_once_per_request(mesh: Mesh, alice_key: str) -> None:
    video = catalog_video(mesh, "bob", 60)
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    with VidmeshClient(mesh.gateway) as client, VidmeshClient(mesh.gateway, alice_key) as alice:
        liked = client.react(video, pb2.REACTION_LIKE, viewer_id=one)
        assert (liked.like_count, liked.dislike_count, liked.viewer_reaction) == (1, 0, pb2.REACTION_LIKE)
        assert client.react(video, pb2.REACTION_LIKE, viewer_id=one).like_count == 1  # again: no change
        assert alice.react(video, pb2.REACTION_LIKE).like_count == 2  # a key's owner is a viewer of their own
        other = client.reactions(video, viewer_id=two)
        assert (other.like_count, other.viewer_reaction) == (2, pb2.REACTION_NONE)
        switched = client.react(video, pb2.REACTION_DISLIKE, viewer_id=one)
        assert (switched.like_count, switched.dislike_count, switched.viewer_reaction) == (1, 1, pb2.REACTION_DISLIKE)
        undone = client.react(video, pb2.REACTION_NONE, viewer_id=one)
        assert (undone.like_count, undone.dislike_count, undone.viewer_reaction) == (1, 0, pb2.REACTION_NONE)
        first = str(uuid.uuid4())
        assert client.share(video, first, viewer_id=two).share_count == 1
        assert client.share(video, first, viewer_id=two).share_count == 1  # a retry
        assert client.share(video, str(uuid.uuid4()), viewer_id=two).share_count == 2
    # The REST shapes a page uses.
    body = json.dumps({"reaction": "REACTION_LIKE", "viewerId": two}).encode()
    reply = http.request("POST", f"http://{mesh.gateway}/v1/videos/{video}:react", {"content-type": "application/json"}, body)
    assert reply.status == 200 and reply.json()["reactions"]["viewerReaction"] == "REACTION_LIKE", reply.text
    assert reply.json()["reactions"]["likeCount"] == "2"
    assert http.get(f"http://{mesh.gateway}/v1/videos/{video}/reactions?viewerId={two}").json()["reactions"]["shareCount"] == "2"


def archived(mesh: Mesh, sessions: set[str]) -> bool:
    files = data_files(mesh.home / "data" / "warehouse")  # (a bare glob also lists the archiver's temp files)
    if not files:
        return False
    with duckdb.connect() as db:
        rows = db.execute(
            "SELECT DISTINCT session_id FROM read_parquet($f) WHERE session_id IN (SELECT unnest($s))", {"f": files, "s": list(sessions)}
        )
        return {row[0] for row in rows.fetchall()} == sessions


def test_a_newcomer_who_watches_one_topic_is_recommended_that_topic(mesh: Mesh) -> None:
    videos = [catalog_video(mesh, "carol", 120, title=f"catalogue {i}") for i in range(40)]
    history, columns = synthetic_history(500, 40, 12_000, topics=4, seed=11, noise=0.05, video_ids=videos)
    write_warehouse(mesh.home / "data" / "warehouse", history, columns, at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=3))
    topic_of = dict(zip(videos, history.video_topic.tolist(), strict=True))
    topic = 2
    chosen = [v for v in videos if topic_of[v] == topic][:3]
    newcomer = str(uuid.uuid4())
    events = [event for video in chosen for event in watched(video, newcomer, seconds=120)]
    with VidmeshClient(mesh.gateway) as client:
        assert client.send_events(events).accepted_count == len(events)
    wait_for(lambda: archived(mesh, {e.session_id for e in events}), "the newcomer's sessions in the warehouse")

    trained = mesh.cli("recs", "train", timeout=300)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert "NDCG@10" in trained.stdout and "deployed:" in trained.stdout

    found = feed(mesh, viewerId=newcomer, pageSize=10)
    assert found["modelVersion"], found
    top = entries(found)
    personal = [v for v, reason in top if reason == "RECOMMENDATION_REASON_PERSONALIZED"]
    assert len(personal) >= 5, top
    assert not set(chosen) & {v for v, _ in top}  # what they watched is not offered again
    assert sum(topic_of.get(v) == topic for v in personal[:5]) >= 4, [topic_of.get(v) for v in personal]

    up_next = entries(feed(mesh, viewerId=newcomer, seedVideo=f"videos/{chosen[0]}", pageSize=10))
    similar = [v for v, reason in up_next if reason == "RECOMMENDATION_REASON_SIMILAR"]
    assert similar and sum(topic_of.get(v) == topic for v in similar[:5]) >= 4

    # Impressions and a click, counted once per token, reported per model version.
    tokens = [r["token"] for r in found["recommendations"]]  # type: ignore[attr-defined, index]
    body = json.dumps({"impressionTokens": tokens, "clickTokens": tokens[:1]}).encode()
    for expected in (len(tokens) + 1, 0):
        reply = http.request("POST", f"http://{mesh.gateway}/v1/recommendations:recordEvents", {"content-type": "application/json"}, body)
        assert reply.status == 200 and reply.json().get("recordedCount", 0) == expected, reply.text
    status = mesh.cli("recs", "status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    row = next(m for m in report["models"] if m["version"] == found["modelVersion"])
    assert report["current"] == found["modelVersion"] and row["clicks"] == 1 and row["impressions"] >= len(personal)
