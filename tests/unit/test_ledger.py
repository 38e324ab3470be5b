"""The client's upload ledger under parallel `vidmesh upload` runs, and kept out of the user's home."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

from vidmesh_client._ledger import UploadLedger, default_ledger_path

WRITERS = 10
ROUNDS = 40

# One process of a parallel run: records an upload per round, drops every second one again
# (finished or refused), as many `vidmesh upload` processes do at the same time.
WRITER = """
import sys, time
from pathlib import Path
from vidmesh_client._ledger import UploadLedger

ledger_path, go, writer, rounds = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ledger = UploadLedger(ledger_path)
while not go.exists():
    time.sleep(0.001)
for n in range(rounds):
    ledger.put(f"{writer}-{n}", f"uploads/{writer}-{n}")
    if n % 2:
        ledger.drop(f"{writer}-{n}")
"""


def test_parallel_processes_lose_no_entry_and_crash_on_none(tmp_path: Path) -> None:
    path = tmp_path / "state" / "uploads.json"
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(go), str(w), str(ROUNDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WRITERS)
    ]
    time.sleep(0.5)  # let every process import and wait, so they all start writing together
    go.touch()
    failures = []
    for process in writers:
        _, err = process.communicate(timeout=120)
        if process.returncode:
            failures.append(err.strip().splitlines()[-1] if err.strip() else f"exit {process.returncode}")
    assert not failures, failures
    expected = {f"{w}-{n}": f"uploads/{w}-{n}" for w in range(WRITERS) for n in range(0, ROUNDS, 2)}
    entries = json.loads(path.read_text())
    assert len(entries) == len(expected) and entries == expected
    assert sorted(p.name for p in path.parent.iterdir()) == ["uploads.json", "uploads.json.lock"], "no temp file left behind"


def test_dropping_the_last_entry_leaves_an_empty_ledger(tmp_path: Path) -> None:
    ledger = UploadLedger(tmp_path / "uploads.json")
    ledger.put("a", "uploads/a")
    assert ledger.get("a") == "uploads/a"
    ledger.drop("a")
    ledger.drop("a")  # again: nothing to do
    assert ledger.get("a") is None
    assert json.loads((tmp_path / "uploads.json").read_text()) == {}


def test_the_test_session_keeps_away_from_the_users_ledger() -> None:
    """tests/conftest.py points the client's state at a temporary folder for the whole session."""
    home = Path(pwd.getpwuid(os.getuid()).pw_dir).resolve()
    path = default_ledger_path().resolve()
    assert not path.is_relative_to(home), f"a default client ledger in the tests would write to {path}"
    assert UploadLedger().path == default_ledger_path()  # what VidmeshClient uses without ledger=
