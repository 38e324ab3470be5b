from pathlib import Path

import pytest

from vidmesh_services.runtime.config import MiB, load_config


def test_defaults() -> None:
    config = load_config(env={})
    assert config.ports.http == 8080
    assert config.upload.default_chunk_size == 10 * MiB
    assert config.effective_redis_url == f"redis://127.0.0.1:{config.ports.valkey}/0"


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

