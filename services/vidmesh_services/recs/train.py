"""The training job: `vidmesh recs train`, and hourly inside `vidmesh up` (the recs worker runs
it as `python -m vidmesh_services.recs.train`, a process of its own, so that a crash or a kill
of the job never touches serving).

Steps: signals from the warehouse and reactions -> BM25 -> held-out split -> ALS (implicit or
Spark) -> evaluation against popularity and the deployed model -> if not worse: every viewer's
list and every video's related list to Valkey under a new version, then the switch. Progress
lines are printed and kept with the model (home/data/recs/models/<version>/report.json).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import resource
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import redis
import threadpoolctl

from ..platform.pids import pid_alive
from ..runtime.config import Config, load_config
from ..storage.redis_replies import optional_reply_text
from . import deploy, keys, models, signals, training

log = logging.getLogger("vidmesh.recs.train")

LOCK = f"{keys.PREFIX}training"
LOCK_SECONDS = 6 * 3600
EXIT_NOT_DEPLOYED = 3  # the model was trained but not deployed (worse, or nothing to learn from)
EXIT_BUSY = 4  # another training job holds the lock
SEED = 7


@dataclass
class Report:
    version: str
    trainer: str
    deployed: bool = False
    decision: str = ""
    viewers: int = 0
    videos: int = 0
    pairs: int = 0
    factors: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    evaluation: dict[str, object] | None = None
    table: str = ""
    peak_rss_mb: float = 0.0
    personal_bytes: int = 0
    progress: list[str] = field(default_factory=list)


class Busy(Exception):
    """Another training job is running."""


@contextlib.contextmanager
def training_lock(client: redis.Redis) -> Iterator[None]:
    """One job at a time. A lock left by a killed job on this machine is taken over at once
    (its pid is gone); one from another machine waits for its expiry."""
    me = f"{socket.gethostname()}:{os.getpid()}"
    if not client.set(LOCK, me, nx=True, ex=LOCK_SECONDS):
        holder = optional_reply_text(client.get(LOCK))
        host, _, pid = holder.rpartition(":")
        if host != socket.gethostname() or not pid.isdigit() or _alive(int(pid)):
            raise Busy(f"another training job holds the lock ({holder})")
        client.set(LOCK, me, ex=LOCK_SECONDS)
    try:
        yield
    finally:
        if optional_reply_text(client.get(LOCK)) == me:
            client.delete(LOCK)


def _alive(pid: int) -> bool:
    try:
        return pid_alive(pid)
    except PermissionError:  # another user's process: alive
        return True


def read_reactions(client: redis.Redis) -> list[signals.Reaction]:
    """Every viewer's likes, dislikes and shares (a SCAN of the per-viewer hashes)."""
    found: dict[tuple[str, str], list[int]] = {}
    for prefix, slot in ((f"{keys.PREFIX}reactions:", 0), (f"{keys.PREFIX}shares:", 1)):
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            viewer = optional_reply_text(key).removeprefix(prefix)
            for video, value in client.hgetall(key).items():
                found.setdefault((viewer, optional_reply_text(video)), [0, 0])[slot] = int(value)
    return [signals.Reaction(viewer, video, reaction, shares) for (viewer, video), (reaction, shares) in found.items()]


def run(config: Config, client: redis.Redis, *, trainer: str = "", say: Callable[[str], None] = print) -> Report:
    """Trains, evaluates and (if not worse) deploys one model; the report says what happened."""
    settings = config.recs
    trainer = trainer or settings.trainer
    if trainer not in ("implicit", "spark"):
        raise ValueError(f"recs.trainer must be 'implicit' or 'spark', not {trainer!r}")
    with training_lock(client):
        deploy.retire_unused(client)  # what a killed job left half-written
        report = Report(deploy.new_version(client), trainer)
        clock = time.monotonic()

        def progress(line: str) -> None:
            report.progress.append(line)
            say(line)

        def lap(name: str) -> None:
            nonlocal clock
            report.seconds[name] = round(time.monotonic() - clock, 2)
            clock = time.monotonic()

        try:
            with threadpoolctl.threadpool_limits(1, "blas"):  # implicit's own threads do the work
                _train(config, client, report, progress, lap)
        finally:
            report.peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
            models.save_report(config.recs_dir, report.version, vars(report))
            models.prune(config.recs_dir, set(deploy.current(client)))
        return report


def _train(config: Config, client: redis.Redis, report: Report, progress: Callable[[str], None], lap: Callable[[str], None]) -> None:
    settings = config.recs
    progress(f"model {report.version}: reading signals from {config.warehouse_dir}")
    data = signals.load(config.warehouse_dir, read_reactions(client), settings)
    report.viewers, report.videos, report.pairs = len(data.viewers), len(data.videos), data.pairs
    lap("signals")
    progress(f"  {report.viewers} viewers, {report.videos} videos, {report.pairs} pairs in {report.seconds['signals']} s")
    if report.pairs < 2 or report.videos < 2:
        report.decision = "not deployed: too little to learn from"
        progress(report.decision)
        return
    train_pairs, test_pairs = training.split(data.confidence, settings.holdout, SEED)
    train = training.weighted(train_pairs, settings)
    lap("split")
    factors = settings.factors
    if train.nnz <= settings.factor_search_pairs:
        progress(f"choosing the factor count on a validation split of {train.nnz} pairs")
        factors = training.choose_factors(train_pairs, settings, SEED, progress)
        lap("choose")
    report.factors = factors
    progress(f"training ALS ({report.trainer}, {factors} factors, {settings.iterations} iterations) on {train.nnz} pairs")
    if report.trainer == "spark":
        model = training.fit_spark(train, settings, SEED, config.recs_dir / "spark-scratch", progress, factors)
    else:
        model = training.fit_implicit(train, settings, SEED, progress, factors)
    lap("fit")
    progress(f"  fitted in {report.seconds['fit']} s")
    deployed_model = _deployed_model(config, client, data.videos, train)
    evaluation = training.evaluate(model, training.popularity(train), deployed_model, train, test_pairs, settings.eval_users, SEED)
    lap("evaluate")
    report.evaluation, report.table = evaluation.as_dict(), evaluation.table()
    progress(f"evaluation on {evaluation.viewers} viewers' held-out pairs ({report.seconds['evaluate']} s):\n{report.table}")
    ok, why = training.better_enough(evaluation, settings.tolerance)
    if not ok:
        report.decision = f"not deployed: {why}"
        progress(report.decision)
        return
    everything = training.weighted(data.confidence, settings)
    model.user_factors = model.recalculate_user(np.arange(everything.shape[0]), everything)
    seen = (data.confidence + data.disliked).tocsr()
    personal = training.top_lists(model, seen, settings.personal_length)
    related = training.related_lists(model, settings.related_length)
    lap("lists")
    progress(f"  lists for {report.viewers} viewers and {report.videos} videos in {report.seconds['lists']} s")
    models.save_factors(config.recs_dir, report.version, model.item_factors, data.videos)
    done = deploy.deploy(client, report.version, data.viewers, data.videos, personal, related, progress)
    lap("deploy")
    report.deployed, report.personal_bytes = True, done.personal_bytes
    report.decision = f"deployed: {why}" + (f"; replaces {done.replaced}" if done.replaced else "")
    progress(f"{report.decision} ({done.personal_keys} viewers, {done.personal_bytes} bytes per list, {done.seconds:.1f} s)")


def _deployed_model(config: Config, client: redis.Redis, videos: list[str], train: Any) -> Any:
    """The model in service as item factors over today's videos (new ones at zero), with
    viewers' factors solved from today's training pairs; None when nothing is deployed."""
    version = deploy.current(client)[0]
    found = models.load_factors(config.recs_dir, version) if version else None
    if found is None:
        return None
    factors, old_videos = found
    position = {video: i for i, video in enumerate(old_videos)}
    items = np.zeros((len(videos), factors.shape[1]), np.float32)
    for i, video in enumerate(videos):
        j = position.get(video)
        if j is not None and j < len(factors):
            items[i] = factors[j]
    return training.with_item_factors(items, train, config.recs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m vidmesh_services.recs.train", description="Train, evaluate and deploy recommendations."
    )
    parser.add_argument("--trainer", choices=("implicit", "spark"), help="override recs.trainer")
    args = parser.parse_args(argv)
    config = load_config()
    client = redis.Redis.from_url(config.effective_redis_url)
    try:
        report = run(config, client, trainer=args.trainer or "", say=lambda line: print(line, flush=True))
    except Busy as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(EXIT_BUSY) from None
    finally:
        client.close()
    raise SystemExit(0 if report.deployed else EXIT_NOT_DEPLOYED)


if __name__ == "__main__":
    main()
