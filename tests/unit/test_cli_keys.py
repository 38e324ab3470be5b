"""`vidmesh keys create`: says which home it used, refuses one no platform has used, and
answers a bad owner name with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from vidmesh_services.runtime.auth import hash_key
from vidmesh_services.storage.sqlite import SqliteApiKeyStore


def keys_create(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VIDMESH_")}
    return subprocess.run(
        [sys.executable, "-m", "vidmesh_client", "keys", "create", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def owner_of(home: Path, key: str) -> str | None:
    store = SqliteApiKeyStore(home / "data" / "metadata.sqlite3")
    try:
        return await store.find_api_key_owner(hash_key(key))
    finally:
        await store.close()


def test_a_bad_owner_name_is_one_clear_line(tmp_path: Path) -> None:
    result = keys_create("--owner", "Bad Owner!", "--home", str(tmp_path / "home"), cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: --owner 'Bad Owner!' is not an owner name: 1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
    ]
    assert not (tmp_path / "home").exists()


def test_run_from_another_folder_it_refuses_instead_of_making_a_new_platform(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = keys_create("--owner", "alice", cwd=elsewhere)
    assert result.returncode != 0 and not result.stdout
    assert f"no vidmesh platform in home {elsewhere / 'var'} (from the default: ./var in the current folder)" in result.stderr
    assert "--home" in result.stderr and "vidmesh up" in result.stderr and "--init" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (elsewhere / "var").exists(), "nothing was created"


async def test_the_key_goes_to_the_home_it_names(tmp_path: Path) -> None:
    home = tmp_path / "platform"
    first = keys_create("--owner", "alice", "--home", str(home), "--init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"in home {home} (from --home)" in first.stderr
    alice = first.stdout.strip().splitlines()[-1]
    # Once the home holds a platform, no flag is needed; VIDMESH_HOME names it as well as --home.
    second = keys_create("--owner", "bob", cwd=tmp_path, VIDMESH_HOME=str(home))
    assert second.returncode == 0, second.stderr
    assert f"in home {home} (from VIDMESH_HOME)" in second.stderr
    bob = second.stdout.strip().splitlines()[-1]
    assert await owner_of(home, alice) == "alice"
    assert await owner_of(home, bob) == "bob"
