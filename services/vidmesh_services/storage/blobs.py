"""The blob store port, shared by every service that keeps bytes, and where those bytes live.

Backends: the filesystem (blob_fs.py) now, S3 later; they pass one contract suite. Every
service builds keys through the layout functions at the bottom, so the layout is in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol


class BlobChecksumMismatch(Exception):
    """complete_multipart's bytes do not hash to the sha256 it was given; nothing was published."""

    def __init__(self, actual: str):
        super().__init__(actual)
        self.actual = actual


class BlobStore(Protocol):
    """Immutable-ish named byte objects. Keys are '/'-separated relative paths.

    Methods block; async callers run them in a thread.

    Large objects that arrive in pieces, in any order, are written as a *multipart* write, named
    by the caller (a key prefix that belongs to that write alone) and published under their final
    key in one step, with no copy: the filesystem store writes every part in place into one
    sparse file and renames it; an S3 store maps the calls one to one onto native multipart
    upload (CreateMultipartUpload, UploadPart with PartNumber index + 1, ListParts +
    CompleteMultipartUpload, AbortMultipartUpload), keeping its UploadId under the name.
    Beginning a write takes no storage for its size: space is used as parts arrive (the
    filesystem store's file is sparse).
    """

    def write(self, key: str, data: bytes) -> None:
        """Stores data under key durably and atomically: after return it survives a crash."""

    def begin_multipart(self, name: str, dest: str, *, size: int, part_size: int) -> None:
        """Starts the multipart write `name` of size bytes, in parts of part_size bytes (the last
        may be shorter), that complete_multipart publishes as dest. Durable on return. Beginning
        a write that exists already is harmless; beginning another one under the same name is a
        caller error. Takes no space for size: limiting what callers may claim is the caller's job."""

    def write_part(self, name: str, index: int, data: bytes | memoryview) -> None:
        """Stores part index (0-based) of the multipart write name durably: after return it
        survives a crash. Parts come in any order; writing a part again with the same bytes is
        harmless. data must be exactly the part's length. Fails with OSError ENOSPC (or EDQUOT)
        when the store has no room for the part; the parts already written stay."""

    def complete_multipart(self, name: str, *, sha256: str = "") -> None:
        """Publishes the parts, in index order, as the write's dest, durably and atomically.
        With sha256 (lowercase hex) the bytes are checked first: on a difference it raises
        BlobChecksumMismatch and publishes nothing (the parts stay, where the store can keep them).
        Calling it again after it returned is harmless. The caller makes sure every part was
        written; a part never written reads as zeros on the filesystem store."""

    def abort_multipart(self, name: str) -> None:
        """Ends the multipart write name and removes its parts and bookkeeping; no error if there
        is none. After complete_multipart it only releases the bookkeeping: dest stays."""

    def open_read(self, key: str) -> BinaryIO: ...

    def size(self, key: str) -> int | None:
        """Size in bytes, or None if the key does not exist."""

    def delete(self, key: str) -> None:
        """Removes key; no error if it is absent."""

    def delete_prefix(self, prefix: str) -> int:
        """Removes every key under prefix + '/'; returns how many."""

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under prefix + '/', in no particular order."""


# -- layout ------------------------------------------------------------------------------------


def upload_prefix(upload_id: str) -> str:
    """An unfinished upload's multipart write (its name), and everything the blob store keeps for it."""
    return f"uploads/{upload_id}"


def source_key(video_id: str) -> str:
    """A video's uploaded source file."""
    return f"raw/{video_id}/source"


def hls_prefix(video_id: str) -> str:
    """A video's HLS packages, one folder per output version."""
    return f"hls/{video_id}"


# Inside a version: the folder of the one audio track every rendition shares (Playback serves
# its segments as audio/mp4); each video rendition has a folder named after it (e.g. 720p).
AUDIO_FOLDER = "audio"


def video_prefixes(video_id: str) -> tuple[str, ...]:
    """Every prefix holding a video's bytes: the raw source and its HLS packages."""
    return (f"raw/{video_id}", hls_prefix(video_id))
