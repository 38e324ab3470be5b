"""Where things live in the blob store. Every service builds keys through these functions."""

from __future__ import annotations


def upload_prefix(upload_id: str) -> str:
    """An unfinished upload's multipart write (its name), and everything the blob store keeps for it."""
    return f"uploads/{upload_id}"


def video_prefixes(video_id: str) -> tuple[str, ...]:
    """Every prefix holding a video's bytes: the raw source and its HLS packages."""
    return (f"raw/{video_id}", f"hls/{video_id}")


def source_key(video_id: str) -> str:
    return f"raw/{video_id}/source"
