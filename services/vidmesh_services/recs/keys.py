"""Where recommendation state lives in Redis/Valkey, and how deployed lists are packed.

Keys (all under 'vidmesh:recs:'):
  current                  string  the deployed model version ("v12"); readers start here
  previous                 string  the version before it, kept for `vidmesh recs rollback`
  versions                 set     versions with lists in Valkey (current, previous, and one
                                   being deployed or left half-written by a killed job)
  next-version             string  counter of version numbers
  m:{v}:items              string  the model's videos, newline-separated: list entries index it
  m:{v}:u:{viewer}         string  a viewer's personal list (pack_list)
  m:{v}:i:{video}          string  a video's related list (pack_list)
  trending                 string  the trending list now: JSON {"videos": [...], "scores": [...]}
  trending:scores          zset    video -> forward-decayed views (2 ** ((t - epoch) / half-life))
  trending:epoch           string  the epoch (ms) of those scores
  watched:{viewer}         zset    video -> when the viewer's view of it counted (ms); capped
  views-cursor             string  how far the worker has read analytics' view feed
  reactions:{viewer}       hash    video -> 1 (like) or -1 (dislike)
  disliked:{viewer}        set     the videos the viewer dislikes (filtered at read time)
  shares:{viewer}          hash    video -> times the viewer shared it
  counts:{video}           hash    likes, dislikes, shares
  share:{viewer}:{id}      string  a share's request id, remembered for a day (idempotency)
  feedback:{v}             hash    impressions, clicks of entries from model version v (or
                                   "trending")
  token:{digest}:{i|c}     string  a recommendation token already counted as an impression or a
                                   click; expires with the token

Viewers are keyed hashes (runtime/viewers.py), the same as analytics', so the warehouse's
viewer column joins with these keys. A deployed version's lists never change after the switch,
and readers get the version and its lists in one script call, so no reader mixes two models.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

PREFIX = "vidmesh:recs:"
CURRENT = f"{PREFIX}current"
PREVIOUS = f"{PREFIX}previous"
VERSIONS = f"{PREFIX}versions"
NEXT_VERSION = f"{PREFIX}next-version"
TRENDING = f"{PREFIX}trending"
TRENDING_SCORES = f"{PREFIX}trending:scores"
TRENDING_EPOCH = f"{PREFIX}trending:epoch"
VIEWS_CURSOR = f"{PREFIX}views-cursor"
TRENDING_VERSION = "trending"  # the feedback bucket of trending entries
WATCHED_SECONDS = 90 * 86_400  # a viewer's watched set outlives this much inactivity only
TOKEN_SECONDS = 86_400


def model_prefix(version: str) -> str:
    return f"{PREFIX}m:{version}:"


def items_key(version: str) -> str:
    return f"{model_prefix(version)}items"


def personal_key(version: str, viewer: str) -> str:
    return f"{model_prefix(version)}u:{viewer}"


def related_key(version: str, video_id: str) -> str:
    return f"{model_prefix(version)}i:{video_id}"


def watched_key(viewer: str) -> str:
    return f"{PREFIX}watched:{viewer}"


def reactions_key(viewer: str) -> str:
    return f"{PREFIX}reactions:{viewer}"


def disliked_key(viewer: str) -> str:
    return f"{PREFIX}disliked:{viewer}"


def shares_key(viewer: str) -> str:
    return f"{PREFIX}shares:{viewer}"


def counts_key(video_id: str) -> str:
    return f"{PREFIX}counts:{video_id}"


def share_request_key(viewer: str, request_id: str) -> str:
    return f"{PREFIX}share:{viewer}:{request_id}"


def feedback_key(version: str) -> str:
    return f"{PREFIX}feedback:{version}"


def token_key(digest: str, kind: str) -> str:
    return f"{PREFIX}token:{digest}:{kind}"


def pack_list(items: npt.NDArray[np.int32], scores: npt.NDArray[np.float32]) -> bytes:
    """A ranked list as stored: the int32 item indices, then their float32 scores (little-endian),
    8 bytes an entry."""
    return items.astype("<i4").tobytes() + scores.astype("<f4").tobytes()


def unpack_list(raw: bytes | None) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    if not raw:
        return np.empty(0, np.int32), np.empty(0, np.float32)
    n = len(raw) // 8
    return np.frombuffer(raw, "<i4", n), np.frombuffer(raw, "<f4", n, offset=4 * n)
