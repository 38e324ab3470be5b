"""Search through the gateway against the real mesh: a video is findable within a second of
READY and gone within a second of hiding or deleting it; edits, typos, filters, orders and
paging do what the contract says; bad input gets INVALID_ARGUMENT; the indexer survives SIGKILL
and a lost index folder."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from grpc_status import rpc_status
from vidmesh.catalog.v1 import catalog_internal_service_pb2 as internal_pb2
from vidmesh.catalog.v1 import catalog_internal_service_pb2_grpc as internal_grpc
from vidmesh.catalog.v1 import catalog_service_pb2 as catalog_pb2
from vidmesh.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.search.v1 import search_service_pb2 as pb2
from vidmesh.search.v1 import search_service_pb2_grpc as pb2_grpc
from vidmesh.type.v1 import media_pb2

from tests.conftest import bearer
from tests.support.catalog import catalog_video
from tests.support.event_log import watch
from tests.support.processes import Mesh
from vidmesh_client import VidmeshClient

FRESH_SECONDS = 1.0  # the bound from a catalog change to search results


def word() -> str:
    """A word no other test's video has: consonants (nothing for the stemmer to cut), no letter
    twice in a row (so swapping two neighbours is a typo)."""
    letters = ["z", "q"]
    while len(letters) < 10:
        letter = secrets.choice("bcdfghjklmnpqrtvwx")
        if letter != letters[-1]:
            letters.append(letter)
    return "".join(letters)


@pytest.fixture(scope="module")
def search(gateway: grpc.Channel) -> pb2_grpc.SearchServiceStub:
    return pb2_grpc.SearchServiceStub(gateway)


@pytest.fixture(scope="module")
def catalog(gateway: grpc.Channel) -> catalog_grpc.CatalogServiceStub:
    return catalog_grpc.CatalogServiceStub(gateway)


def ids(response: pb2.SearchVideosResponse) -> list[str]:
    return [hit.video.id for hit in response.hits]


def until(check: Callable[[], bool], seconds: float) -> float:
    """Seconds until check() held; fails after `seconds`."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < seconds, f"not within {seconds}s"
        time.sleep(0.02)
    return time.monotonic() - start


# Two search processes read the index, each reloading on its own clock, so a change is seen
# once three calls in a row (spread round robin over both) agree.
AGREEING = 3


def agreed(check: Callable[[], bool]) -> Callable[[], bool]:
    return lambda: all(check() for _ in range(AGREEING))


def found(search: pb2_grpc.SearchServiceStub, query: str, video_id: str, **fields: Any) -> Callable[[], bool]:
    request = pb2.SearchVideosRequest(query=query, **fields)
    return lambda: all(video_id in ids(search.SearchVideos(request)) for _ in range(AGREEING))


def gone(search: pb2_grpc.SearchServiceStub, query: str, video_id: str) -> Callable[[], bool]:
    request = pb2.SearchVideosRequest(query=query)
    return lambda: all(video_id not in ids(search.SearchVideos(request)) for _ in range(AGREEING))


def bad_request(call: Callable[[], object]) -> list[str]:
    """The fields an INVALID_ARGUMENT names."""
    from google.rpc import error_details_pb2

    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    status = rpc_status.from_call(caught.value)
    assert status is not None
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            request = error_details_pb2.BadRequest()
            detail.Unpack(request)
            fields += [v.field for v in request.field_violations]
    return fields


def test_a_new_video_is_found_within_a_second_with_highlights_views_and_its_catalog_fields(
    mesh: Mesh, search: pb2_grpc.SearchServiceStub
) -> None:
    w = word()
    video_id = catalog_video(mesh, "alice", 42, title=f"Funny {w} cats", description=f"the {w} cats do funny things", tags=["pets"])
    assert until(found(search, f"{w} cat", video_id), FRESH_SECONDS) < FRESH_SECONDS
    hit = search.SearchVideos(pb2.SearchVideosRequest(query=f"{w} cat")).hits[0]
    assert hit.video.id == video_id and hit.video.owner == "alice" and hit.video.source.duration.seconds == 42
    assert hit.video.master_playlist_path.endswith("/master.m3u8") and hit.view_count == 0 and not hit.fuzzy and hit.score > 0
    title = next(s for s in hit.snippets if s.field == "title")
    assert "".join(p.text for p in title.parts) == f"Funny {w} cats"
    assert [p.text for p in title.parts if p.highlighted] == [w, "cats"]  # stemmed: "cat" found "cats"


def test_hidden_and_deleted_videos_leave_results_within_a_second_but_owners_still_find_their_own(
    mesh: Mesh, search: pb2_grpc.SearchServiceStub, catalog: catalog_grpc.CatalogServiceStub, alice_key: str, bob_key: str
) -> None:
    w = word()
    video_id = catalog_video(mesh, "alice", 30, title=f"{w} secret")
    until(found(search, w, video_id), FRESH_SECONDS)
    change = resources_pb2.Video(name=f"videos/{video_id}", visibility=media_pb2.VISIBILITY_PRIVATE)
    catalog.UpdateVideo(
        catalog_pb2.UpdateVideoRequest(video=change, update_mask=field_mask_pb2.FieldMask(paths=["visibility"])), metadata=bearer(alice_key)
    )
    assert until(gone(search, w, video_id), FRESH_SECONDS) < FRESH_SECONDS
    mine = pb2.SearchVideosRequest(query=w, owner="alice")
    assert ids(search.SearchVideos(mine, metadata=bearer(alice_key))) == [video_id]
    assert ids(search.SearchVideos(mine, metadata=bearer(bob_key))) == []  # bob is not alice
    assert ids(search.SearchVideos(mine)) == []
    catalog.DeleteVideo(catalog_pb2.DeleteVideoRequest(name=f"videos/{video_id}"), metadata=bearer(alice_key))
    until(agreed(lambda: not ids(search.SearchVideos(mine, metadata=bearer(alice_key)))), FRESH_SECONDS)


def test_unlisted_videos_are_never_found_by_others(mesh: Mesh, search: pb2_grpc.SearchServiceStub, alice_key: str) -> None:
    w = word()
    unlisted = catalog_video(mesh, "alice", 30, media_pb2.VISIBILITY_UNLISTED, title=f"{w} unlisted")
    public = catalog_video(mesh, "alice", 30, title=f"{w} public")
    until(found(search, w, public), FRESH_SECONDS)
    assert ids(search.SearchVideos(pb2.SearchVideosRequest(query=w))) == [public]
    own = search.SearchVideos(pb2.SearchVideosRequest(query=w, owner="alice"), metadata=bearer(alice_key))
    assert sorted(ids(own)) == sorted([public, unlisted])


def test_edits_of_title_and_tags_show_in_results(
    mesh: Mesh, search: pb2_grpc.SearchServiceStub, catalog: catalog_grpc.CatalogServiceStub, alice_key: str
) -> None:
    old, new, tag = word(), word(), word()
    video_id = catalog_video(mesh, "alice", 30, title=f"{old} title")
    until(found(search, old, video_id), FRESH_SECONDS)
    change = resources_pb2.Video(name=f"videos/{video_id}", title=f"{new} title", tags=[tag.upper()])
    catalog.UpdateVideo(
        catalog_pb2.UpdateVideoRequest(video=change, update_mask=field_mask_pb2.FieldMask(paths=["title", "tags"])),
        metadata=bearer(alice_key),
    )
    until(found(search, new, video_id), FRESH_SECONDS)
    assert until(gone(search, old, video_id), FRESH_SECONDS) < FRESH_SECONDS
    assert ids(search.SearchVideos(pb2.SearchVideosRequest(tags=[tag]))) == [video_id]  # tags match case-insensitively


def test_a_typo_still_finds_the_video_and_a_spelling_is_suggested(mesh: Mesh, search: pb2_grpc.SearchServiceStub) -> None:
    w = word()
    video_id = catalog_video(mesh, "alice", 30, title=f"{w} tutorial", tags=[w])
    until(found(search, w, video_id), FRESH_SECONDS)
    typo = w[:4] + w[5] + w[4] + w[6:]  # two letters swapped
    answer = search.SearchVideos(pb2.SearchVideosRequest(query=typo))
    assert ids(answer) == [video_id] and answer.hits[0].fuzzy
    assert answer.suggested_query == w
    exact = search.SearchVideos(pb2.SearchVideosRequest(query=w))
    assert exact.suggested_query == "" and not exact.hits[0].fuzzy


def test_filters_and_orders_do_what_they_say(mesh: Mesh, search: pb2_grpc.SearchServiceStub) -> None:
    w, tag = word(), word()
    short = catalog_video(mesh, "carol", 20, title=f"{w} short clip", tags=[tag])
    time.sleep(0.01)  # distinct creation times for the recent order
    long = catalog_video(mesh, "carol", 600, title=f"{w} long {w} film")
    time.sleep(0.01)
    other = catalog_video(mesh, "dave", 120, title=f"{w} middle", tags=[tag])
    until(found(search, w, other), FRESH_SECONDS)
    until(found(search, w, long), FRESH_SECONDS)

    def query(**fields: Any) -> list[str]:
        return ids(search.SearchVideos(pb2.SearchVideosRequest(query=w, **fields)))

    assert sorted(query()) == sorted([short, long, other])
    assert query(order=pb2.SEARCH_ORDER_RECENT) == [other, long, short]
    assert sorted(query(tags=[tag])) == sorted([short, other])
    assert query(min_duration=duration_pb2.Duration(seconds=100), max_duration=duration_pb2.Duration(seconds=200)) == [other]
    assert query(max_duration=duration_pb2.Duration(seconds=20)) == [short]
    assert sorted(query(owner="carol")) == sorted([short, long])
    assert query(min_create_time=timestamp_pb2.Timestamp(seconds=int(time.time()) + 3600)) == []
    assert query()[0] == long  # the word twice in the title
    assert sorted(ids(search.SearchVideos(pb2.SearchVideosRequest(tags=[tag], owner="dave")))) == [other]  # no words: filters browse


def test_paging_returns_every_hit_once_and_tokens_are_bound_to_their_query(mesh: Mesh, search: pb2_grpc.SearchServiceStub) -> None:
    w = word()
    made = {catalog_video(mesh, "erin", 30 + i, title=f"{w} part {i}") for i in range(7)}
    until(agreed(lambda: search.SearchVideos(pb2.SearchVideosRequest(query=w)).total_size == 7), FRESH_SECONDS * 3)
    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = search.SearchVideos(pb2.SearchVideosRequest(query=w, page_size=3, page_token=token))
        seen += ids(page)
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(made)
    first = search.SearchVideos(pb2.SearchVideosRequest(query=w, page_size=3))
    with pytest.raises(grpc.RpcError) as caught:
        search.SearchVideos(pb2.SearchVideosRequest(query=w + " other", page_token=first.next_page_token))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("query", ["", "the of and", '"unbalanced quote', "cat AND OR (", "title:x* ~ ^2 [a TO b]", "\u0000\ufffd"])
def test_odd_queries_get_an_answer_not_an_error(search: pb2_grpc.SearchServiceStub, query: str) -> None:
    search.SearchVideos(pb2.SearchVideosRequest(query=query, page_size=5))


def test_bad_requests_are_invalid_argument_naming_the_field(search: pb2_grpc.SearchServiceStub) -> None:
    def call(**fields: Any) -> Callable[[], object]:
        return lambda: search.SearchVideos(pb2.SearchVideosRequest(**fields))

    assert bad_request(call(query="x" * 10_000)) == ["query"]
    assert bad_request(call(query=" ".join(["cat"] * 33))) == ["query"]
    assert bad_request(call(tags=["a"] * 11)) == ["tags"]
    assert bad_request(call(tags=["x" * 65])) == ["tags[0]"]
    assert bad_request(call(min_duration=duration_pb2.Duration(seconds=9), max_duration=duration_pb2.Duration(seconds=3))) == [
        "max_duration"
    ]
    assert bad_request(call(min_duration=duration_pb2.Duration(seconds=-1))) == ["min_duration"]
    assert bad_request(call(page_size=-1)) == ["page_size"]
    assert bad_request(call(page_token="not-a-token")) == ["page_token"]
    assert bad_request(lambda: search.SuggestQueries(pb2.SuggestQueriesRequest(prefix="x" * 201))) == ["prefix"]


def test_suggestions_complete_the_word_being_typed(mesh: Mesh, search: pb2_grpc.SearchServiceStub) -> None:
    w = word()
    video_id = catalog_video(mesh, "alice", 30, title=f"{w} minecraft speedrun")
    until(found(search, w, video_id), FRESH_SECONDS)
    assert search.SuggestQueries(pb2.SuggestQueriesRequest(prefix=f"{w} spe")).suggestions == [f"{w} speedrun"]
    assert f"{w}" in search.SuggestQueries(pb2.SuggestQueriesRequest(prefix=w[:6])).suggestions
    assert search.SuggestQueries(pb2.SuggestQueriesRequest(prefix="")).suggestions == []


def test_rest_search_through_the_gateway(mesh: Mesh, search: pb2_grpc.SearchServiceStub) -> None:
    w = word()
    video_id = catalog_video(mesh, "alice", 30, title=f"{w} over rest")
    until(found(search, w, video_id), FRESH_SECONDS)
    query = urllib.parse.urlencode({"query": w, "pageSize": 5})
    with urllib.request.urlopen(f"http://{mesh.gateway}/v1/videos:search?{query}", timeout=10) as reply:
        body = json.loads(reply.read())
    assert [hit["video"]["id"] for hit in body["hits"]] == [video_id]
    with urllib.request.urlopen(f"http://{mesh.gateway}/v1/videos:suggest?prefix={w[:5]}", timeout=10) as reply:
        assert w in json.loads(reply.read())["suggestions"]


def test_views_reach_the_index_and_reorder_popular_results(mesh: Mesh, search: pb2_grpc.SearchServiceStub) -> None:
    w = word()
    watched = catalog_video(mesh, "alice", 20, title=f"{w} watched")
    ignored = catalog_video(mesh, "alice", 20, title=f"{w} ignored")
    until(found(search, w, watched), FRESH_SECONDS)
    until(found(search, w, ignored), FRESH_SECONDS)
    now = int(time.time() * 1000)
    with VidmeshClient(mesh.gateway) as anonymous:
        for _ in range(3):  # three sessions, each playing the whole (short) video: three views
            anonymous.send_events(watch(secrets.token_hex(8), watched, now - 30_000, [(0, 20_000)]))

    def hits(order: int) -> list[tuple[str, int]]:
        answer = search.SearchVideos(pb2.SearchVideosRequest(query=w, order=order))  # type: ignore[arg-type]
        return [(h.video.id, h.view_count) for h in answer.hits]

    # Counted within the aggregator's read block, indexed at the indexer's next read of view
    # milestones; the same text score, so the popularity boost decides relevance too.
    until(agreed(lambda: hits(pb2.SEARCH_ORDER_RELEVANCE) == [(watched, 3), (ignored, 0)]), 10)
    assert hits(pb2.SEARCH_ORDER_POPULAR) == [(watched, 3), (ignored, 0)]
    assert hits(pb2.SEARCH_ORDER_RECENT) == [(ignored, 0), (watched, 3)]  # newest first, whatever the views


def test_the_cli_searches_with_filters_and_orders(mesh: Mesh, search: pb2_grpc.SearchServiceStub) -> None:
    w = word()
    older = catalog_video(mesh, "frank", 75, title=f"{w} first", tags=["howto"])
    time.sleep(0.01)
    newer = catalog_video(mesh, "frank", 3700, title=f"{w} second")
    until(found(search, w, older), FRESH_SECONDS)
    until(found(search, w, newer), FRESH_SECONDS)

    def cli(*args: str) -> Any:
        return mesh.cli("search", *args, "--url", mesh.gateway)

    result = cli(w, "--order", "recent")
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert rows[0].split()[:3] == ["ID", "VIEWS", "LENGTH"] and [r.split()[0] for r in rows[1:]] == [newer, older]
    assert "1:01:40" in rows[1] and f"*{w}* second" in rows[1] and "2 of about 2 videos" in result.stderr
    tagged = cli(w, "--tag", "HowTo", "--max-length", "2m")
    assert [r.split()[0] for r in tagged.stdout.splitlines()[1:]] == [older]
    typo = cli(w[:3] + w[4] + w[3] + w[5:])
    assert f"did you mean: {w}" in typo.stderr and "(similar spelling)" in typo.stdout
    refused = cli("x" * 300)
    assert refused.returncode == 1 and "INVALID_ARGUMENT" in refused.stderr


def _served(mesh: Mesh, metrics_port: int) -> float:
    """SearchVideos calls one search process has answered, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("vidmesh_rpc_requests_total{") and 'method="SearchVideos"' in line
    )


def test_the_gateway_spreads_searches_over_both_readers_and_survives_one_dying(mesh: Mesh, search: pb2_grpc.SearchServiceStub) -> None:
    w = word()
    video_id = catalog_video(mesh, "alice", 30, title=f"{w} spread")
    until(found(search, w, video_id), FRESH_SECONDS)
    first, second = mesh.ports["metrics_search"], mesh.ports["metrics_search_reader"]
    before = _served(mesh, first), _served(mesh, second)
    for _ in range(40):
        assert ids(search.SearchVideos(pb2.SearchVideosRequest(query=w))) == [video_id]
    after = _served(mesh, first), _served(mesh, second)
    assert after[0] - before[0] >= 5 and after[1] - before[1] >= 5, (before, after)  # round robin, roughly
    # Kill one reader: every call still answers (Envoy sends what cannot connect to the other).
    old = mesh.pids()["search-2"]
    os.kill(old, signal.SIGKILL)
    for _ in range(40):
        assert ids(search.SearchVideos(pb2.SearchVideosRequest(query=w))) == [video_id]
    until(lambda: mesh.pids().get("search-2", old) != old, 30)


# --- the indexer's failures -----------------------------------------------------------------


@pytest.fixture
def internal(mesh: Mesh) -> Iterator[internal_grpc.CatalogInternalServiceStub]:
    with grpc.insecure_channel(mesh.address("catalog")) as channel:
        yield internal_grpc.CatalogInternalServiceStub(channel)


def test_the_change_feed_is_for_services_only(internal: internal_grpc.CatalogInternalServiceStub, alice_key: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        internal.ListVideoChanges(internal_pb2.ListVideoChangesRequest(), metadata=bearer(alice_key))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def _kill_indexer(mesh: Mesh) -> int:
    pid = mesh.pids()["search-indexer-1"]
    os.kill(pid, signal.SIGKILL)
    return pid


def _restarted(mesh: Mesh, old: int) -> bool:
    return mesh.pids().get("search-indexer-1", old) != old


def test_sigkill_of_the_indexer_mid_stream_loses_no_change(mesh: Mesh, search: pb2_grpc.SearchServiceStub) -> None:
    w = word()
    made = []
    killed = 0
    for i in range(30):
        made.append(catalog_video(mesh, "alice", 30, title=f"{w} batch {i}"))
        if i == 10:
            killed = _kill_indexer(mesh)
    until(lambda: _restarted(mesh, killed), 30)
    until(agreed(lambda: search.SearchVideos(pb2.SearchVideosRequest(query=w, page_size=50)).total_size == 30), 30)
    assert sorted(ids(search.SearchVideos(pb2.SearchVideosRequest(query=w, page_size=50)))) == sorted(made)


def test_a_lost_index_folder_is_rebuilt_from_the_catalog(mesh: Mesh, search: pb2_grpc.SearchServiceStub) -> None:
    w = word()
    video_id = catalog_video(mesh, "alice", 30, title=f"{w} survivor")
    until(found(search, w, video_id), FRESH_SECONDS)
    pid = _kill_indexer(mesh)
    shutil.rmtree(mesh.home / "data" / "search")
    until(lambda: _restarted(mesh, pid), 30)
    until(found(search, w, video_id), 60)  # the rebuilt generation has it
    later = catalog_video(mesh, "alice", 30, title=f"{w} after")
    until(found(search, w, later), FRESH_SECONDS * 3)  # and it follows the feed again
