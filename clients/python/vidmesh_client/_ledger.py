"""Remembers unfinished uploads on this machine, so re-running an upload resumes it."""

from __future__ import annotations

import hashlib
import json
import os
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

    def _save(self, entries: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=1))
        os.replace(tmp, self.path)

    def get(self, key: str) -> str | None:
        return self._load().get(key)

    def put(self, key: str, upload_name: str) -> None:
        entries = self._load()
        entries[key] = upload_name
        self._save(entries)

    def drop(self, key: str) -> None:
        entries = self._load()
        if entries.pop(key, None) is not None:
            self._save(entries)
