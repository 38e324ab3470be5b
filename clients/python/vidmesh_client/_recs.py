"""`vidmesh recs train | rollback | status`: the operator's commands for recommendations. They run
where the platform runs (they read its config, Valkey and home/data/recs), not through the API."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def cmd_recs_train(args: argparse.Namespace, config: Any) -> int:
    import redis

    from vidmesh_services.recs import train

    client = redis.Redis.from_url(config.effective_redis_url)
    try:
        report = train.run(config, client, trainer=args.trainer or "", say=lambda line: print(line, flush=True))
    except train.Busy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return train.EXIT_BUSY
    finally:
        client.close()
    return 0 if report.deployed else train.EXIT_NOT_DEPLOYED


def cmd_recs_rollback(args: argparse.Namespace, config: Any) -> int:
    import redis

    from vidmesh_services.recs import deploy

    client = redis.Redis.from_url(config.effective_redis_url)
    try:
        swapped = deploy.rollback(client)
    finally:
        client.close()
    if swapped is None:
        print("error: no previous model to roll back to", file=sys.stderr)
        return 1
    print(f"serving {swapped[1]} again (was {swapped[0]}; 'vidmesh recs rollback' again returns to it)")
    return 0


def cmd_recs_status(args: argparse.Namespace, config: Any) -> int:
    import redis

    from vidmesh_services.recs import deploy, keys, models

    client = redis.Redis.from_url(config.effective_redis_url)
    try:
        serving, previous = deploy.current(client)
        feedback = {v: client.hgetall(keys.feedback_key(v)) for v in [*models.versions(config.recs_dir), keys.TRENDING_VERSION]}
    finally:
        client.close()
    rows = []
    for version in reversed(models.versions(config.recs_dir)):
        report = models.load_report(config.recs_dir, version) or {}
        rows.append({"version": version, **_summary(report), **_ctr(feedback.get(version, {}))})
    rows.append({"version": keys.TRENDING_VERSION, **_ctr(feedback.get(keys.TRENDING_VERSION, {}))})
    if args.json:
        print(json.dumps({"current": serving, "previous": previous, "models": rows}, indent=2))
        return 0
    print(f"serving: {serving or '(none: trending only)'}   previous: {previous or '-'}")
    print(f"{'version':<10} {'trainer':<9} {'NDCG@10':>8} {'popular':>8} {'viewers':>9} {'shown':>8} {'clicks':>7} {'CTR':>7}  decision")
    for row in rows:
        ctr = f"{row['ctr']:.1%}" if row["impressions"] else "-"
        ndcg = f"{row['ndcg']:.4f}" if row.get("ndcg") is not None else "-"
        popular = f"{row['popularity_ndcg']:.4f}" if row.get("popularity_ndcg") is not None else "-"
        print(
            f"{row['version']:<10} {row.get('trainer', ''):<9} {ndcg:>8} {popular:>8} {row.get('viewers', ''):>9} "
            f"{row['impressions']:>8} {row['clicks']:>7} {ctr:>7}  {row.get('decision', '')}"
        )
    return 0


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    evaluation = report.get("evaluation") or {}
    return {
        "trainer": report.get("trainer", ""),
        "deployed": report.get("deployed", False),
        "decision": report.get("decision", ""),
        "viewers": report.get("viewers", 0),
        "ndcg": (evaluation.get("model") or {}).get("ndcg"),
        "popularity_ndcg": (evaluation.get("popularity") or {}).get("ndcg"),
        "seconds": report.get("seconds", {}),
    }


def _ctr(counts: dict[Any, Any]) -> dict[str, Any]:
    impressions, clicks = int(counts.get(b"impressions", 0)), int(counts.get(b"clicks", 0))
    return {"impressions": impressions, "clicks": clicks, "ctr": clicks / impressions if impressions else 0.0}
