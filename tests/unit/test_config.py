from pathlib import Path

import pytest

from vidmesh_services.runtime.config import MiB, load_config


def test_defaults() -> None:
    config = load_config(env={})
    assert config.ports.http == 8080
    assert config.upload.default_chunk_size == 10 * MiB
    assert config.effective_redis_url == f"redis://127.0.0.1:{config.ports.valkey}/0"
    assert config.hls.playlist_cache_control == "public, max-age=86400, s-maxage=60"


def test_file_then_environment_override(tmp_path: Path) -> None:
    file = tmp_path / "vidmesh.yaml"
    file.write_text("home: /srv/vidmesh\nports:\n  http: 9000\n  upload: 9001\nupload:\n  ttl_seconds: 60\n")
    config = load_config(file, env={"VIDMESH_PORTS_HTTP": "9100", "VIDMESH_UPLOAD_DEFAULT_CHUNK_SIZE": str(4 * MiB)})
    assert config.home == Path("/srv/vidmesh")
    assert config.ports.http == 9100  # environment wins over the file
    assert config.ports.upload == 9001
    assert config.upload.ttl_seconds == 60
    assert config.upload.default_chunk_size == 4 * MiB


def test_mistakes_are_named(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("portz: {}\n")
    with pytest.raises(ValueError, match="portz"):
        load_config(file, env={})
    with pytest.raises(ValueError, match="VIDMESH_PORTS_HTTP"):
        load_config(env={"VIDMESH_PORTS_HTTP": "eighty"})


def test_cassandra_settings_with_replication_per_data_centre(tmp_path: Path) -> None:
    file = tmp_path / "cluster.yaml"
    file.write_text(
        "metadata_backend: cassandra\n"
        "cassandra:\n  contact_points: 10.0.0.1, 10.0.0.2\n  replication_strategy: NetworkTopologyStrategy\n"
        "  datacenters: {eu-west: 3, us-east: '2'}\n"
    )
    config = load_config(file, env={})
    assert config.metadata_backend == "cassandra"
    assert config.cassandra.hosts == ["10.0.0.1", "10.0.0.2"]
    assert config.cassandra.datacenters == {"eu-west": 3, "us-east": 2}
    assert config.cassandra.consistency == "LOCAL_QUORUM"
    # The environment replaces the whole mapping.
    config = load_config(file, env={"VIDMESH_CASSANDRA_DATACENTERS": "dc1=1, dc2=2"})
    assert config.cassandra.datacenters == {"dc1": 1, "dc2": 2}
    assert load_config(env={}).cassandra.datacenters == {}
    with pytest.raises(ValueError, match="VIDMESH_CASSANDRA_DATACENTERS"):
        load_config(env={"VIDMESH_CASSANDRA_DATACENTERS": "dc1"})
    with pytest.raises(ValueError, match=r"VIDMESH_CASSANDRA_DATACENTERS\.dc1: cannot read 'three' as int"):
        load_config(env={"VIDMESH_CASSANDRA_DATACENTERS": "dc1=three"})


def test_cassandra_replication_clause() -> None:
    from vidmesh_services.runtime.config import CassandraSettings
    from vidmesh_services.storage.cassandra.schema import replication

    assert replication(CassandraSettings()) == "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    nts = CassandraSettings(replication_strategy="NetworkTopologyStrategy", datacenters={"us-east": 3, "eu-west": 2})
    assert replication(nts) == "{'class': 'NetworkTopologyStrategy', 'eu-west': 2, 'us-east': 3}"
    with pytest.raises(ValueError, match=r"cassandra\.datacenters: bad data centre name"):
        replication(CassandraSettings(replication_strategy="NetworkTopologyStrategy", datacenters={"x'; DROP": 1}))


def test_the_catalog_cache_defaults_to_on_for_cassandra_only() -> None:
    settings = load_config(env={}).catalog_cache
    assert settings.enabled == "auto"
    assert settings.active("cassandra") and not settings.active("sqlite")
    assert load_config(env={"VIDMESH_CATALOG_CACHE_ENABLED": "true"}).catalog_cache.active("sqlite")
    assert not load_config(env={"VIDMESH_CATALOG_CACHE_ENABLED": "false"}).catalog_cache.active("cassandra")
    with pytest.raises(ValueError, match="auto, true or false"):
        load_config(env={"VIDMESH_CATALOG_CACHE_ENABLED": "maybe"}).catalog_cache.active("sqlite")
