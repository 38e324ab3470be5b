"""The VideoStore contract (catalog.store). Every backend runs this same suite: SQLite, Cassandra
(a real node), and the Redis cache over SQLite (test_cached_video_store.py)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf import timestamp_pb2
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from tests.support.stores import open_video_store
from vidmesh_services.catalog.store import StaleEtag, VideoChange, VideoStore


@pytest.fixture(params=["sqlite", "cassandra"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VideoStore]:
    backend = await open_video_store(request.param, request, tmp_path)
    yield backend
    await backend.close()


def video(owner: str, seconds: int, visibility: int = media_pb2.VISIBILITY_PUBLIC, video_id: str | None = None) -> resources_pb2.Video:
    video_id = video_id or secrets.token_urlsafe(8)
    return resources_pb2.Video(
        name=f"videos/{video_id}",
        id=video_id,
        owner=owner,
        title=f"t{seconds}",
        visibility=visibility,  # type: ignore[arg-type]
        create_time=timestamp_pb2.Timestamp(seconds=seconds),
    )


async def stored(store: VideoStore, video_id: str) -> resources_pb2.Video:
    found = await store.get_video(video_id)
    assert found is not None
    return found


def without_etag(v: resources_pb2.Video) -> resources_pb2.Video:
    copy = resources_pb2.Video()
    copy.CopyFrom(v)
    copy.ClearField("etag")
    return copy


async def test_insert_get_replace_delete(store: VideoStore) -> None:
    v = video("alice", 10)
    etag = await store.insert_video(v)
    assert etag
    assert await store.insert_video(v) is None  # ids are unique
    got = await stored(store, v.id)
    assert without_etag(got) == v and got.etag == etag
    got.title = "renamed"
    new_etag = await store.replace_video(got, etag=got.etag)
    assert new_etag != got.etag
    again = await stored(store, v.id)
    assert again.title == "renamed" and again.etag == new_etag
    assert await store.delete_video(v.id) is True
    assert await store.delete_video(v.id) is False
    assert await store.get_video(v.id) is None


async def test_a_write_under_a_stale_etag_changes_nothing(store: VideoStore) -> None:
    v = video("alice", 11)
    await store.insert_video(v)
    first = await stored(store, v.id)
    first.title = "first writer"
    await store.replace_video(first, etag=first.etag)
    stale = await stored(store, v.id)
    stale.etag = first.etag  # what a second writer read before the first one wrote
    stale.title = "second writer"
    with pytest.raises(StaleEtag):
        await store.replace_video(stale, etag=first.etag)
    with pytest.raises(StaleEtag):
        await store.delete_video(v.id, etag=first.etag)
    assert (await stored(store, v.id)).title == "first writer"
    with pytest.raises(StaleEtag):
        await store.replace_video(stale, etag="not-an-etag")
    current = await stored(store, v.id)
    assert await store.delete_video(v.id, etag=current.etag) is True
    with pytest.raises(StaleEtag):  # gone: nothing to replace
        await store.replace_video(current, etag=current.etag)
    assert await store.delete_video(v.id, etag=current.etag) is False


async def test_listings_carry_the_current_etag(store: VideoStore) -> None:
    v = video("alice", 12)
    await store.insert_video(v)
    got = await stored(store, v.id)
    got.title = "listed"
    etag = await store.replace_video(got, etag=got.etag)
    page = await store.list_videos(owner="alice", include_non_public=True, limit=10, cursor="")
    assert [(x.title, x.etag) for x in page.videos] == [("listed", etag)]
    assert (await store.get_videos([v.id]))[v.id].etag == etag


async def test_get_videos_returns_only_existing(store: VideoStore) -> None:
    a, b = video("alice", 1), video("bob", 2)
    for v in (a, b):
        await store.insert_video(v)
    found = await store.get_videos([a.id, "missing", b.id, a.id])
    assert set(found) == {a.id, b.id}
    assert await store.get_videos([]) == {}


async def test_listing_is_newest_first_and_pages_without_gaps_or_repeats(store: VideoStore) -> None:
    # Equal timestamps on purpose: paging must still be total and stable.
    made = [video("alice", 100 + i // 3) for i in range(10)] + [video("bob", 105)]
    for v in made:
        await store.insert_video(v)
    seen, cursor = [], ""
    while True:
        page = await store.list_videos(owner="alice", include_non_public=True, limit=3, cursor=cursor)
        seen += page.videos
        cursor = page.next_cursor
        if not cursor:
            break
    assert len(seen) == 10 and len({v.id for v in seen}) == 10
    times = [v.create_time.seconds for v in seen]
    assert times == sorted(times, reverse=True)


async def test_listing_filters_by_owner_and_visibility(store: VideoStore) -> None:
    public = video("alice", 1)
    private = video("alice", 2, media_pb2.VISIBILITY_PRIVATE)
    unlisted = video("alice", 3, media_pb2.VISIBILITY_UNLISTED)
    other = video("bob", 4)
    for v in (public, private, unlisted, other):
        await store.insert_video(v)
    everyone_public = await store.list_videos(owner=None, include_non_public=False, limit=10, cursor="")
    assert [v.id for v in everyone_public.videos] == [other.id, public.id]
    mine = await store.list_videos(owner="alice", include_non_public=True, limit=10, cursor="")
    assert [v.id for v in mine.videos] == [unlisted.id, private.id, public.id]
    changed = await stored(store, public.id)
    changed.visibility = media_pb2.VISIBILITY_PRIVATE
    await store.replace_video(changed, etag=changed.etag)  # a visibility change moves it out of public listings
    assert [v.id for v in (await store.list_videos(owner=None, include_non_public=False, limit=10, cursor="")).videos] == [other.id]


async def test_bad_cursor_is_a_value_error(store: VideoStore) -> None:
    # The contract promises the type only (VideoStore.list_videos: "Raises ValueError for a cursor this
    # store did not make"); the message is whatever the backend's decoding tripped on.
    with pytest.raises(ValueError):  # noqa: PT011
        await store.list_videos(owner=None, include_non_public=False, limit=10, cursor="not-a-cursor")


async def test_public_listing_pages_across_days(store: VideoStore) -> None:
    # Spread over days (Cassandra keeps one partition per day) with gaps, pages cutting inside days.
    day = 86_400
    made = [video(f"u{i % 3}", d * day + s) for i, (d, s) in enumerate([(0, 5), (0, 9), (1, 1), (4, 0), (4, day - 1), (9, 3), (9, 3)])]
    made.append(video("u0", 2 * day, media_pb2.VISIBILITY_PRIVATE))
    for v in made:
        await store.insert_video(v)
    seen, cursor = [], ""
    while True:
        page = await store.list_videos(owner=None, include_non_public=False, limit=2, cursor=cursor)
        seen += page.videos
        cursor = page.next_cursor
        if not cursor:
            break
    public = [v for v in made if v.visibility == media_pb2.VISIBILITY_PUBLIC]
    expected = sorted(public, key=lambda v: (v.create_time.seconds, v.id), reverse=True)
    assert [v.id for v in seen] == [v.id for v in expected]


async def test_deleted_videos_leave_every_listing_and_stay_deleted(store: VideoStore) -> None:
    v = video("alice", 7)
    await store.insert_video(v)
    read = await stored(store, v.id)
    assert await store.delete_video(v.id) is True
    read.title = "a late update"
    with pytest.raises(StaleEtag):  # e.g. a transcode result arriving after the owner deleted it
        await store.replace_video(read, etag=read.etag)
    assert await store.get_video(v.id) is None
    for owner, include_non_public in (("alice", True), ("alice", False), (None, False)):
        page = await store.list_videos(owner=owner, include_non_public=include_non_public, limit=10, cursor="")
        assert page.videos == []


async def test_writes_can_be_repeated(store: VideoStore) -> None:
    v = video("alice", 8)
    await store.insert_video(v)
    assert await store.insert_video(v) is None  # a retried create changes nothing
    got = await stored(store, v.id)
    got.title = "once"
    await store.replace_video(got, etag=got.etag)
    page = await store.list_videos(owner="alice", include_non_public=True, limit=10, cursor="")
    assert [x.title for x in page.videos] == ["once"]


async def _all_changes(store: VideoStore, cursor: str) -> tuple[list[VideoChange], str]:
    seen: list[VideoChange] = []
    while True:
        page = await store.changes_after(cursor, limit=2)
        fresh = [c for c in page.changes if c not in seen]
        seen += fresh
        if page.cursor == cursor or not fresh:
            return seen, page.cursor
        cursor = page.cursor


async def test_every_write_is_in_the_change_feed_in_order(store: VideoStore) -> None:
    start = await store.change_cursor()
    a, b = video("alice", 1), video("alice", 2, media_pb2.VISIBILITY_PRIVATE)
    etag_a = await store.insert_video(a)
    await store.insert_video(b)
    assert await store.insert_video(a) is None  # a repeated insert writes nothing new...
    assert etag_a is not None
    a.title = "renamed"
    etag_a2 = await store.replace_video(a, etag=etag_a)
    a.title = "stale"
    with pytest.raises(StaleEtag):
        await store.replace_video(a, etag=etag_a)  # ...nor does a refused write
    await store.delete_video(b.id)
    await store.delete_video(b.id)  # already gone: no change
    changes, end = await _all_changes(store, start)
    order = [(c.video_id, c.rev) for c in changes]
    # (Cassandra's repeated insert repairs its listing batch, feed row included: the same change again.)
    assert list(dict.fromkeys(order)) == [(a.id, int(etag_a, 16)), (b.id, order[1][1]), (a.id, int(etag_a2, 16)), (b.id, order[-1][1])]
    assert order[-1][1] > order[1][1]  # the delete's revision is above the version it removed
    later, _ = await _all_changes(store, end)
    assert {(c.video_id, c.rev) for c in later} <= set(order)  # nothing new after the last write


async def test_a_cursor_from_change_cursor_sees_only_later_changes(store: VideoStore) -> None:
    early = video("alice", 1)
    await store.insert_video(early)
    middle = await store.change_cursor()
    late = video("alice", 2)
    await store.insert_video(late)
    changes, _ = await _all_changes(store, middle)
    assert (late.id, int((await stored(store, late.id)).etag, 16)) in {(c.video_id, c.rev) for c in changes}


async def test_a_foreign_change_cursor_is_a_value_error(store: VideoStore) -> None:
    for bad in ("", "x:1", "s:", "c:abc", "s:-1"):
        with pytest.raises(ValueError, match="cursor"):
            await store.changes_after(bad, limit=10)


async def test_scan_returns_every_video_once_whatever_its_visibility(store: VideoStore) -> None:
    kinds = [media_pb2.VISIBILITY_PUBLIC, media_pb2.VISIBILITY_PRIVATE, media_pb2.VISIBILITY_UNLISTED] * 3
    videos = [video(owner, i, visibility) for i, (owner, visibility) in enumerate(zip(["alice", "bob", "carol"] * 3, kinds, strict=True))]
    for v in videos:
        await store.insert_video(v)
    made = {v.id for v in videos}
    seen: list[str] = []
    cursor = ""
    while True:
        page = await store.scan_videos(limit=4, cursor=cursor)
        seen += [v.id for v in page.videos]
        assert all(v.etag for v in page.videos)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(made)
    with pytest.raises(ValueError, match="cursor"):
        await store.scan_videos(limit=4, cursor="!!not-ours")
