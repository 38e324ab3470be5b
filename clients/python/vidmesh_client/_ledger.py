"""Remembers unfinished uploads on this machine, so re-running an upload resumes it."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def default_ledger_path() -> Path:
    base = os.environ.get("VIDMESH_CLIENT_STATE") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "vidmesh", "uploads.json"
    )
    return Path(base)


class UploadLedger:
    """A small JSON file: (file identity, credentials) -> upload resource name.

    The gateway is not part of the key: the same upload resumes whether it is reached as
    localhost or 127.0.0.1, and a server that does not know the upload answers NOT_FOUND,
    which starts a fresh one.

    Many processes may share the file (parallel `vidmesh upload` runs): every change is a
    read-modify-write under an exclusive lock on a sibling lock file, written through a temp
    file of its own and renamed into place, so readers without the lock see the old or the new
    file whole and no change is lost.
    """

    def __init__(self, path: Path | None = None):
        self.path = path or default_ledger_path()

    @staticmethod
    def key(path: Path, credentials: str) -> str:
        stat = path.stat()
        ident = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{credentials}"
        return hashlib.sha256(ident.encode()).hexdigest()

    def _load(self) -> dict[str, str]:
        try:
            entries: dict[str, str] = json.loads(self.path.read_text())
            return entries
        except (FileNotFoundError, ValueError):
            return {}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, str]]:
        """The entries, locked against other writers; what the block leaves in them is saved."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if the process dies
            entries = self._load()
            before = dict(entries)
            yield entries
            if entries != before:
                self._save(entries)

    def _save(self, entries: dict[str, str]) -> None:
        handle, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name + ".", suffix=".tmp")
        try:
            with os.fdopen(handle, "w") as out:
                json.dump(entries, out, indent=1)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def get(self, key: str) -> str | None:
        return self._load().get(key)

    def put(self, key: str, upload_name: str) -> None:
        with self._locked() as entries:
            entries[key] = upload_name

    def drop(self, key: str) -> None:
        with self._locked() as entries:
            entries.pop(key, None)
