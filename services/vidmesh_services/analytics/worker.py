"""Analytics worker i: aggregates shard i's event log into counters and archives it to Parquet.

The aggregator counts every event exactly once, whatever crashes or redeliveries happen:
- one aggregator per shard (consumer group 'aggregate'); it takes its own pending entries first
  (what it read before a crash), then new ones;
- it folds a batch of entries in memory, then applies all the batch's changes (counters, HLLs,
  rankings, session states) and moves the shard's watermark past the batch in ONE server-side
  script, which first checks the watermark is where this aggregator last saw it. The changes
  and the watermark move together or not at all;
- entries at or below the watermark are applied already: a redelivered entry is only
  acknowledged. A crash after the script and before XACK leaves them pending: they are skipped.
Entries both groups have applied are trimmed from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as redis
from prometheus_client import Counter, Histogram
from redis.exceptions import ResponseError

from ..runtime.config import Config, load_config
from ..runtime.logs import setup_logging
from ..runtime.metrics import serve_metrics
from ..storage.redis_client import open_redis
from . import keys
from .archive import Archiver, entry_key
from .fold import Changes, Fold, Session, state_id

log = logging.getLogger("vidmesh.analytics.worker")

CONSUMER = "aggregator"  # one per shard; a fixed name, so a restart gets its pending entries
SESSION_CACHE = 200_000  # session states kept in memory (the rest are read back from Redis)
TRIM_SECONDS = 5.0
PFADD_CHUNK = 500  # members per PFADD (Lua's unpack has a stack limit)

EVENTS_COUNTED = Counter("vidmesh_analytics_events_counted_total", "Player events folded into counters", ["shard"])
APPLY_LAG = Histogram(
    "vidmesh_analytics_apply_lag_seconds",
    "From an event log entry's arrival to its counters being applied",
    ["shard"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)

# Applies a batch's changes and moves the watermark, if the watermark is where the caller saw it.
# KEYS: wm, applied, view milestones, views. ARGV: expected wm ('' for none), new wm, its arrival ms,
# hourly ttl, session ttl, the changes as one JSON document (see _changes): one argument rather
# than one per counter, which redis-py would otherwise spend most of the aggregator's time packing;
# then the milestone and view streams' lengths. The keys it writes are named in that document, so all
# analytics keys must live on one Valkey (no cluster). Videos whose lifetime views crossed a
# milestone (keys.view_milestone) go to the milestone stream, and new views to the view stream, in
# the same script.
_APPLY = """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
local function milestone(views)
  if views < 1 then return -1 end
  return math.floor(math.log(views) / math.log(1.1) + 1e-9)
end
local c = cjson.decode(ARGV[6])
local h, z, d, s = c.h, c.z, c.d, c.s
for i = 1, #h, 3 do redis.call('HINCRBY', h[i], h[i + 1], h[i + 2]) end
for i = 1, #z, 3 do redis.call('ZINCRBY', z[i], z[i + 2], z[i + 1]) end
for i = 1, #d, 2 do redis.call('HSET', d[i], 'duration_ms', d[i + 1]) end
for _, add in ipairs(c.p) do redis.call('PFADD', add[1], unpack(add[2])) end
for _, key in ipairs(c.x) do redis.call('EXPIRE', key, ARGV[4]) end
for i = 1, #s, 2 do redis.call('SET', s[i], s[i + 1], 'EX', ARGV[5]) end
local reached = {}
for i = 1, #c.m, 3 do
  local now = tonumber(redis.call('HGET', c.m[i], 'views'))
  if milestone(now) ~= milestone(now - tonumber(c.m[i + 2])) then
    reached[#reached + 1] = c.m[i + 1]
    reached[#reached + 1] = now
  end
end
if #reached > 0 then redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'v', cjson.encode(reached)) end
if #c.w > 0 then redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'v', cjson.encode(c.w)) end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
return 1
"""


class WatermarkMoved(Exception):
    """Another aggregator applied entries of this shard: this one's memory is stale."""


def _text(raw: bytes | str | None) -> str:
    return raw.decode() if isinstance(raw, bytes) else (raw or "")


def _changes(changes: Changes, sessions: Mapping[str, str]) -> str:
    """The changes as the apply script's JSON document: flat lists of (key, field, amount) for
    h(ashes), (key, member, amount) for z(sets), (key, duration) for d(urations), (key, state)
    for s(essions), (video key, video, views added) for m(ilestones), (viewer, video, event ms) for
    w (new views); [key, members] per PFADD
    in p, keys to expire in x. Amounts go as strings,
    so that Lua's doubles never reformat a large integer."""
    h: list[str] = []
    for key, fields in changes.counters.items():
        for name, amount in fields.items():
            h += (key, name, str(amount))
    z: list[str] = []
    for key, members in changes.rankings.items():
        for member, amount in members.items():
            z += (key, member, str(amount))
    d = [item for key, duration in changes.durations.items() for item in (key, str(duration))]
    p = []
    m = [item for video, added in changes.views.items() for item in (keys.video_key(video), video, str(added))]
    for key, viewers in changes.viewers.items():
        listed = sorted(viewers)
        p += [[key, listed[i : i + PFADD_CHUNK]] for i in range(0, len(listed), PFADD_CHUNK)]
    s = [item for key, state in sessions.items() for item in (key, state)]
    w = [item for viewer, video, at in changes.new_views for item in (viewer, video, str(at))]
    document = {"h": h, "z": z, "d": d, "p": p, "x": sorted(changes.hourly), "s": s, "m": m, "w": w}
    return json.dumps(document, separators=(",", ":"))


class Aggregator:
    """Counts shard `shard`'s events; run() until stop is set."""

    def __init__(self, config: Config, client: redis.Redis, shard: int):
        self._settings = config.analytics
        self._client = client
        self._shard = shard
        self._label = str(shard)
        self._log = keys.log_key(shard)
        self._wm_key = keys.watermark_key(keys.AGGREGATE, shard)
        self._applied_key = keys.applied_key(keys.AGGREGATE, shard)
        self._apply = client.register_script(_APPLY)
        self._wm = ""
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._trimmed_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
            await self._client.xgroup_create(self._log, keys.AGGREGATE, id="0", mkstream=True)
        self._wm = _text(await self._client.get(self._wm_key))
        pending = True  # first what this consumer read before a restart
        while not stop.is_set():
            entries = await self._read(pending)
            if pending and not entries:
                pending = False
                continue
            try:
                await self.take(entries)
            except WatermarkMoved as moved:
                log.warning("%s; reading its pending entries again", moved)
                pending = True
            await self._trim()

    async def _read(self, pending: bool) -> list[tuple[bytes, Mapping[bytes, bytes] | None]]:
        reply: Any = await self._client.xreadgroup(
            keys.AGGREGATE,
            CONSUMER,
            {self._log: "0" if pending else ">"},
            count=self._settings.read_count,
            block=None if pending else self._settings.read_block_ms,
        )
        return [(entry_id, fields) for _stream, entries in reply or [] for entry_id, fields in entries]

    async def take(self, entries: Sequence[tuple[bytes, Mapping[bytes, bytes] | None]]) -> None:
        """Applies the entries above the watermark, then acknowledges them all."""
        if not entries:
            return
        fresh = []
        for raw_id, fields in entries:
            entry_id = raw_id.decode()
            if fields and not (self._wm and entry_key(entry_id) <= entry_key(self._wm)):
                fresh.append(keys.decode_entry(entry_id, fields))
        if fresh:
            await self._apply_entries(fresh)
        await self._client.xack(self._log, keys.AGGREGATE, *(raw_id for raw_id, _ in entries))

    async def _apply_entries(self, entries: list[keys.LogEntry]) -> None:
        stored = await self._load_sessions({state_id(e) for entry in entries for e in entry.counted()})
        changes = Fold(stored).add(entries)
        sessions = {keys.session_key(sid): state.dumps() for sid, state in changes.sessions.items()}
        last = entries[-1]
        s = self._settings
        args: list[str | int] = [self._wm, last.entry_id, last.arrival_ms, s.hourly_retention_days * 86_400, s.session_memory_seconds]
        applied = await self._apply(
            keys=[self._wm_key, self._applied_key, keys.MILESTONES, keys.VIEWS],
            args=[*args, _changes(changes, sessions), keys.MILESTONES_KEPT, keys.VIEWS_KEPT],
        )
        if not applied:
            current = _text(await self._client.get(self._wm_key))
            if current != last.entry_id:  # (equal: a retried call whose first run had applied)
                self._sessions.clear()
                self._wm = current
                raise WatermarkMoved(f"aggregate watermark of shard {self._shard} moved under this aggregator to {current!r}")
        self._wm = last.entry_id
        for sid, state in changes.sessions.items():
            self._remember(sid, state)
        now = time.time()
        for entry in entries:
            APPLY_LAG.labels(self._label).observe(max(0.0, now - entry.arrival_ms / 1000))
        EVENTS_COUNTED.labels(self._label).inc(sum(len(entry.counted()) for entry in entries))

    async def _load_sessions(self, ids: set[str]) -> dict[str, Session]:
        """The states of these sessions: from memory, else from Redis (copies: a failed apply
        must not leave memory ahead of Redis)."""
        found = {sid: Session(**vars(self._sessions[sid])) for sid in ids if sid in self._sessions}
        missing = [sid for sid in ids if sid not in found]
        if missing:
            raws = await self._client.mget([keys.session_key(sid) for sid in missing])
            found.update({sid: Session.loads(raw) for sid, raw in zip(missing, raws, strict=True) if raw})
        return found

    def _remember(self, sid: str, state: Session) -> None:
        self._sessions[sid] = state
        self._sessions.move_to_end(sid)
        while len(self._sessions) > SESSION_CACHE:
            self._sessions.popitem(last=False)

    async def _trim(self) -> None:
        """Drops entries both groups have applied (the log is the backlog ingest bounds)."""
        now = time.monotonic()
        if now - self._trimmed_at < TRIM_SECONDS:
            return
        self._trimmed_at = now
        marks = [_text(m) for m in await self._client.mget([keys.watermark_key(g, self._shard) for g in keys.GROUPS])]
        if all(marks):
            oldest = min(marks, key=entry_key)
            await self._client.xtrim(self._log, minid=oldest, approximate=True)


async def run_worker(config: Config, shard: int, stop: asyncio.Event) -> None:
    """The aggregator and the archiver of one shard, until stop is set."""
    client = open_redis(config.effective_redis_url)  # reconnects after a Valkey restart
    try:
        aggregate = asyncio.create_task(Aggregator(config, client, shard).run(stop))
        archive = asyncio.create_task(Archiver(config, client, shard).run(stop))
        # The first loop to end (a failure) stops the other; both end within a read's block time,
        # the archiver after a last flush.
        await asyncio.wait({aggregate, archive}, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        for result in await asyncio.gather(aggregate, archive, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result  # let the supervisor restart us
    finally:
        await client.aclose()


def main() -> None:
    config = load_config()
    shard = int(os.environ.get("VIDMESH_WORKER_INDEX", "0"))
    setup_logging(f"analytics-worker-{shard}", config.log_level)
    serve_metrics(config, "analytics_worker", shard)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(config, shard, stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
