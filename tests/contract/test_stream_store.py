"""The StreamStore contract (live.store), on SQLite and on Cassandra (a real node)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from vidmesh.live.v1 import resources_pb2

from vidmesh_services.live.store import StaleStream, StoredStream, StreamStore
from vidmesh_services.storage.cassandra.streams import CassandraStreamStore
from vidmesh_services.storage.sqlite_streams import SqliteStreamStore

LiveStream = resources_pb2.LiveStream


@pytest.fixture(params=["sqlite", "cassandra"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StreamStore]:
    backend: StreamStore
    if request.param == "sqlite":
        backend = SqliteStreamStore(tmp_path / "meta.sqlite3")
    else:
        node = request.getfixturevalue("cassandra_node")
        await asyncio.to_thread(node.empty_keyspace, "contract")
        backend = CassandraStreamStore(node.settings("contract"), migrate=True)
        await backend.wait_ready()
    yield backend
    await backend.close()


def stream(stream_id: str, owner: str = "alice", created: int = 1_700_000_000, **fields: object) -> LiveStream:
    s = LiveStream(name=f"streams/{stream_id}", id=stream_id, owner=owner, **({"title": f"title {stream_id}"} | fields))  # type: ignore[arg-type]
    s.create_time.seconds = created
    return s


async def test_a_stream_is_found_by_id_and_by_its_key_but_never_stores_the_key(store: StreamStore) -> None:
    etag = await store.insert_stream(stream("s1", stream_key="vsk_secret"), "hash1")
    assert etag
    got = await store.get_stream("s1")
    assert got is not None and got.etag == etag and got.key_hash == "hash1"
    assert got.stream.title == "title s1" and got.stream.stream_key == ""
    by_key = await store.stream_for_key("hash1")
    assert by_key is not None and by_key.stream.id == "s1"
    assert await store.stream_for_key("hash2") is None
    assert await store.get_stream("nope") is None


async def test_inserting_an_existing_id_changes_nothing(store: StreamStore) -> None:
    assert await store.insert_stream(stream("s1"), "hash1")
    assert await store.insert_stream(stream("s1", title="other"), "hash2") is None
    got = await store.get_stream("s1")
    assert got is not None and got.stream.title == "title s1" and got.key_hash == "hash1"
    assert await store.stream_for_key("hash2") is None


async def test_a_rotated_key_stops_finding_the_stream_and_the_new_one_finds_it(store: StreamStore) -> None:
    await store.insert_stream(stream("s1"), "old")
    got = await store.get_stream("s1")
    assert got is not None
    etag = await store.replace_stream(StoredStream(got.stream, "new", got.etag))
    assert etag != got.etag
    assert await store.stream_for_key("old") is None
    found = await store.stream_for_key("new")
    assert found is not None and found.etag == etag


async def test_a_write_naming_a_stale_etag_is_refused(store: StreamStore) -> None:
    await store.insert_stream(stream("s1"), "hash1")
    first = await store.get_stream("s1")
    assert first is not None
    changed = LiveStream()
    changed.CopyFrom(first.stream)
    changed.state = resources_pb2.LIVE_STREAM_STATE_LIVE
    await store.replace_stream(StoredStream(changed, first.key_hash, first.etag))
    ended = LiveStream()
    ended.CopyFrom(first.stream)
    ended.state = resources_pb2.LIVE_STREAM_STATE_ENDED
    with pytest.raises(StaleStream):
        await store.replace_stream(StoredStream(ended, first.key_hash, first.etag))
    with pytest.raises(StaleStream):
        await store.delete_stream(first)
    now = await store.get_stream("s1")
    assert now is not None and now.stream.state == resources_pb2.LIVE_STREAM_STATE_LIVE


async def test_live_figures_are_not_stored(store: StreamStore) -> None:
    s = stream("s1", viewer_count=5)
    s.health.frame_rate = 30
    await store.insert_stream(s, "hash1")
    got = await store.get_stream("s1")
    assert got is not None and got.stream.viewer_count == 0 and not got.stream.HasField("health")


async def test_an_owners_streams_are_listed_newest_first_and_deletes_take_them_away(store: StreamStore) -> None:
    await store.insert_stream(stream("a", created=100), "h1")
    await store.insert_stream(stream("b", created=300), "h2")
    await store.insert_stream(stream("c", created=200), "h3")
    await store.insert_stream(stream("d", owner="bob"), "h4")
    assert [s.stream.id for s in await store.owner_streams("alice")] == ["b", "c", "a"]
    assert [s.stream.id for s in await store.owner_streams("bob")] == ["d"]
    c = await store.get_stream("c")
    assert c is not None
    await store.delete_stream(c)
    assert await store.get_stream("c") is None and await store.stream_for_key("h3") is None
    assert [s.stream.id for s in await store.owner_streams("alice")] == ["b", "a"]
    assert set(await store.get_streams(["a", "b", "c", "d"])) == {"a", "b", "d"}
    assert await store.owner_streams("carol") == []
