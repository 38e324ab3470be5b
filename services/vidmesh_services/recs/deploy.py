"""Deployment of a model's lists to Valkey, the atomic switch, rollback, and clean-up.

A version's keys are all written before `current` names it, and readers read `current` and the
lists under it in one script (store.py), so a reader sees one model or the other, never a mix and
never a half-written one. The version before is kept for rollback; older ones, and any left
half-written by a job that died, are deleted once no pointer names them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

from ..storage.redis_replies import optional_reply_text
from . import keys

PIPELINE = 1000  # SETs per round trip (discovery notes: 59k keys/s at 1000)

# KEYS: current, previous, versions. ARGV: the new version. Returns the version it replaced.
_SWITCH = """
local old = redis.call('GET', KEYS[1])
if old then redis.call('SET', KEYS[2], old) end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return old or ''
"""

# Swaps current and previous. KEYS: current, previous. Returns {from, to}, or {} with no previous.
_ROLLBACK = """
local now, before = redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])
if not before or not now then return {} end
redis.call('SET', KEYS[1], before)
redis.call('SET', KEYS[2], now)
return {now, before}
"""


@dataclass(frozen=True)
class Deployed:
    version: str
    replaced: str
    seconds: float
    personal_keys: int
    related_keys: int
    personal_bytes: int  # Valkey memory of the personal lists (MEMORY USAGE, sampled)


def new_version(client: redis.Redis) -> str:
    return f"v{int(client.incr(keys.NEXT_VERSION))}"


def current(client: redis.Redis) -> tuple[str, str]:
    """(current, previous) versions ('' for none)."""
    now, before = client.mget(keys.CURRENT, keys.PREVIOUS)
    return optional_reply_text(now), optional_reply_text(before)


def deploy(
    client: redis.Redis,
    version: str,
    viewers: Sequence[str],
    videos: Sequence[str],
    personal: tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]],
    related: tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]],
    progress: Callable[[str], None],
) -> Deployed:
    started = time.monotonic()
    client.sadd(keys.VERSIONS, version)  # before any list: a half-written version can be found and removed
    client.set(keys.items_key(version), "\n".join(videos))
    personal_keys = _write(client, [keys.personal_key(version, v) for v in viewers], *personal)
    progress(f"  {personal_keys} personal lists written in {time.monotonic() - started:.1f} s")
    related_keys = _write(client, [keys.related_key(version, v) for v in videos], *related)
    sampled = [keys.personal_key(version, v) for v in viewers[:: max(1, len(viewers) // 200)]]
    usage = [int(client.memory_usage(key) or 0) for key in sampled]
    replaced = optional_reply_text(client.register_script(_SWITCH)(keys=[keys.CURRENT, keys.PREVIOUS, keys.VERSIONS], args=[version]))
    retire_unused(client)
    return Deployed(version, replaced, time.monotonic() - started, personal_keys, related_keys, int(np.mean(usage)) if usage else 0)


def _write(client: redis.Redis, names: Sequence[str], ids: npt.NDArray[np.int32], scores: npt.NDArray[np.float32]) -> int:
    written = 0
    with client.pipeline(transaction=False) as pipe:
        for row, name in enumerate(names):
            keep = ids[row] >= 0
            if not keep.any():
                continue
            pipe.set(name, keys.pack_list(ids[row][keep], scores[row][keep]))
            written += 1
            if written % PIPELINE == 0:
                pipe.execute()
        pipe.execute()
    return written


def rollback(client: redis.Redis) -> tuple[str, str] | None:
    """Serves the previous version again (and keeps the one it replaces as previous)."""
    reply: Any = client.register_script(_ROLLBACK)(keys=[keys.CURRENT, keys.PREVIOUS])
    return (optional_reply_text(reply[0]), optional_reply_text(reply[1])) if reply else None


def retire_unused(client: redis.Redis) -> list[str]:
    """Deletes the lists of every version that neither current nor previous names."""
    named = set(current(client))
    retired = []
    for raw in client.smembers(keys.VERSIONS):
        version = optional_reply_text(raw)
        if version in named:
            continue
        batch: list[str] = []
        for key in client.scan_iter(match=f"{keys.model_prefix(version)}*", count=1000):
            batch.append(optional_reply_text(key))
            if len(batch) >= PIPELINE:
                client.unlink(*batch)
                batch = []
        if batch:
            client.unlink(*batch)
        client.srem(keys.VERSIONS, version)
        retired.append(version)
    return retired
