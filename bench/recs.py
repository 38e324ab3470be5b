"""`make bench-recs`: recommendations on a MovieLens-20M-shaped synthetic history (138k viewers x
27k videos x 20M sessions, 40 latent topics: tests/support/interactions.py; no data set can be
downloaded here).

One run:
1. writes the history as analytics warehouse Parquet and runs the real training job
   (`python -m vidmesh_services.recs.train`, its own process) against a Valkey: signals through
   DuckDB, BM25, ALS with implicit, P@10 / MAP@10 / NDCG@10 against popularity on the held-out
   split, every viewer's list and every video's related list deployed; its report gives each
   phase's time, peak RSS and Valkey bytes per list;
2. fits implicit and Spark MLlib ALS (local[2]) on the same weighted pairs (a slice of the
   history, --spark-pairs, since Spark on all of it takes most of an hour here), in one child
   process, and scores both the same way;
3. starts `vidmesh up` with 5,000 catalog videos and a model over them, and measures
   GetRecommendations with ghz (compiled, so the client is not the bottleneck), straight to the
   recs process and through Envoy, at a fixed offered rate and closed-loop at saturation.
Figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import DOCS, OUT, ROOT, machine, md_table, running_vidmesh, say, text_table, write_section

sys.path.insert(0, str(ROOT))
from tests.support.interactions import synthetic_history, write_warehouse
from tests.support.processes import valkey_server

GHZ = ROOT / ".tools" / "bin" / "ghz"
PROTOSET = ROOT / "gen" / "descriptor" / "vidmesh.binpb"
METHOD = "vidmesh.recs.v1.RecsService/GetRecommendations"


def train_full(work: Path, viewers: int, videos: int, sessions: int, topics: int) -> dict[str, Any]:
    """Phase 1: the real job on the full history; its report.json has the figures."""
    home = work / "train-home"
    started = time.monotonic()
    history, columns = synthetic_history(viewers, videos, sessions, topics=topics, seed=5)
    rows = write_warehouse(home / "data" / "warehouse", history, columns)
    del columns
    generated = time.monotonic() - started
    say(f"  {rows:,} sessions written as warehouse Parquet in {generated:.0f} s")
    with valkey_server(work / "valkey") as url:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("VIDMESH_")},
            "VIDMESH_HOME": str(home),
            "VIDMESH_REDIS_URL": url,
            "OPENBLAS_NUM_THREADS": "1",
        }
        begun = time.monotonic()
        job = subprocess.run([sys.executable, "-m", "vidmesh_services.recs.train"], env=env, capture_output=True, text=True)
        wall = time.monotonic() - begun
        if job.returncode not in (0, 3):
            raise RuntimeError(f"training failed ({job.returncode}):\n{job.stdout[-3000:]}\n{job.stderr[-3000:]}")
        import redis

        client = redis.Redis.from_url(url)
        client.execute_command("FLUSHALL", "SYNC")  # (Valkey 9 frees lazily by default: measure after a sync flush)
        client.close()
    version = sorted((home / "data" / "recs" / "models").iterdir(), key=lambda p: int(p.name[1:]))[-1]
    report: dict[str, Any] = json.loads((version / "report.json").read_text())
    report["job_wall_seconds"] = round(wall, 1)
    report["generate_seconds"] = round(generated, 1)
    return report


def _spark_child(work: Path, viewers: int, videos: int, sessions: int, topics: int, results: Any) -> None:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    import threadpoolctl

    from vidmesh_services.recs import signals, training
    from vidmesh_services.runtime.config import RecsSettings

    settings = RecsSettings()
    history, columns = synthetic_history(viewers, videos, sessions, topics=topics, seed=5)
    warehouse = work / "spark-warehouse"
    write_warehouse(warehouse, history, columns)
    data = signals.load(warehouse, [], settings)
    train_pairs, test_pairs = training.split(data.confidence, settings.holdout, 7)
    train = training.weighted(train_pairs, settings)
    out: dict[str, Any] = {"viewers": len(data.viewers), "videos": len(data.videos), "pairs": int(train.nnz)}
    with threadpoolctl.threadpool_limits(1, "blas"):
        for name in ("implicit", "spark"):
            started, cpu = time.monotonic(), time.process_time()
            if name == "implicit":
                model = training.fit_implicit(train, settings, 7, lambda line: None)
            else:
                model = training.fit_spark(train, settings, 7, work / "spark-scratch", lambda line: say(f"    spark: {line}"))
            out[f"{name}_seconds"] = round(time.monotonic() - started, 1)
            out[f"{name}_python_cpu"] = round(time.process_time() - cpu, 1)
            evaluation = training.evaluate(model, training.popularity(train), None, train, test_pairs, settings.eval_users, 7)
            out[f"{name}_ndcg"] = round(evaluation.model.ndcg, 4)
            out["popularity_ndcg"] = round(evaluation.popularity.ndcg, 4)
            say(f"  {name}: fit {out[f'{name}_seconds']} s, NDCG@10 {out[f'{name}_ndcg']}")
    results.put(out)


def spark_vs_implicit(work: Path, viewers: int, videos: int, sessions: int, topics: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_spark_child, args=(work, viewers, videos, sessions, topics, results))
    child.start()
    found: dict[str, Any] = results.get()
    child.join()
    return found


def ghz(address: str, data: Path, out: Path, *, callers: int, rate: int, seconds: float) -> dict[str, Any]:
    argv = [
        str(GHZ),
        "--insecure",
        f"--protoset={PROTOSET}",
        f"--call={METHOD}",
        f"--data-file={data}",
        f"--concurrency={callers}",
        f"--connections={max(1, callers // 8)}",
        f"--rps={rate}",
        f"--duration={seconds}s",
        "--format=json",
        f"--output={out}",
        address,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 300)
    if result.returncode != 0:
        raise RuntimeError(f"ghz failed ({result.returncode}): {result.stderr.strip()}")
    report: dict[str, Any] = json.loads(out.read_text())
    latencies = {int(d["percentage"]): d["latency"] / 1e6 for d in report.get("latencyDistribution") or []}
    codes = report.get("statusCodeDistribution") or {}
    return {
        "rps": round(float(report["rps"]), 1),
        "p50": latencies.get(50, float("nan")),
        "p99": latencies.get(99, float("nan")),
        "count": int(report["count"]),
        "errors": int(report["count"]) - int(codes.get("OK", 0)),
    }


def serving(work: Path, catalog_videos: int, viewers: int, sessions: int, seconds: float, rate: int) -> dict[str, Any]:
    """Phase 3: GetRecommendations against a running mesh with a model over real catalog videos."""
    import grpc

    from tests.support.catalog import create_catalog_video
    from vidmesh_services.runtime.viewers import viewer_hasher

    home = work / "serve-home"
    token, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    overrides = {
        "VIDMESH_SERVICE_TOKEN": token,
        "VIDMESH_PLAYBACK_SECRET": secret,
        "VIDMESH_TRANSCODE_WORKERS": "1",
        "VIDMESH_RECS_TRAIN_EVERY_SECONDS": "0",
    }
    found: dict[str, Any] = {}
    with running_vidmesh(home, overrides) as mesh:
        say(f"  creating {catalog_videos:,} catalog videos ...")
        with grpc.insecure_channel(f"127.0.0.1:{mesh.ports['catalog']}") as channel:
            ids = [create_catalog_video(channel, token, f"creator{i % 50}", 300, title=f"bench {i}") for i in range(catalog_videos)]
        hashed = viewer_hasher(secret.encode())
        history, columns = synthetic_history(viewers, catalog_videos, sessions, topics=20, seed=9, video_ids=ids)
        anonymous = [hashed(f"anon:b{i}") for i in range(viewers)]
        history.viewers[:] = anonymous  # the warehouse holds keyed hashes, as analytics writes them
        write_warehouse(home / "data" / "warehouse", history, columns)
        trained = subprocess.run(
            [sys.executable, "-m", "vidmesh_client", "recs", "train"], env=mesh.env, capture_output=True, text=True, timeout=900
        )
        if trained.returncode != 0:
            raise RuntimeError(f"vidmesh recs train failed:\n{trained.stdout[-2000:]}{trained.stderr[-2000:]}")
        data = work / "requests.json"
        picks = random.Random(3).sample(range(viewers), min(5000, viewers))
        data.write_text(json.dumps([{"viewerId": f"b{i}", "pageSize": 20} for i in picks]))
        targets = {"direct (recs process)": f"127.0.0.1:{mesh.ports['recs']}", "through Envoy": mesh.gateway}
        for name, address in targets.items():
            say(f"  {name}: warm-up, {rate}/s offered, then saturation ...")
            ghz(address, data, work / "warmup.json", callers=4, rate=0, seconds=5)
            found[f"{name}|fixed"] = ghz(address, data, work / "fixed.json", callers=4, rate=rate, seconds=seconds)
            found[f"{name}|saturation"] = ghz(address, data, work / "saturation.json", callers=16, rate=0, seconds=seconds)
            say(f"    {found[f'{name}|fixed']} / {found[f'{name}|saturation']}")
    return found


def report(args: argparse.Namespace, full: dict[str, Any], spark: dict[str, Any], served: dict[str, Any]) -> str:
    evaluation = full.get("evaluation") or {}
    model, popular = evaluation.get("model") or {}, evaluation.get("popularity") or {}
    seconds = full["seconds"]
    quality = md_table(
        ["model", "P@10", "MAP@10", "NDCG@10"],
        [
            [
                "ALS (implicit, 64 factors, 15 iterations)",
                f"{model.get('precision', 0):.4f}",
                f"{model.get('map', 0):.4f}",
                f"{model.get('ndcg', 0):.4f}",
            ],
            [
                "popularity (most watched, seen filtered)",
                f"{popular.get('precision', 0):.4f}",
                f"{popular.get('map', 0):.4f}",
                f"{popular.get('ndcg', 0):.4f}",
            ],
        ],
    )
    phases = md_table(
        ["phase", "seconds"],
        [[name, f"{value:.1f}"] for name, value in seconds.items()] + [["whole job (wall)", f"{full['job_wall_seconds']:.1f}"]],
    )
    ratio = spark["spark_seconds"] / max(spark["implicit_seconds"], 1e-9)
    spark_table = md_table(
        ["trainer", "fit wall s", "NDCG@10"],
        [
            ["implicit", f"{spark['implicit_seconds']:.1f}", f"{spark['implicit_ndcg']:.4f}"],
            ["Spark MLlib ALS, local[2]", f"{spark['spark_seconds']:.1f}", f"{spark['spark_ndcg']:.4f}"],
            ["popularity", "", f"{spark['popularity_ndcg']:.4f}"],
        ],
    )
    rows = []
    for key, figures in served.items():
        target, mode = key.split("|")
        offered = f"{args.rate}/s offered, 4 callers" if mode == "fixed" else "closed loop, 16 callers"
        rows.append([target, offered, f"{figures['rps']:.0f}", f"{figures['p50']:.2f}", f"{figures['p99']:.2f}", str(figures["errors"])])
    serving_table = md_table(["GetRecommendations", "load", "calls/s", "p50 ms", "p99 ms", "errors"], rows)
    ndcg_ratio = model.get("ndcg", 0) / max(popular.get("ndcg", 1e-9), 1e-9)
    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    info = machine()
    return f"""<!-- bench:recs -->
## Recommendations (`make bench-recs`)

{stamp} UTC, commit {info.get("commit", "?")}, {info.get("cpus", "?")} cores. Command: `make bench-recs{(' ARGS="' + args.raw_args + '"') if args.raw_args else ""}`.
Synthetic history shaped like MovieLens-20M: {args.viewers:,} viewers x {args.videos:,} videos x {args.sessions:,} sessions, {args.topics} latent topics (tests/support/interactions.py).

**Training job** (`python -m vidmesh_services.recs.train`, one process): {full["viewers"]:,} viewers, {full["videos"]:,} videos, {full["pairs"]:,} pairs after folding sessions; peak RSS {full["peak_rss_mb"]:.0f} MB; personal lists {full["personal_bytes"]} bytes each in Valkey (100 entries, MEMORY USAGE). Target: < 5 min on 2 cores.

{phases}

**Ranking quality** on the held-out 20% (one ranking_metrics_at_k call over {evaluation.get("viewers", 0):,} sampled viewers): NDCG@10 {ndcg_ratio:.1f}x popularity (target >= 1.5x).

{quality}

**implicit vs Spark MLlib ALS** on the same weighted pairs ({spark["pairs"]:,} training pairs of {spark["viewers"]:,} viewers x {spark["videos"]:,} videos; the same factors, iterations and regularization), one child process: Spark/implicit fit time {ratio:.1f}x (target >= 10x).

{spark_table}

**Serving** GetRecommendations (page of 20, the personal list filtered by watched and disliked videos, videos from the recs process's memory) for random viewers of a model over {args.catalog_videos:,} catalog videos, ghz for {args.seconds:.0f} s each. Targets: p99 < 3 ms direct, < 10 ms through Envoy.

{serving_table}
<!-- /bench:recs -->
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=138_000)
    parser.add_argument("--videos", type=int, default=27_000)
    parser.add_argument("--sessions", type=int, default=20_000_000)
    parser.add_argument("--topics", type=int, default=40)
    parser.add_argument("--spark-sessions", type=int, default=1_300_000, help="sessions of the implicit-vs-Spark slice (~1M pairs)")
    parser.add_argument("--catalog-videos", type=int, default=5000)
    parser.add_argument("--serve-viewers", type=int, default=20_000)
    parser.add_argument("--serve-sessions", type=int, default=400_000)
    parser.add_argument("--rate", type=int, default=300, help="offered calls/s of the fixed-rate serving runs")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--skip", action="append", default=[], choices=("train", "spark", "serve"))
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    args.raw_args = " ".join(argv if argv is not None else sys.argv[1:])
    work = OUT / f"recs-{secrets.token_hex(3)}"
    work.mkdir(parents=True)
    try:
        full: dict[str, Any] = {}
        if "train" not in args.skip:
            say(f"training on {args.viewers:,} x {args.videos:,} x {args.sessions:,} ...")
            full = train_full(work, args.viewers, args.videos, args.sessions, args.topics)
            say("  " + full["decision"] + f"; {full['seconds']}; peak RSS {full['peak_rss_mb']} MB")
        spark: dict[str, Any] = {}
        if "spark" not in args.skip:
            say(f"implicit vs Spark on a {args.spark_sessions:,}-session slice ...")
            viewers = max(1000, args.viewers * args.spark_sessions // args.sessions)
            spark = spark_vs_implicit(
                work, viewers, max(500, args.videos * args.spark_sessions // args.sessions), args.spark_sessions, args.topics
            )
        served: dict[str, Any] = {}
        if "serve" not in args.skip:
            say("serving ...")
            served = serving(work, args.catalog_videos, args.serve_viewers, args.serve_sessions, args.seconds, args.rate)
        if not args.skip and not args.no_docs:
            write_section(DOCS, "recs", report(args, full, spark, served))
            say(f"wrote {DOCS}")
        print(
            text_table(
                ["phase", "figures"],
                [["train", json.dumps(full.get("seconds"))], ["spark", json.dumps(spark)], ["serve", json.dumps(served)]],
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
