"""Spark MLlib's ALS (implicitPrefs) for the cluster profile: fits factors from a Parquet file of
weighted (user, item) pairs and hands them back as dense numpy arrays.

The Spark JVM is this call's own: it is started here and gone when fit_spark returns. Stopping a
SparkSession leaves pyspark's gateway JVM running until Python exits, so it is shut down as well.

Spark's confidence and implicit's (read in Spark's ALS.scala computeFactors and implicit 0.7.3
cpu/als.py): both solve Hu, Koren and Volinsky's normal equations
    (YᵀY + Σ_i (c_ui - 1) y_i y_iᵀ + λ_u I) x_u = Σ_i p_ui c_ui y_i      (unobserved: c = 1, p = 0)
- Spark: c_ui = 1 + alpha * |r_ui|, p_ui = 1 if r_ui > 0 else 0, and λ_u = regParam * n_u, where n_u
  is u's count of r > 0 (ALS-WR scaling; likewise per item).
- implicit: c_ui = implicit_alpha * value (its alpha defaults to 1), p_ui = 1 if that is > 0, and
  λ_u = regularization, one constant for every user and item.
So giving implicit 1 + alpha * weight (its alpha 1.0) reproduces Spark's confidences exactly, but
not its regularization: that would need regularization = regParam * n_u per row, which implicit
cannot take. regParam * (mean pairs per user) only approximates it, and items, which have
different counts, are regularized differently still. implicit also defaults to 3 conjugate-gradient
steps per solve, where Spark solves exactly (Cholesky).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa

LOOPBACK = "127.0.0.1"
JVM_EXIT_SECONDS = 30.0


def fit_spark(
    interactions: Path,
    users: int,
    items: int,
    *,
    factors: int,
    iterations: int,
    regularization: float,
    alpha: float,
    scratch: Path,
    seed: int = 0,
    progress: Callable[[str], None] = print,
    master: str = "local[2]",
    driver_memory: str = "4g",
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(user_factors, item_factors), users x factors and items x factors, float32. interactions
    holds `user` (0..users-1), `item` (0..items-1) and `weight` (> 0), the confidence weights
    already applied. Ids Spark never saw get rows of zeros. Spark's files go to a temporary folder
    under scratch, removed before this returns."""
    # Imported here: pyspark is the optional `spark` extra, and the embedded profile never loads it.
    from pyspark.core.context import SparkContext
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    if SparkContext._gateway is not None:
        # Its JVM would be reused and then shut down here, under whoever started it.
        raise RuntimeError("a Spark JVM is already running in this process")
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="spark-", dir=scratch))
    spark: SparkSession | None = None
    try:
        started = time.monotonic()
        # The JVM inherits os.environ when it is launched (in getOrCreate). SPARK_LOCAL_IP keeps it
        # off a resolved non-loopback address; SPARK_LOCAL_DIRS does what spark.local.dir would,
        # without Spark's warning that a cluster manager overrides that setting.
        with _environ(SPARK_LOCAL_IP=LOOPBACK, SPARK_LOCAL_DIRS=str(work / "local")):
            spark = (
                SparkSession.builder.master(master)
                .appName("vidmesh-recs-als")
                .config("spark.driver.memory", driver_memory)  # read by spark-submit, before the JVM starts
                .config("spark.driver.bindAddress", LOOPBACK)
                .config("spark.driver.host", LOOPBACK)
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")  # progress() reports instead
                .getOrCreate()
            )
        spark.sparkContext.setLogLevel("WARN")
        # ALS checkpoints its factors every checkpointInterval (10) iterations once a folder is
        # set, which cuts the RDD lineage that otherwise grows with every iteration.
        spark.sparkContext.setCheckpointDir(str(work / "checkpoints"))
        progress(f"Spark session ({master}) started in {time.monotonic() - started:.1f} s")

        started = time.monotonic()
        pairs = spark.read.parquet(str(interactions)).select("user", "item", "weight")
        # One scan that also checks the contract: Spark would take a weight <= 0 as a dislike,
        # and ids out of range would only fail after the whole fit.
        row = pairs.agg(F.count(F.lit(1)), F.min("user"), F.max("user"), F.min("item"), F.max("item"), F.min("weight")).collect()[0]
        count, low_user, high_user, low_item, high_item, low_weight = row
        if count == 0:
            raise ValueError(f"{interactions}: no interactions")
        if low_user < 0 or high_user >= users or low_item < 0 or high_item >= items or low_weight <= 0:
            raise ValueError(
                f"{interactions}: users {low_user}..{high_user} (of {users}), items {low_item}..{high_item} (of {items}),"
                f" lowest weight {low_weight}: want ids in range and weights > 0"
            )
        progress(f"read {count} interactions in {time.monotonic() - started:.1f} s")

        started = time.monotonic()
        als = ALS(
            rank=factors,
            maxIter=iterations,
            regParam=regularization,
            alpha=alpha,
            implicitPrefs=True,
            userCol="user",
            itemCol="item",
            ratingCol="weight",
            nonnegative=False,
            seed=seed,
            coldStartStrategy="drop",
        )
        model = als.fit(pairs)
        progress(f"fit in {time.monotonic() - started:.1f} s")

        started = time.monotonic()
        # toArrow was the fastest way out for 138k x 64 (0.7-1.9 s; Parquet and pyarrow 1.9-4.6 s;
        # collect() 5.5 s).
        user_factors = _dense(model.userFactors.toArrow(), users, factors)
        item_factors = _dense(model.itemFactors.toArrow(), items, factors)
        progress(f"factors out in {time.monotonic() - started:.1f} s")
        return user_factors, item_factors
    finally:
        try:
            if spark is not None:
                spark.stop()
        finally:
            _stop_jvm()
            shutil.rmtree(work, ignore_errors=True)


def _dense(table: pa.Table, rows: int, rank: int) -> npt.NDArray[np.float32]:
    """A factor table (id, features: list<float>) as a rows x rank array, zeros where no id."""
    ids = np.asarray(table.column("id").to_numpy(), dtype=np.int64)
    values = table.column("features").combine_chunks().flatten().to_numpy()
    out = np.zeros((rows, rank), dtype=np.float32)
    out[ids] = np.asarray(values, dtype=np.float32).reshape(len(ids), rank)
    return out


def _stop_jvm() -> None:
    """Shuts down pyspark's gateway JVM and waits for it to exit, so that the next fit_spark
    starts a new one (spark.stop() leaves it running, and it holds its driver heap)."""
    from py4j.protocol import Py4JError  # type: ignore[import-untyped]  # py4j ships no type information
    from pyspark.core.context import SparkContext

    gateway = SparkContext._gateway
    if gateway is None:
        return
    process: subprocess.Popen[bytes] | None = getattr(gateway, "proc", None)
    with contextlib.suppress(Py4JError, OSError):  # a JVM that died already is what is wanted
        gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if process is None:
        return
    if process.stdin is not None:
        # The gateway server exits when its stdin closes: the same path as when Python dies.
        process.stdin.close()
    try:
        process.wait(timeout=JVM_EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
