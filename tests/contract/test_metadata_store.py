"""The MetadataStore contract. Every backend runs this same suite: SQLite, and Cassandra (a real node)."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import AsyncIterator

import pytest
from google.protobuf import timestamp_pb2
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from vidmesh_services.runtime.cassandra_store import CassandraMetadataStore
from vidmesh_services.runtime.ports import MetadataStore
from vidmesh_services.runtime.sqlite_store import SqliteMetadataStore


@pytest.fixture(params=["sqlite", "cassandra"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MetadataStore]:
    backend: MetadataStore
    if request.param == "sqlite":
        backend = SqliteMetadataStore(tmp_path / "meta.sqlite3")
    else:
        # One keyspace for the suite (migrated once), emptied before each test: faster than a
        # keyspace per test, which costs a few seconds of schema changes each.
        node = request.getfixturevalue("cassandra_node")
        await asyncio.to_thread(node.empty_keyspace, "contract")
        backend = CassandraMetadataStore(node.settings("contract"))
        await backend.wait_ready()
    yield backend
    await backend.close()


def video(owner: str, seconds: int, visibility: int = media_pb2.VISIBILITY_PUBLIC, video_id: str | None = None) -> resources_pb2.Video:
    video_id = video_id or secrets.token_urlsafe(8)
    return resources_pb2.Video(
        name=f"videos/{video_id}", id=video_id, owner=owner, title=f"t{seconds}", visibility=visibility,
        create_time=timestamp_pb2.Timestamp(seconds=seconds),
    )


async def test_insert_get_replace_delete(store: MetadataStore) -> None:
    v = video("alice", 10)
    assert await store.insert_video(v) is True
    assert await store.insert_video(v) is False  # ids are unique
    assert await store.get_video(v.id) == v
    v.title = "renamed"
    await store.replace_video(v)
    assert (await store.get_video(v.id)).title == "renamed"  # type: ignore[union-attr]
    assert await store.delete_video(v.id) is True
    assert await store.delete_video(v.id) is False
    assert await store.get_video(v.id) is None


async def test_get_videos_returns_only_existing(store: MetadataStore) -> None:
    a, b = video("alice", 1), video("bob", 2)
    for v in (a, b):
        await store.insert_video(v)
    found = await store.get_videos([a.id, "missing", b.id, a.id])
    assert set(found) == {a.id, b.id}
    assert await store.get_videos([]) == {}


async def test_listing_is_newest_first_and_pages_without_gaps_or_repeats(store: MetadataStore) -> None:
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


async def test_listing_filters_by_owner_and_visibility(store: MetadataStore) -> None:
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
    public.visibility = media_pb2.VISIBILITY_PRIVATE
    await store.replace_video(public)  # a visibility change moves it out of public listings
    assert [v.id for v in (await store.list_videos(owner=None, include_non_public=False, limit=10, cursor="")).videos] == [other.id]


async def test_bad_cursor_is_a_value_error(store: MetadataStore) -> None:
    with pytest.raises(ValueError):
        await store.list_videos(owner=None, include_non_public=False, limit=10, cursor="not-a-cursor")


async def test_api_keys(store: MetadataStore) -> None:
    await store.put_api_key("hash1", "alice")
    assert await store.find_api_key_owner("hash1") == "alice"
    assert await store.find_api_key_owner("hash2") is None


async def test_public_listing_pages_across_days(store: MetadataStore) -> None:
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


async def test_deleted_videos_leave_every_listing_and_stay_deleted(store: MetadataStore) -> None:
    v = video("alice", 7)
    await store.insert_video(v)
    assert await store.delete_video(v.id) is True
    v.title = "a late update"
    await store.replace_video(v)  # e.g. a transcode result arriving after the owner deleted it
    assert await store.get_video(v.id) is None
    for owner, include_non_public in (("alice", True), ("alice", False), (None, False)):
        page = await store.list_videos(owner=owner, include_non_public=include_non_public, limit=10, cursor="")
        assert page.videos == []


async def test_writes_can_be_repeated(store: MetadataStore) -> None:
    v = video("alice", 8)
    await store.insert_video(v)
    v.title = "once"
    await store.replace_video(v)
    await store.replace_video(v)  # a retried update changes nothing more
    assert await store.insert_video(v) is False
    page = await store.list_videos(owner="alice", include_non_public=True, limit=10, cursor="")
    assert [x.title for x in page.videos] == ["once"]
    await store.put_api_key("hash1", "alice")
    await store.put_api_key("hash1", "alice")
    assert await store.find_api_key_owner("hash1") == "alice"
