"""Spark MLlib's ALS (the cluster profile's trainer) on a small synthetic history with latent
topics: its top-10s come from each user's favourite topics, far above popularity and as often as
implicit's on the same data; unseen ids get zero rows; and the Spark JVM is gone when it returns."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

pytest.importorskip("pyspark", reason="the `spark` extra is not installed")

from vidmesh_services.recs.spark_als import fit_spark

USERS, ITEMS, TOPICS = 600, 300, 10  # items i belong to topic i % TOPICS
SPARE_USERS, SPARE_ITEMS = 7, 5  # ids past these that no interaction names: their rows must be zero
# Sparse and noisy enough that neither trainer saturates (30 a user at 15% noise gave both 0.99),
# so a trainer that learns less than the other shows.
PER_USER = 15
NOISE = 0.4  # share of interactions drawn uniformly from the whole catalogue
FACTORS, ITERATIONS, REGULARIZATION, ALPHA = 16, 10, 0.05, 2.0
K = 10


@dataclass(frozen=True)
class History:
    users: npt.NDArray[np.int32]
    items: npt.NDArray[np.int32]
    weights: npt.NDArray[np.float32]
    favourites: list[set[int]]


def synthetic_history(seed: int) -> History:
    rng = np.random.default_rng(seed)
    per_topic = ITEMS // TOPICS
    zipf = 1.0 / np.arange(1, per_topic + 1)  # popularity of a topic's items, by rank
    zipf /= zipf.sum()
    pairs: dict[tuple[int, int], float] = {}
    favourites = []
    for user in range(USERS):
        topics = rng.choice(TOPICS, size=rng.integers(1, 3), replace=False)
        favourites.append({int(t) for t in topics})
        for _ in range(PER_USER):
            if rng.random() < NOISE:
                item = int(rng.integers(ITEMS))
            else:
                item = int(rng.choice(topics)) + TOPICS * int(rng.choice(per_topic, p=zipf))
            # Repeat views of a pair add up, as watch time would.
            pairs[user, item] = pairs.get((user, item), 0.0) + float(rng.uniform(0.5, 1.5))
    keys = np.array(list(pairs), dtype=np.int32)
    return History(keys[:, 0], keys[:, 1], np.array(list(pairs.values()), dtype=np.float32), favourites)


def topic_precision(scores: npt.NDArray[np.float32], history: History) -> float:
    """Mean share of each user's top-K unseen items that are in one of the user's favourite topics."""
    scores = scores[:USERS, :ITEMS].astype(np.float64)
    scores[history.users, history.items] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :K]
    hits = [np.isin(top[user] % TOPICS, list(history.favourites[user])).mean() for user in range(USERS)]
    return float(np.mean(hits))


def random_precision(history: History) -> float:
    """What topic_precision expects of a random top-K: each user's share of unseen items in their
    favourite topics."""
    seen = np.zeros((USERS, ITEMS), dtype=bool)
    seen[history.users, history.items] = True
    favoured = np.array([np.isin(np.arange(ITEMS) % TOPICS, list(f)) for f in history.favourites])
    return float(np.mean((favoured & ~seen).sum(axis=1) / (~seen).sum(axis=1)))


def java_descendants(root: int) -> set[int]:
    """PIDs of the JVMs under process root (pyspark runs spark-submit, which execs java)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue  # exited while listed
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier}
        found |= frontier
    return {pid for pid in found if _comm(pid) == "java"}


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_spark_als_finds_the_topics_and_leaves_no_jvm(tmp_path: Path) -> None:
    history = synthetic_history(seed=3)
    pairs = tmp_path / "pairs.parquet"
    pq.write_table(pa.table({"user": history.users, "item": history.items, "weight": history.weights}), pairs)
    users, items = USERS + SPARE_USERS, ITEMS + SPARE_ITEMS
    # Other tests' JVMs (a Cassandra node) may run under this process too: only new ones count.
    before = java_descendants(os.getpid())

    # The first progress line comes once the session is up: the JVM is running then.
    lines: list[str] = []
    jvms: set[int] = set()

    def progress(line: str) -> None:
        if not lines:
            jvms.update(java_descendants(os.getpid()) - before)
        lines.append(line)

    started = time.monotonic()
    user_factors, item_factors = fit_spark(
        pairs,
        users,
        items,
        factors=FACTORS,
        iterations=ITERATIONS,
        regularization=REGULARIZATION,
        alpha=ALPHA,
        scratch=tmp_path / "scratch",
        seed=1,
        progress=progress,
    )
    spark_seconds = time.monotonic() - started

    # The JVM was this process's child while Spark ran, and it has exited (and been reaped).
    assert jvms, f"no java process under this test while Spark ran ({lines})"
    assert not [pid for pid in jvms if alive(pid)], f"the Spark JVM outlived fit_spark: {jvms}"
    assert java_descendants(os.getpid()) <= before
    assert [line.split(" ", 1)[0] for line in lines] == ["Spark", "read", "fit", "factors"], lines
    assert f"read {len(history.users)} interactions" in lines[1]
    assert list((tmp_path / "scratch").iterdir()) == [], "Spark's files were left in scratch"

    assert user_factors.shape == (users, FACTORS) and user_factors.dtype == np.float32
    assert item_factors.shape == (items, FACTORS) and item_factors.dtype == np.float32
    assert not user_factors[USERS:].any() and not item_factors[ITEMS:].any()
    assert (np.abs(user_factors[:USERS]).sum(axis=1) > 0).all() and (np.abs(item_factors[:ITEMS]).sum(axis=1) > 0).all()

    # Baselines with no personal signal: a random top-K, and the most-interacted items for all
    # (seen ones filtered). A model whose rows belonged to the wrong ids would score like random.
    counts = np.bincount(history.items, minlength=items).astype(np.float32)
    baseline = max(random_precision(history), topic_precision(np.tile(counts, (users, 1)), history))
    spark = topic_precision(user_factors @ item_factors.T, history)
    print(f"\ntop-{K} from favourite topics: Spark {spark:.3f}, best baseline {baseline:.3f}; Spark took {spark_seconds:.1f} s: {lines}")
    assert spark >= 0.6 and spark >= 3 * baseline, (spark, baseline)

    # implicit on the same confidences (1 + alpha * weight, its own alpha 1): Spark scales its
    # regularization by each row's pair count (spark_als.py), so implicit gets the mean count's.
    from implicit.cpu.als import AlternatingLeastSquares

    confidence = sp.csr_matrix((1.0 + ALPHA * history.weights, (history.users, history.items)), shape=(users, items), dtype=np.float32)
    model = AlternatingLeastSquares(
        factors=FACTORS,
        iterations=ITERATIONS,
        regularization=REGULARIZATION * len(history.users) / USERS,
        random_state=1,
    )
    started = time.monotonic()
    model.fit(confidence, show_progress=False)
    implicit_seconds = time.monotonic() - started
    reference = topic_precision(model.user_factors @ model.item_factors.T, history)
    print(f"implicit {reference:.3f} in {implicit_seconds:.2f} s")
    assert reference >= 3 * baseline and abs(spark - reference) <= 0.1, (spark, reference)
