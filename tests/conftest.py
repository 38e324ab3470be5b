"""Shared fixtures: one real mesh (Valkey, services, Envoy) per test session."""

from __future__ import annotations

import os

# Before gRPC loads: the tests start servers with subprocess(preexec_fn=...), which forks this
# process, and gRPC's fork handlers restart its pollers in the forked child before exec, where one
# can abort on a descriptor subprocess has closed (seen as valkey or a child dying with SIGABRT
# before exec). Nothing here uses gRPC across a fork.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
# implicit (ALS) warns, and trains slower, when OpenBLAS runs its own threads beside its own.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest

from tests.support.processes import Mesh, start_mesh, stop_mesh
from vidmesh_client._ledger import default_ledger_path

if TYPE_CHECKING:
    from tests.support.cassandra import CassandraNode

MiB = 1024 * 1024
# How long the edge keeps playlists in the test mesh (60 s by default): short, so a test can
# watch a switch to private reach the edge.
SHARED_PLAYLIST_SECONDS = 3


def _file_state(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


@pytest.fixture(scope="session", autouse=True)
def client_state_outside_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The SDK keeps its upload ledger under XDG_STATE_HOME (VIDMESH_CLIENT_STATE wins): both
    point into the session's temp folder, so no test, and no CLI it starts, touches the user's
    home. HOME itself stays, for the Go, npm and Maven caches. A write to the user's real ledger
    fails the session."""
    users_ledger = default_ledger_path()
    before = _file_state(users_ledger)
    state = tmp_path_factory.mktemp("client-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(state))
        patch.delenv("VIDMESH_CLIENT_STATE", raising=False)
        yield state
    assert _file_state(users_ledger) == before, f"the tests wrote to the user's upload ledger {users_ledger}"


RECONNECT_WINDOW_SECONDS = 5


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    home = tmp_path_factory.mktemp("mesh")
    running = start_mesh(
        home,
        VIDMESH_UPLOAD_MAX_FILE_SIZE=str(512 * MiB),
        VIDMESH_UPLOAD_MIN_CHUNK_SIZE=str(64 * 1024),
        VIDMESH_TRANSCODE_WORKERS="1",
        VIDMESH_TRANSCODE_VISIBILITY_TIMEOUT_SECONDS="3",
        VIDMESH_TRANSCODE_RETRY_BASE_SECONDS="0.5",
        VIDMESH_CATALOG_CACHE_ENABLED="true",  # "auto" leaves it off on SQLite; test the cached path
        VIDMESH_HLS_PLAYLIST_SHARED_MAX_AGE_SECONDS=str(SHARED_PLAYLIST_SECONDS),
        # Recommendations: trending and watched sets follow views within a second; trained by the
        # tests (`vidmesh recs train`), not on a schedule; events reach the warehouse in a second.
        VIDMESH_RECS_TRENDING_REFRESH_SECONDS="0.5",
        VIDMESH_RECS_VIEWS_POLL_SECONDS="0.1",
        VIDMESH_RECS_TRAIN_EVERY_SECONDS="0",
        VIDMESH_ANALYTICS_WAREHOUSE_FLUSH_SECONDS="1",
        # Live: an encoder that drops has 5 s to come back (30 s by default), a silent one 3 s.
        VIDMESH_LIVE_RECONNECT_WINDOW_SECONDS=str(RECONNECT_WINDOW_SECONDS),
        VIDMESH_LIVE_STALL_TIMEOUT_SECONDS="3",
        VIDMESH_LIVE_MAX_STREAMS="8",  # streams of earlier tests may still be in their window
    )
    yield running
    assert stop_mesh(running) == 0, "".join(running.output)


@pytest.fixture(scope="session")
def alice_key(mesh: Mesh) -> str:
    return mesh.create_key("alice")


@pytest.fixture(scope="session")
def bob_key(mesh: Mesh) -> str:
    return mesh.create_key("bob")


@pytest.fixture(scope="session")
def gateway(mesh: Mesh) -> Iterator[grpc.Channel]:
    channel = grpc.insecure_channel(
        mesh.gateway,
        options=[("grpc.max_send_message_length", 65 * MiB), ("grpc.max_receive_message_length", 65 * MiB)],
    )
    yield channel
    channel.close()


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.json"


@pytest.fixture(scope="session")
def cassandra_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CassandraNode]:
    """One real Cassandra node for the session, started on first use (about 10 s), stopped by PID."""
    from tests.support.cassandra import start_node

    node = start_node(tmp_path_factory.mktemp("cassandra"))
    yield node
    node.stop()


# READY videos shared by the playback and browser tests.
from tests.support.videos import private_video, public_video, ready_video  # noqa: E402,F401
