"""Videos that are READY, made once per session and shared by the playback and browser tests.

tests/conftest.py re-exports the fixtures, so every test folder can ask for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from tests.integration.test_transcode_jobs import wait_for_job
from tests.support.media import make_video
from tests.support.processes import Mesh
from vidmesh_client import VidmeshClient
from vidmesh_client._ledger import UploadLedger


@dataclass(frozen=True)
class ReadyVideo:
    id: str
    version: str
    owner_key: str
    master_playlist_path: str  # as the catalog returns it

    @property
    def root(self) -> str:
        return f"/hls/{self.id}/{self.version}/"


ReadyVideoFactory = Callable[..., ReadyVideo]


@pytest.fixture(scope="session")
def ready_video(mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> ReadyVideoFactory:
    """Uploads a video with the SDK and waits until it is READY."""

    def make(
        key: str, *, visibility: int = media_pb2.VISIBILITY_PUBLIC, title: str = "clip", source: Path | None = None, description: str = ""
    ) -> ReadyVideo:
        folder = tmp_path_factory.mktemp("ready")
        source = source or make_video(folder / "clip.mp4", seconds=4, width=640, height=360)
        with VidmeshClient(mesh.gateway, key, ledger=UploadLedger(folder / "ledger.json")) as client:
            video_id = client.upload(source, title=title, description=description, visibility=visibility)
            job = wait_for_job(client, video_id, timeout=300)
            video = client.get_video(video_id)
        assert video.status == resources_pb2.VIDEO_STATUS_READY, job.failure_reason
        return ReadyVideo(video_id, video.master_playlist_path.split("/")[3], key, video.master_playlist_path)

    return make


@pytest.fixture(scope="session")
def public_video(ready_video: ReadyVideoFactory, alice_key: str) -> ReadyVideo:
    return ready_video(alice_key, title="A public clip", description="Made by the test suite.")


@pytest.fixture(scope="session")
def private_video(ready_video: ReadyVideoFactory, alice_key: str) -> ReadyVideo:
    return ready_video(alice_key, visibility=media_pb2.VISIBILITY_PRIVATE, title="A private clip")
