"""Where things live in the blob store. Every service builds keys through these functions."""

from __future__ import annotations


def upload_prefix(upload_id: str) -> str:
    return f"uploads/{upload_id}"


def chunk_key(upload_id: str, index: int) -> str:
    return f"uploads/{upload_id}/{index:06d}.part"


def video_prefixes(video_id: str) -> tuple[str, ...]:
    """Every prefix holding a video's bytes: the raw source and its HLS packages."""
    return (f"raw/{video_id}", f"hls/{video_id}")


def source_key(video_id: str) -> str:
    return f"raw/{video_id}/source"
