"""Typed views of redis-py replies, for clients made without decode_responses (vidmesh's all are).

redis-py types each string reply `bytes | str`, since it cannot know how its client was made.
These helpers narrow a reply to the bytes such a client returns, and fail loudly if handed text.
"""

from __future__ import annotations

from collections.abc import Iterable


def reply_bytes(reply: object) -> bytes:
    """A string reply, which is bytes from a client that does not decode responses."""
    if not isinstance(reply, bytes):
        raise TypeError(f"expected bytes from Redis (decode_responses=False), got {type(reply).__name__}")
    return reply


def reply_text(reply: object) -> str:
    """A string reply holding UTF-8 text, decoded."""
    return reply_bytes(reply).decode()


def optional_reply_text(reply: object) -> str:
    """A string reply that may be nil, decoded; '' for nil."""
    return "" if reply is None else reply_text(reply)


def optional_reply_bytes(reply: object) -> bytes | None:
    """A string reply that may be nil (None): GET of a missing key, SET ... GET of a new one."""
    return None if reply is None else reply_bytes(reply)


def scored_members(reply: Iterable[object]) -> list[tuple[bytes, float]]:
    """The (member, score) pairs of a WITHSCORES reply: tuples over RESP2, two-item lists over RESP3."""
    pairs = []
    for pair in reply:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"expected a (member, score) pair from Redis, got {pair!r}")
        member, score = pair
        pairs.append((reply_bytes(member), float(score)))
    return pairs
