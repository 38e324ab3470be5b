"""The cluster profile end to end: `vidmesh up` with a config file pointing at an external
Cassandra and an external Valkey (both real, started by the test), then upload, transcode, get, list, search."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
import yaml
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from tests.support.cassandra import CassandraNode
from tests.support.http import get
from tests.support.media import make_video
from tests.support.processes import start_mesh, stop_mesh, valkey_server
from vidmesh_client import VidmeshClient
from vidmesh_client._ledger import UploadLedger


def until_found(client: VidmeshClient, query: str, video_id: str, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while video_id not in [hit.video.id for hit in client.search(query).hits]:
        assert time.monotonic() < deadline, f"{query!r} did not find {video_id} within {within}s"
        time.sleep(0.05)


@pytest.mark.slow
def test_upload_transcode_get_list_on_cassandra_and_external_valkey(cassandra_node: CassandraNode, tmp_path: Path) -> None:
    settings = cassandra_node.settings()
    with valkey_server(tmp_path / "valkey") as redis_url:
        cluster_yaml = tmp_path / "cluster.yaml"
        cluster_yaml.write_text(
            yaml.safe_dump(
                {
                    "metadata_backend": "cassandra",
                    "redis_url": redis_url,
                    "transcode": {"workers": 1},
                    "cassandra": {
                        "contact_points": "127.0.0.1",
                        "port": settings.port,
                        "keyspace": settings.keyspace,
                        "local_dc": "datacenter1",
                        "replication_strategy": "NetworkTopologyStrategy",
                        "datacenters": {"datacenter1": 1},
                    },
                }
            )
        )
        home = tmp_path / "home"
        mesh = start_mesh(home, VIDMESH_CONFIG=str(cluster_yaml))
        try:
            assert "valkey" not in mesh.pids()  # the cluster profile uses the Redis it is given
            key = mesh.create_key("carol")
            source = make_video(tmp_path / "clip.mp4", seconds=1.0)
            with VidmeshClient(mesh.gateway, key, ledger=UploadLedger(tmp_path / "ledger.json")) as client:
                video_id = client.upload(source, title="on cassandra", visibility=media_pb2.VISIBILITY_PUBLIC)
                deadline = time.monotonic() + 180
                while (video := client.get_video(video_id)).status != resources_pb2.VIDEO_STATUS_READY:
                    assert video.status != resources_pb2.VIDEO_STATUS_FAILED, video.failure_reason
                    assert time.monotonic() < deadline, f"not READY in time: {video}"
                    time.sleep(0.5)
                assert video.renditions and video.master_playlist_path
                assert [v.id for v in client.iter_videos(owner="carol")] == [video_id]
                assert video_id in [v.id for v in client.iter_videos()]  # the public home listing
                # Search follows Cassandra's change feed: the video is found, then an edit shows.
                until_found(client, "cassandra", video_id)
                client.update_video(video_id, title="renamed on the cluster")
                until_found(client, "renamed", video_id)
            # The catalog's hot reads come from the cache (on by default in front of Cassandra).
            with redis.Redis.from_url(redis_url) as cache:
                cached = cache.get(f"vidmesh:catalog:video:{video_id}")
            assert cached is not None and cached.startswith(b"V"), cached
            # And the video plays through the edge.
            master = get(f"http://{mesh.gateway}{video.master_playlist_path}")
            assert master.status == 200 and master.text.startswith("#EXTM3U")
            rows = cassandra_node.cql(f"SELECT id, owner FROM {settings.keyspace}.videos_by_id")
            assert [(r.id, r.owner) for r in rows] == [(video_id, "carol")]
            assert not (home / "data" / "metadata.sqlite3").exists()  # nothing went to SQLite
        finally:
            assert stop_mesh(mesh) == 0, "".join(mesh.output)
