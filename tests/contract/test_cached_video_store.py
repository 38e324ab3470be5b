"""The VideoStore contract again, for the catalog cache over SQLite with a real Valkey: the
decorator must behave as a store itself (reads through it see every write made through it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.contract.test_video_store import *  # noqa: F403 (the suite's tests, run with this module's `store`)
from tests.support.processes import valkey_server
from tests.support.stores import open_video_store
from vidmesh_services.catalog.store import VideoStore


@pytest.fixture(scope="module")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with valkey_server(tmp_path_factory.mktemp("valkey")) as url:
        yield url


@pytest.fixture
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VideoStore]:
    cached = await open_video_store("cached", request, tmp_path)
    yield cached
    await cached.close()
