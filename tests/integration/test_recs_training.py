"""The training job against a real Valkey, DuckDB over warehouse Parquet and implicit: it learns
the latent topics of a synthetic history, beats popularity, refuses a worse model, deploys with
an atomic switch that concurrent readers never see half of, survives being killed, and rolls back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis

from tests.support.interactions import History, synthetic_history, write_warehouse
from tests.support.processes import valkey_server
from vidmesh_services.platform.pids import die_with_parent
from vidmesh_services.recs import deploy, keys, models, train, worker
from vidmesh_services.recs.store import RecsStore
from vidmesh_services.runtime.config import Config, RecsSettings

pytestmark = pytest.mark.slow

SMALL = RecsSettings(factors=32, iterations=10, train_every_seconds=0, factor_search_pairs=0)


@pytest.fixture
def valkey(tmp_path: Path) -> Iterator[str]:
    with valkey_server(tmp_path / "valkey") as url:
        yield url


def platform(tmp_path: Path, url: str, settings: RecsSettings = SMALL) -> Config:
    return Config(home=tmp_path / "home", redis_url=url, recs=settings)


def history(config: Config, viewers: int = 2000, videos: int = 400, sessions: int = 60_000) -> History:
    found, columns = synthetic_history(viewers, videos, sessions, topics=20, seed=3)
    write_warehouse(config.warehouse_dir, found, columns)
    return found


def quiet(line: str) -> None:
    pass


def personal(client: redis.Redis, version: str, viewer: str) -> list[str]:
    items = client.get(keys.items_key(version)).decode().split("\n")  # type: ignore[union-attr]
    ids, _ = keys.unpack_list(client.get(keys.personal_key(version, viewer)))  # type: ignore[arg-type]
    return [items[i] for i in ids]


def test_the_model_learns_topics_beats_popularity_and_deploys(tmp_path: Path, valkey: str) -> None:
    config = platform(tmp_path, valkey)
    found = history(config)
    client = redis.Redis.from_url(valkey)
    report = train.run(config, client, say=quiet)

    assert report.deployed, report.decision
    evaluation = report.evaluation
    assert evaluation is not None
    model, popular = evaluation["model"], evaluation["popularity"]
    assert model["ndcg"] >= 1.5 * popular["ndcg"], report.table  # type: ignore[index]
    assert model["precision"] > popular["precision"]  # type: ignore[index]
    assert deploy.current(client) == (report.version, "")
    assert (report.viewers, report.videos) == (2000, 400)

    # A viewer's list leads with their favourite topic, and leaves out what they watched.
    topic_of = dict(zip(found.videos, found.video_topic.tolist(), strict=True))
    on_topic = []
    for i in range(0, 2000, 50):
        listed = personal(client, report.version, found.viewers[i])[:10]
        assert len(listed) == 10
        on_topic.append(np.mean([topic_of[v] in found.viewer_topics[i][:2] for v in listed]))
    assert np.mean(on_topic) > 0.6  # two topics of twenty: 0.1 by chance

    saved = models.load_report(config.recs_dir, report.version)
    assert saved is not None and saved["deployed"] and "NDCG@10" in saved["table"]


def test_a_worse_model_is_refused_and_serving_is_untouched(tmp_path: Path, valkey: str) -> None:
    config = platform(tmp_path, valkey)
    history(config)
    client = redis.Redis.from_url(valkey)
    good = train.run(config, client, say=quiet)
    assert good.deployed

    worse = platform(
        tmp_path, valkey, RecsSettings(factors=2, iterations=1, regularization=50.0, train_every_seconds=0, factor_search_pairs=0)
    )
    refused = train.run(worse, client, say=quiet)
    assert not refused.deployed and "below the deployed model" in refused.decision
    assert deploy.current(client) == (good.version, "")
    assert not client.exists(keys.items_key(refused.version))

    # The refused model's report is kept; the CLI's exit status says it was not deployed.
    report = models.load_report(config.recs_dir, refused.version)
    assert report is not None and not report["deployed"]


def test_rollback_serves_the_previous_model_again(tmp_path: Path, valkey: str) -> None:
    config = platform(tmp_path, valkey)
    history(config)
    client = redis.Redis.from_url(valkey)
    first = train.run(config, client, say=quiet)
    second = train.run(config, client, say=quiet)
    assert first.deployed and second.deployed
    assert deploy.current(client) == (second.version, first.version)
    assert deploy.rollback(client) == (second.version, first.version)
    assert deploy.current(client) == (first.version, second.version)
    third = train.run(config, client, say=quiet)  # a new model retires the oldest, keeps one back
    assert deploy.current(client) == (third.version, first.version)
    assert not client.exists(keys.items_key(second.version))
    assert {v.decode() for v in client.smembers(keys.VERSIONS)} == {first.version, third.version}


async def test_readers_see_one_whole_model_while_versions_switch(tmp_path: Path, valkey: str) -> None:
    """Two deployments alternate while readers read: every read is one version's list for the
    viewer, complete, never a mix of two and never empty."""
    client = redis.Redis.from_url(valkey)
    viewers = [f"viewer{i}" for i in range(300)]
    videos = {"a": [f"a{i}" for i in range(50)], "b": [f"b{i}" for i in range(50)]}
    lists = {name: (np.tile(np.arange(20, dtype=np.int32), (300, 1)), np.ones((300, 20), np.float32)) for name in videos}
    related = (np.full((50, 1), -1, np.int32), np.zeros((50, 1), np.float32))
    deployed: dict[str, str] = {}  # version -> which item table

    def deploy_one(name: str) -> None:
        version = deploy.new_version(client)
        deployed[version] = name
        deploy.deploy(client, version, viewers, videos[name], lists[name], related, quiet)

    deploy_one("a")
    done = threading.Event()

    def switch() -> None:
        for i in range(12):
            deploy_one("b" if i % 2 == 0 else "a")
        done.set()

    reader_client = aioredis.Redis.from_url(valkey)
    store = RecsStore(reader_client, watched_kept=10, max_reactions=10)
    switching = threading.Thread(target=switch)
    switching.start()
    reads, versions_seen = 0, set()
    while not done.is_set():
        viewer = viewers[reads % len(viewers)]
        snap = await store.snapshot(viewer, "")
        items = await store.items(snap.version)
        ids, _ = keys.unpack_list(snap.personal)
        listed = [items[i] for i in ids]
        expected = videos[deployed[snap.version]][:20]
        assert listed == expected, (snap.version, listed[:3])
        reads += 1
        versions_seen.add(snap.version)
        await asyncio.sleep(0)
    switching.join()
    await reader_client.aclose()
    assert reads > 100 and len(versions_seen) >= 3, (reads, versions_seen)


def test_a_killed_job_leaves_serving_as_it_was_and_the_next_one_cleans_up(tmp_path: Path, valkey: str) -> None:
    config = platform(tmp_path, valkey)
    history(config, viewers=30_000, videos=1500, sessions=400_000)
    client = redis.Redis.from_url(valkey)
    first = train.run(config, client, say=quiet)
    assert first.deployed
    probe = personal(client, first.version, f"viewer{7:07d}")

    env = {
        **os.environ,
        "VIDMESH_HOME": str(config.home),
        "VIDMESH_REDIS_URL": valkey,
        "VIDMESH_RECS_FACTORS": "32",
        "VIDMESH_RECS_ITERATIONS": "10",
        "VIDMESH_RECS_FACTOR_SEARCH_PAIRS": "0",
    }
    job = subprocess.Popen(
        [sys.executable, "-m", "vidmesh_services.recs.train"], env=env, stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent
    )
    assert job.stdout is not None
    started_deploying = False
    for line in job.stdout:  # kill it while its lists are being written, before the switch
        if line.startswith("  lists for"):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and client.scard(keys.VERSIONS) < 2:
                time.sleep(0.001)
            time.sleep(0.05)
            started_deploying = client.scard(keys.VERSIONS) == 2 and deploy.current(client)[0] == first.version
            break
    job.send_signal(signal.SIGKILL)
    job.wait(timeout=30)
    job.stdout.close()
    assert started_deploying, "the job finished deploying before it could be killed mid-way"

    assert deploy.current(client) == (first.version, "")
    assert personal(client, first.version, f"viewer{7:07d}") == probe
    half_written = {v.decode() for v in client.smembers(keys.VERSIONS)} - {first.version}
    assert len(half_written) == 1 and client.exists(keys.items_key(half_written.pop()))

    # The next job takes over the dead job's lock and removes what it left.
    again = train.run(config, client, say=quiet)
    assert again.deployed
    assert {v.decode() for v in client.smembers(keys.VERSIONS)} == {first.version, again.version}


async def test_the_worker_runs_the_job_as_a_child_process(tmp_path: Path, valkey: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = platform(tmp_path, valkey)
    history(config)
    for name, value in (("VIDMESH_HOME", str(config.home)), ("VIDMESH_REDIS_URL", valkey), ("VIDMESH_RECS_FACTOR_SEARCH_PAIRS", "0")):
        monkeypatch.setenv(name, value)
    assert await worker.train_once() == 0
    client = redis.Redis.from_url(valkey)
    version = deploy.current(client)[0]
    assert version and models.load_report(config.recs_dir, version)["deployed"]  # type: ignore[index]
    assert await worker.train_once() == 0  # a second run compares against the first, and replaces it
    assert deploy.current(client) == (f"v{int(version[1:]) + 1}", version)


def test_the_spark_trainer_runs_the_same_job(tmp_path: Path, valkey: str) -> None:
    """The cluster profile's trainer, in Spark local mode: same signals, evaluation and deploy."""
    config = platform(
        tmp_path, valkey, RecsSettings(factors=16, iterations=8, train_every_seconds=0, factor_search_pairs=0, spark_driver_memory="1g")
    )
    found = history(config, viewers=1500, videos=300, sessions=40_000)
    client = redis.Redis.from_url(valkey)
    report = train.run(config, client, trainer="spark", say=quiet)
    assert report.trainer == "spark" and report.deployed, report.decision
    evaluation = report.evaluation
    assert evaluation is not None and evaluation["model"]["ndcg"] >= 1.5 * evaluation["popularity"]["ndcg"], report.table  # type: ignore[index]
    assert len(personal(client, report.version, found.viewers[0])) == 100
