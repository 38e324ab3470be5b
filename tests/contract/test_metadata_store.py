"""The MetadataStore contract. Every backend runs this same suite (SQLite now; Cassandra joins later)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import AsyncIterator

import pytest
from google.protobuf import timestamp_pb2
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from vidmesh_services.runtime.ports import MetadataStore
from vidmesh_services.runtime.sqlite_store import SqliteMetadataStore


@pytest.fixture(params=["sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MetadataStore]:
    backend = SqliteMetadataStore(tmp_path / "meta.sqlite3")
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
