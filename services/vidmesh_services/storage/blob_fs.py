"""Filesystem BlobStore: one file per key under a root folder.

A multipart write named N keeps two files in folder N: `data`, sized to the final size but
sparse (begin_multipart takes no disk blocks: a declared size is not a reservation, so a client
cannot claim space it never sends) and written part by part in place (pwrite at
index * part_size, fdatasync before returning, which also makes the blocks the part needed
durable), and `multipart.json` (destination, size, part size). complete_multipart renames `data`
to the destination key: publishing costs one rename, whatever the size. A full disk shows up as
ENOSPC from write_part, for that part only; the parts before it stay written.

Parts are written with O_DIRECT where the filesystem allows it and the part is 4 KiB-aligned
(the last part's unaligned tail goes through the page cache): the bytes go from a reused aligned
buffer to the disk, instead of being copied into gigabytes of freshly allocated page cache that
nothing reads soon (an upload is read once, by the prober and the transcoder, later).
"""

from __future__ import annotations

import errno
import hashlib
import json
import mmap
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .blobs import BlobChecksumMismatch

_HASH_BLOCK = 8 * 1024 * 1024
_MULTIPART_DATA = "data"
_MULTIPART_META = "multipart.json"
_META_CACHE_MAX = 1024
_DIRECT_ALIGN = 4096  # O_DIRECT offsets, lengths and buffers: a multiple of any logical block size
_DIRECT_PIECE = 8 * 1024 * 1024  # staging buffer for O_DIRECT writes


class _AlignedBuffers:
    """Page-aligned staging buffers for O_DIRECT, reused: one per concurrent writer, never freed
    (a fresh buffer would cost a page fault per 4 KiB, every time)."""

    def __init__(self) -> None:
        self._free: list[mmap.mmap] = []
        self._lock = threading.Lock()

    def get(self) -> mmap.mmap:
        with self._lock:
            if self._free:
                return self._free.pop()
        return mmap.mmap(-1, _DIRECT_PIECE)

    def put(self, buffer: mmap.mmap) -> None:
        with self._lock:
            self._free.append(buffer)


_BUFFERS = _AlignedBuffers()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemBlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        # name -> (size, part_size) of multipart writes, so write_part does not re-read the json.
        self._meta_cache: dict[str, tuple[int, int]] = {}
        self._meta_lock = threading.Lock()
        self._direct = hasattr(os, "O_DIRECT")  # cleared if the filesystem refuses O_DIRECT

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"bad blob key {key!r}")
        return self.root.joinpath(*parts)

    def _makedirs(self, folder: Path) -> None:
        """mkdir -p, and fsync the parent of every folder it creates: the new names survive a crash."""
        missing = []
        current = folder
        while not current.is_dir():
            missing.append(current)
            current = current.parent
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:
                continue
            _fsync_dir(path.parent)

    def _publish(self, tmp: Path, final: Path) -> None:
        # fsync the file, rename into place, fsync the folder: the new name survives a crash.
        os.replace(tmp, final)
        _fsync_dir(final.parent)

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

    # -- multipart writes -------------------------------------------------------------------

    def _read_meta(self, name: str) -> dict[str, object]:
        meta: dict[str, object] = json.loads((self._path(name) / _MULTIPART_META).read_bytes())
        return meta

    def _part_layout(self, name: str) -> tuple[int, int]:
        with self._meta_lock:
            cached = self._meta_cache.get(name)
        if cached is None:
            meta = self._read_meta(name)
            cached = (int(meta["size"]), int(meta["part_size"]))  # type: ignore[call-overload]
            with self._meta_lock:
                if len(self._meta_cache) >= _META_CACHE_MAX:
                    self._meta_cache.clear()
                self._meta_cache[name] = cached
        return cached

    def _forget_meta(self, name: str) -> None:
        with self._meta_lock:
            self._meta_cache.pop(name, None)

    def begin_multipart(self, name: str, dest: str, *, size: int, part_size: int) -> None:
        if size < 1 or part_size < 1:
            raise ValueError("size and part_size must be positive")
        self._path(dest)  # validates the key now rather than at completion
        folder = self._path(name)
        wanted = {"dest": dest, "size": size, "part_size": part_size}
        try:
            if self._read_meta(name) == wanted:
                return
            raise ValueError(f"another multipart write is under {name!r}")
        except FileNotFoundError:
            pass
        self._makedirs(folder)
        fd = os.open(folder / _MULTIPART_DATA, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.ftruncate(fd, size)  # a hole: blocks are allocated as parts are written
            os.fsync(fd)
        finally:
            os.close(fd)
        # Written last and atomically (with an fsync of the folder, which also makes `data`'s
        # name durable): a multipart.json on disk means the data file is there and sized.
        self.write(f"{name}/{_MULTIPART_META}", json.dumps(wanted).encode())

    def write_part(self, name: str, index: int, data: bytes | memoryview) -> None:
        size, part_size = self._part_layout(name)
        offset = index * part_size
        view = memoryview(data).cast("B")
        expected = min(part_size, size - offset)
        if index < 0 or offset >= size or view.nbytes != expected:
            raise ValueError(f"part {index} of {name!r} must be {max(expected, 0)} bytes at offset {offset}, got {view.nbytes}")
        path = self._path(name) / _MULTIPART_DATA
        direct = self._write_direct(path, view, offset) if self._direct and offset % _DIRECT_ALIGN == 0 else 0
        fd = os.open(path, os.O_WRONLY)
        try:
            written = direct
            while written < expected:
                written += os.pwrite(fd, view[written:], offset + written)
            os.fdatasync(fd)  # the part's bytes (and the extents they need) are on disk
        finally:
            os.close(fd)

    def _write_direct(self, path: Path, view: memoryview, offset: int) -> int:
        """Writes the 4 KiB-aligned head of view at offset with O_DIRECT; returns its length (0:
        nothing written, the caller writes it all through the page cache)."""
        head = view.nbytes - view.nbytes % _DIRECT_ALIGN
        if not head:
            return 0
        try:
            fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            self._direct = False  # e.g. tmpfs before Linux 6.6
            return 0
        buffer = _BUFFERS.get()
        staging = memoryview(buffer)
        try:
            done = 0
            while done < head:
                size = min(_DIRECT_PIECE, head - done)
                staging[:size] = view[done : done + size]
                try:
                    sent = os.pwrite(fd, staging[:size], offset + done)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                    self._direct = False  # an alignment this store did not expect
                    return done
                done += sent
                if sent != size:
                    return done - done % _DIRECT_ALIGN  # short write: the page cache takes the rest
        finally:
            staging.release()
            _BUFFERS.put(buffer)
            os.close(fd)
        return head

    def complete_multipart(self, name: str, *, sha256: str = "") -> None:
        folder = self._path(name)
        meta = self._read_meta(name)
        dest = self._path(str(meta["dest"]))
        data = folder / _MULTIPART_DATA
        try:
            fd = os.open(data, os.O_RDONLY)
        except FileNotFoundError:
            # Published by an earlier call (whose caller then failed further on)?
            if self.size(str(meta["dest"])) != meta["size"]:
                raise
            if sha256:
                with open(dest, "rb") as published:
                    _check_sha256(published.fileno(), sha256)
            return
        try:
            if sha256:
                _check_sha256(fd, sha256)
            os.fsync(fd)  # every part was fdatasync'ed already; this is cheap insurance
        finally:
            os.close(fd)
        self._makedirs(dest.parent)
        os.replace(data, dest)
        _fsync_dir(dest.parent)
        _fsync_dir(folder)
        self._forget_meta(name)

    def abort_multipart(self, name: str) -> None:
        self._forget_meta(name)
        self.delete_prefix(name)

    # -- everything else --------------------------------------------------------------------

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


def _check_sha256(fd: int, expected: str) -> None:
    actual = _sha256_fd(fd)
    if actual != expected:
        raise BlobChecksumMismatch(actual)


def _sha256_fd(fd: int) -> str:
    digest = hashlib.sha256()
    block = bytearray(_HASH_BLOCK)
    view = memoryview(block)
    offset = 0
    while count := os.preadv(fd, [block], offset):
        digest.update(view[:count])  # hashlib releases the GIL for large updates
        offset += count
    return digest.hexdigest()
