"""Synthetic watch history with latent structure, written as the analytics warehouse writes it
(tests and `make bench-recs`; no real data set can be downloaded here).

Videos belong to topics; each viewer favours a few topics (60/25/15 %) and picks videos within a
topic by Zipf popularity, with some sessions drawn from global popularity instead (noise). Each
session is one warehouse row, an ENDED or PAUSE event with the time played, so the training
job's SQL reads it as it reads real sessions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
from vidmesh.analytics.v1 import analytics_service_pb2 as analytics_pb2

from vidmesh_services.analytics.archive import SCHEMA

DURATION_MS = 300_000
ROWS_PER_FILE = 2_000_000


@dataclass(frozen=True)
class History:
    viewers: list[str]
    videos: list[str]
    video_topic: npt.NDArray[np.int32]
    viewer_topics: npt.NDArray[np.int32]  # (viewers, 3): favourite topics, most favoured first
    sessions: int


def synthetic_history(
    viewers: int, videos: int, sessions: int, topics: int, seed: int = 1, noise: float = 0.15, video_ids: list[str] | None = None
) -> tuple[History, dict[str, npt.NDArray[np.generic]]]:
    """The history and its sessions as columns: viewer index, video index, played ms, completed."""
    rng = np.random.default_rng(seed)
    names = video_ids or [f"vid{i:07d}" for i in range(videos)]
    video_topic = rng.integers(0, topics, videos).astype(np.int32)
    favourite = np.stack([rng.permutation(topics)[:3] for _ in range(viewers)]).astype(np.int32)
    by_topic = [np.flatnonzero(video_topic == t) for t in range(topics)]
    # Zipf-like popularity inside each topic (and so overall).
    weights = 1.0 / (1.0 + np.arange(videos)) ** 0.9
    rng.shuffle(weights)
    topic_p = [weights[v] / weights[v].sum() for v in by_topic]
    global_p = weights / weights.sum()

    viewer = rng.integers(0, viewers, sessions)
    choice = rng.choice(3, sessions, p=[0.6, 0.25, 0.15])
    topic = favourite[viewer, choice]
    video = np.empty(sessions, np.int64)
    noisy = rng.random(sessions) < noise
    video[noisy] = rng.choice(videos, int(noisy.sum()), p=global_p)
    for t in range(topics):
        picked = (topic == t) & ~noisy
        if picked.any() and len(by_topic[t]):
            video[picked] = rng.choice(by_topic[t], int(picked.sum()), p=topic_p[t])
    fraction = rng.beta(2.0, 1.2, sessions)
    completed = fraction > 0.92
    played = np.where(completed, DURATION_MS, (fraction * DURATION_MS).astype(np.int64))
    history = History([f"viewer{i:07d}" for i in range(viewers)], names, video_topic, favourite, sessions)
    return history, {"viewer": viewer, "video": video, "played": played, "completed": completed}


def write_warehouse(root: Path, history: History, columns: dict[str, npt.NDArray[np.generic]], at: dt.datetime | None = None) -> int:
    """Writes the sessions as warehouse files (date=/hour= folders); returns the rows written."""
    at = at or dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    folder = root / f"date={at:%Y-%m-%d}" / f"hour={at:%H}"
    folder.mkdir(parents=True, exist_ok=True)
    viewers, videos = np.array(history.viewers, object), np.array(history.videos, object)
    total = len(columns["viewer"])
    millis = int(at.timestamp() * 1000)
    for part, start in enumerate(range(0, total, ROWS_PER_FILE)):
        end = min(total, start + ROWS_PER_FILE)
        n = end - start
        session = np.char.add("s", np.arange(start, end).astype(str))
        kinds = np.where(columns["completed"][start:end], analytics_pb2.PLAYER_EVENT_KIND_ENDED, analytics_pb2.PLAYER_EVENT_KIND_PAUSE)
        played = columns["played"][start:end]
        table = pa.table(
            {
                "event_id": pa.array(np.char.add("e", np.arange(start, end).astype(str))),
                "session_id": pa.array(session),
                "video_id": pa.array(videos[columns["video"][start:end]].tolist(), pa.string()),
                "owner": pa.array(["synthetic"] * n, pa.string()),
                "viewer": pa.array(viewers[columns["viewer"][start:end]].tolist(), pa.string()),
                "kind": pa.array(kinds.astype(np.int32)),
                "event_time": pa.array(np.full(n, millis, np.int64)).cast(pa.timestamp("ms", tz="UTC")),
                "arrival_time": pa.array(np.full(n, millis, np.int64)).cast(pa.timestamp("ms", tz="UTC")),
                "position_ms": pa.array(played.astype(np.int64)),
                "played_ms": pa.array(played.astype(np.int64)),
                "duration_ms": pa.array(np.full(n, DURATION_MS, np.int64)),
            }
        )
        missing = [f for f in SCHEMA if f.name not in table.column_names]
        for f in missing:
            table = table.append_column(f, pa.nulls(n, f.type))
        pq.write_table(table.select(SCHEMA.names).cast(SCHEMA), folder / f"synthetic-{part:04d}.parquet")
    return total
