"""Training and offline evaluation: BM25-weighted implicit feedback, ALS (implicit on one machine,
Spark MLlib in the cluster profile), and P@10 / MAP@10 / NDCG@10 on a held-out split against a
popularity baseline and against the model in service.

The split holds out `holdout` of each viewer's pairs at random. The model is fitted on the rest
and scored on the held-out pairs of a sample of viewers (one ranking_metrics_at_k call: discovery
notes, three metric passes over all viewers took 450 s). The deployed model's item factors are
scored on the same split, with its viewers' factors solved again from the same training pairs
(one least-squares step), so both are judged on the same data. What is deployed is the evaluated
model, its viewers' factors then solved once more from all their pairs, so nothing a viewer did
is left out of their list.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.evaluation import ranking_metrics_at_k, train_test_split
from implicit.nearest_neighbours import bm25_weight

from ..runtime.config import RecsSettings

K = 10
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Scores:
    precision: float
    map: float
    ndcg: float
    auc: float

    def row(self, name: str) -> str:
        return f"{name:<12} {self.precision:>8.4f} {self.map:>8.4f} {self.ndcg:>8.4f} {self.auc:>8.4f}"


@dataclass(frozen=True)
class Evaluation:
    model: Scores
    popularity: Scores
    deployed: Scores | None  # the model in service, on the same split; None when there is none
    viewers: int  # viewers scored
    held_out: int  # pairs held out (of all viewers)

    def table(self) -> str:
        lines = [
            f"{'':<12} {'P@10':>8} {'MAP@10':>8} {'NDCG@10':>8} {'AUC':>8}",
            self.model.row("new model"),
            self.popularity.row("popularity"),
        ]
        if self.deployed is not None:
            lines.append(self.deployed.row("deployed"))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def weighted(confidence: sp.csr_matrix, settings: RecsSettings) -> sp.csr_matrix:
    """BM25 weights (discovery notes: K1=100, B=0.8): long histories and popular videos count
    less per pair, so a few hits do not drown everyone's lists."""
    return bm25_weight(confidence, K1=settings.bm25_k1, B=settings.bm25_b).tocsr().astype(np.float32)


def split(confidence: sp.csr_matrix, holdout: float, seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    train, test = train_test_split(confidence, train_percentage=1.0 - holdout, random_state=seed)
    return train.tocsr(), test.tocsr()


def new_model(settings: RecsSettings, seed: int, factors: int | None = None) -> AlternatingLeastSquares:
    return AlternatingLeastSquares(
        factors=factors or settings.factors,
        regularization=settings.regularization,
        iterations=settings.iterations,
        random_state=seed,
    )


def fit_implicit(
    train: sp.csr_matrix, settings: RecsSettings, seed: int, progress: Progress, factors: int | None = None
) -> AlternatingLeastSquares:
    model = new_model(settings, seed, factors)
    started = time.monotonic()

    def on_iteration(iteration: int, elapsed: float, loss: float) -> None:
        progress(f"  ALS iteration {iteration + 1}/{settings.iterations}: {time.monotonic() - started:.1f} s")

    model.fit(train, show_progress=False, callback=on_iteration)
    return model


def fit_spark(
    train: sp.csr_matrix, settings: RecsSettings, seed: int, scratch: Path, progress: Progress, factors: int | None = None
) -> AlternatingLeastSquares:
    """Spark MLlib's ALS on the same weighted pairs, written as Parquet for Spark to read; its
    factors go into an implicit model, so evaluation and deployment are the same code."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .spark_als import fit_spark as spark_fit

    coo = train.tocoo()
    pairs = scratch / "train.parquet"
    scratch.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table({"user": coo.row.astype(np.int32), "item": coo.col.astype(np.int32), "weight": coo.data.astype(np.float32)}), pairs
    )
    users, items = spark_fit(
        pairs,
        train.shape[0],
        train.shape[1],
        factors=factors or settings.factors,
        iterations=settings.iterations,
        regularization=settings.regularization,
        alpha=1.0,
        scratch=scratch,
        seed=seed,
        progress=progress,
        master=settings.spark_master,
        driver_memory=settings.spark_driver_memory,
    )
    model = new_model(settings, seed, factors)
    model.user_factors, model.item_factors = users.astype(np.float32), items.astype(np.float32)
    return model


def choose_factors(confidence: sp.csr_matrix, settings: RecsSettings, seed: int, progress: Progress) -> int:
    """The factor count (4, 8, ... up to settings.factors) with the best NDCG@10 on a validation
    split of the training pairs. Too many factors for a small catalogue overfit it and lose to
    popularity (measured: 40 videos in 4 topics, NDCG@10 0.54 at 4 factors, 0.18 at 32 against
    popularity's 0.44), and the best count follows the data's latent dimensions, so small data
    sets are searched (cheap) while large ones use settings.factors."""
    fit_part, validation = split(confidence, 0.15, seed + 1)
    fit_weighted = weighted(fit_part, settings)
    best, best_ndcg = settings.factors, -1.0
    ladder = [f for f in (4, 8, 16, 32, 64, 128, 256) if f < settings.factors] + [settings.factors]
    for factors in ladder:
        model = fit_implicit(fit_weighted, settings, seed, lambda line: None, factors)
        found = evaluate(model, popularity(fit_weighted), None, fit_weighted, validation, settings.eval_users, seed).model.ndcg
        progress(f"  {factors} factors: validation NDCG@10 {found:.4f}")
        if found > best_ndcg:
            best, best_ndcg = factors, found
    return best


def with_item_factors(item_factors: npt.NDArray[np.float32], train: sp.csr_matrix, settings: RecsSettings) -> AlternatingLeastSquares:
    """A model with these item factors and every viewer's factors solved from train."""
    model = new_model(settings, 0, factors=item_factors.shape[1])
    model.item_factors = np.ascontiguousarray(item_factors, np.float32)
    model.user_factors = model.recalculate_user(np.arange(train.shape[0]), train)
    return model


def popularity(train: sp.csr_matrix) -> AlternatingLeastSquares:
    """Most watched first, seen videos filtered: a one-factor model whose viewer factors are 1 and
    item factors the items' pair counts, so it goes through the same recommend and filter path."""
    model = AlternatingLeastSquares(factors=1)
    counts = np.asarray((train > 0).sum(axis=0), np.float32).reshape(-1, 1)
    model.item_factors = counts
    model.user_factors = np.ones((train.shape[0], 1), np.float32)
    return model


def evaluate(
    model: AlternatingLeastSquares,
    baseline: AlternatingLeastSquares,
    deployed: AlternatingLeastSquares | None,
    train: sp.csr_matrix,
    test: sp.csr_matrix,
    sample: int,
    seed: int,
) -> Evaluation:
    viewers = np.flatnonzero(np.diff(test.indptr))
    if len(viewers) > sample:
        viewers = np.random.default_rng(seed).choice(viewers, sample, replace=False)
    mask = np.zeros(test.shape[0], np.float32)
    mask[viewers] = 1.0
    sampled = sp.diags(mask).dot(test).tocsr()
    sampled.eliminate_zeros()

    def score(m: AlternatingLeastSquares) -> Scores:
        found = ranking_metrics_at_k(m, train, sampled, K=K, show_progress=False)
        return Scores(float(found["precision"]), float(found["map"]), float(found["ndcg"]), float(found["auc"]))

    return Evaluation(score(model), score(baseline), score(deployed) if deployed is not None else None, len(viewers), int(test.nnz))


def better_enough(evaluation: Evaluation, tolerance: float) -> tuple[bool, str]:
    """Deploy only a model that is not worse than the one in service (within tolerance, relative
    NDCG@10), and, with none in service, one that beats popularity."""
    new = evaluation.model.ndcg
    if evaluation.deployed is not None:
        floor = evaluation.deployed.ndcg * (1.0 - tolerance)
        if new < floor:
            return False, f"NDCG@10 {new:.4f} is below the deployed model's {evaluation.deployed.ndcg:.4f} (tolerance {tolerance:.0%})"
        return True, f"NDCG@10 {new:.4f} against the deployed model's {evaluation.deployed.ndcg:.4f}"
    if new <= evaluation.popularity.ndcg:
        return False, f"NDCG@10 {new:.4f} does not beat popularity's {evaluation.popularity.ndcg:.4f}"
    return True, f"NDCG@10 {new:.4f} against popularity's {evaluation.popularity.ndcg:.4f}"


def top_lists(
    model: AlternatingLeastSquares, seen: sp.csr_matrix, length: int, batch: int = 10_000
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """Every viewer's best `length` videos they have not seen (rows of seen), best first; entries
    past the videos left are -1."""
    users, items = seen.shape
    n = min(length, items)
    ids = np.full((users, n), -1, np.int32)
    scores = np.zeros((users, n), np.float32)
    for start in range(0, users, batch):
        rows = np.arange(start, min(users, start + batch))
        found, found_scores = model.recommend(rows, seen[rows], N=n, filter_already_liked_items=True)
        ids[rows], scores[rows] = found, found_scores
    ids[~np.isfinite(scores)] = -1
    return ids, np.nan_to_num(scores, neginf=0.0, posinf=0.0)


def related_lists(
    model: AlternatingLeastSquares, length: int, batch: int = 10_000
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """Every video's nearest `length` videos by item factors (cosine), itself left out."""
    items = model.item_factors.shape[0]
    n = min(length + 1, items)
    ids = np.full((items, n - 1), -1, np.int32)
    scores = np.zeros((items, n - 1), np.float32)
    for start in range(0, items, batch):
        rows = np.arange(start, min(items, start + batch))
        found, found_scores = model.similar_items(rows, N=n)
        for j, row in enumerate(rows):
            keep = found[j] != row
            picked, picked_scores = found[j][keep][: n - 1], found_scores[j][keep][: n - 1]
            ids[row, : len(picked)], scores[row, : len(picked)] = picked, picked_scores
    ids[~np.isfinite(scores)] = -1
    return ids, np.nan_to_num(scores, neginf=0.0, posinf=0.0)
