"""Filesystem BlobStore: one file per key under a root folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

_COPY_BLOCK = 8 * 1024 * 1024


class FilesystemBlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"bad blob key {key!r}")
        return self.root.joinpath(*parts)

    def _publish(self, tmp: Path, final: Path) -> None:
        # fsync the file, rename into place, fsync the folder: the new name survives a crash.
        os.replace(tmp, final)
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _temp(self, final: Path) -> tuple[int, Path]:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
        return fd, Path(name)

    def write(self, key: str, data: bytes) -> None:
        final = self._path(key)
        fd, tmp = self._temp(final)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            self._publish(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def compose(self, dest: str, sources: Sequence[str], *, sha256: bool = False) -> str | None:
        final = self._path(dest)
        fd, tmp = self._temp(final)
        digest = hashlib.sha256() if sha256 else None
        try:
            with os.fdopen(fd, "wb") as out:
                for key in sources:
                    with open(self._path(key), "rb") as src:
                        if digest is None:
                            # Kernel-side copy: no bytes pass through Python.
                            size = os.fstat(src.fileno()).st_size
                            out.flush()
                            copied = 0
                            while copied < size:
                                copied += os.copy_file_range(src.fileno(), out.fileno(), size - copied)
                        else:
                            while block := src.read(_COPY_BLOCK):
                                digest.update(block)
                                out.write(block)
                out.flush()
                os.fsync(out.fileno())
            self._publish(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return digest.hexdigest() if digest else None

    def open_read(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        folder = self._path(prefix)
        if not folder.is_dir():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        return count

    def list(self, prefix: str) -> Iterator[str]:
        folder = self._path(prefix)
        if not folder.is_dir():
            return
        for path in folder.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()
