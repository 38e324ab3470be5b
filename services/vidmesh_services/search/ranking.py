"""Relevance: the text score, boosted by popularity and recency (weights in SearchSettings).

    score = bm25 * (1 + popularity_weight * ln(1 + views))
                 * (1 - recency_weight + recency_weight * exp(-age_days / recency_days))

The popularity boost is log-damped, so a thousand times the views is worth about twice the
text score, not a thousand times; recency halves the boost of a video in about three weeks (at
the defaults) and never takes more than recency_weight of it away. Applied to the top text
matches only (the index answers those with top-k pruning; tantivy cannot score by a formula).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..runtime.config import SearchSettings

DAY = 86_400.0


def boost(views: int, created_ms: int, now: float, s: SearchSettings) -> float:
    age_days = max(0.0, now - created_ms / 1000) / DAY
    popularity = 1.0 + s.popularity_weight * math.log1p(max(views, 0))
    recency = 1.0 - s.recency_weight + s.recency_weight * math.exp(-age_days / s.recency_days)
    return popularity * recency


def rerank(
    scores: Sequence[float], views: Sequence[int], created_ms: Sequence[int], now: float, s: SearchSettings
) -> list[tuple[float, int]]:
    """(score, index into the inputs), best first; ties keep the text order."""
    ranked = [(bm25 * boost(v, c, now, s), i) for i, (bm25, v, c) in enumerate(zip(scores, views, created_ms, strict=True))]
    ranked.sort(key=lambda pair: (-pair[0], pair[1]))
    return ranked
