"""The training signal: one confidence per (viewer, video), from what viewers watched (the
analytics warehouse's Parquet, through DuckDB) and how they reacted (likes, dislikes, shares).

confidence = sum over the viewer's sessions of the video of min(1, played / duration)
             (a rewatch adds another session's worth)
           + completion_weight * sessions that reached the end (ENDED)
           + like_weight if the viewer likes it
           + share_weight * min(3, times shared)
A disliked video is left out of training and kept in `disliked`, so it is never recommended to
that viewer. BM25 weighting (training.weighted) comes after, across the whole matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from vidmesh.analytics.v1 import analytics_service_pb2 as analytics_pb2

from ..analytics.archive import data_files
from ..runtime.config import RecsSettings

MAX_SHARES_COUNTED = 3

_SIGNALS = f"""
CREATE TEMP TABLE signals AS
WITH sessions AS (
    SELECT viewer, video_id, session_id, sum(played_ms) AS played, max(duration_ms) AS duration,
        bool_or(kind = {analytics_pb2.PLAYER_EVENT_KIND_ENDED}) AS completed
    FROM @events
    WHERE viewer <> ''
    GROUP BY viewer, video_id, session_id
), watched AS (
    SELECT viewer, video_id,
        sum(CASE WHEN duration > 0 THEN least(1.0, played / duration) ELSE 0.0 END) AS fraction,
        count(*) FILTER (WHERE completed) AS completions
    FROM sessions
    WHERE played > 0 OR completed
    GROUP BY viewer, video_id
)
SELECT coalesce(w.viewer, r.viewer) AS viewer, coalesce(w.video_id, r.video) AS video,
    coalesce(w.fraction, 0) + $completion * coalesce(w.completions, 0)
        + $like * (coalesce(r.reaction, 0) = 1)::INT + $share * least({MAX_SHARES_COUNTED}, coalesce(r.shares, 0))
        AS confidence,
    coalesce(r.reaction, 0) = -1 AS disliked
FROM watched w FULL OUTER JOIN reactions r ON w.viewer = r.viewer AND w.video_id = r.video
"""
_WAREHOUSE = "read_parquet($files, hive_partitioning = false)"
# No warehouse files yet: the same columns, no rows (reactions alone still train).
_NO_EVENTS = """(SELECT ''::VARCHAR AS viewer, ''::VARCHAR AS video_id, ''::VARCHAR AS session_id, 0::BIGINT AS played_ms,
    0::BIGINT AS duration_ms, 0::INT AS kind WHERE false)"""


@dataclass(frozen=True)
class Reaction:
    viewer: str
    video: str
    reaction: int  # 1 like, -1 dislike, 0 none
    shares: int


@dataclass(frozen=True)
class Interactions:
    viewers: list[str]  # row index -> viewer (keyed hash)
    videos: list[str]  # column index -> video id
    confidence: sp.csr_matrix  # viewers x videos, float32; disliked pairs left out
    disliked: sp.csr_matrix  # 1 where the viewer dislikes the video

    @property
    def pairs(self) -> int:
        return int(self.confidence.nnz)


def load(warehouse: Path, reactions: Sequence[Reaction], settings: RecsSettings, threads: int = 2) -> Interactions:
    """The interactions of every viewer with every video in the warehouse or the reactions."""
    files = data_files(warehouse)
    with duckdb.connect(config={"threads": threads}) as db:
        table = pa.table(
            {
                "viewer": pa.array([r.viewer for r in reactions], pa.string()),
                "video": pa.array([r.video for r in reactions], pa.string()),
                "reaction": pa.array([r.reaction for r in reactions], pa.int32()),
                "shares": pa.array([r.shares for r in reactions], pa.int32()),
            }
        )
        db.register("reactions", table)
        weights = {"completion": settings.completion_weight, "like": settings.like_weight, "share": settings.share_weight}
        if files:
            db.execute(_SIGNALS.replace("@events", _WAREHOUSE), {"files": files, **weights})
        else:
            db.execute(_SIGNALS.replace("@events", _NO_EVENTS), weights)
        viewers = [row[0] for row in db.execute("SELECT DISTINCT viewer FROM signals ORDER BY viewer").fetchall()]
        videos = [row[0] for row in db.execute("SELECT DISTINCT video FROM signals ORDER BY video").fetchall()]
        arrays = db.execute(
            """SELECT (dense_rank() OVER (ORDER BY viewer) - 1)::INT AS u, (dense_rank() OVER (ORDER BY video) - 1)::INT AS i,
                   confidence::FLOAT AS c, disliked FROM signals"""
        ).fetchnumpy()
    shape = (len(viewers), len(videos))
    users, items = np.asarray(arrays["u"], np.int32), np.asarray(arrays["i"], np.int32)
    confidence, disliked = np.asarray(arrays["c"], np.float32), np.asarray(arrays["disliked"], bool)
    liked = ~disliked & (confidence > 0)
    return Interactions(
        viewers,
        videos,
        sp.csr_matrix((confidence[liked], (users[liked], items[liked])), shape=shape, dtype=np.float32),
        sp.csr_matrix((np.ones(int(disliked.sum()), np.float32), (users[disliked], items[disliked])), shape=shape),
    )
