"""The archiver: every counted event of a shard's log into hourly Parquet files, exactly once.

Layout (warehouse_dir, i.e. home/data/warehouse):
  date=YYYY-MM-DD/hour=HH/shard-{shard}-{first entry id}.parquet
by the hour the entries ARRIVED (their stream id's time), so a folder is complete once the log has
moved past its hour. A file is written as a dot-named temp file in the same folder, fsynced and
renamed into place: readers (DuckDB) never see a partial file (discovery part C: 187 of 245 reads
failed with files written in place, 0 with rename).

Exactly once into files: the archiver reads with consumer group 'archive', buffers entries (never
across an arrival hour), writes the buffer, then advances wm:archive:{shard} with a compare-and-set
script, then XACKs. A crash before the watermark moves leaves the entries pending; the restarted
archiver skips what is at or below the watermark and buffers again from the first entry above it,
so its next file has the same name and replaces the one written before the crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import redis.asyncio as redis
from redis.exceptions import ResponseError

from ..runtime.config import Config
from . import keys
from .keys import LogEntry

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
CONSUMER = "archiver"  # one archiver per shard; a fixed name, so a restart gets its pending entries

_TS = pa.timestamp("ms", tz="UTC")
SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("session_id", pa.string()),
        ("video_id", pa.string()),
        ("owner", pa.string()),
        ("viewer", pa.string()),  # keyed hash, never the id the client sent
        ("kind", pa.int32()),  # PlayerEventKind
        ("event_time", _TS),  # the client's clock (arrival when it sent none)
        ("arrival_time", _TS),  # the log entry's time
        ("position_ms", pa.int64()),
        ("played_ms", pa.int64()),
        ("rendition", pa.string()),
        ("previous_rendition", pa.string()),
        ("startup_ms", pa.int64()),
        ("stall_ms", pa.int64()),
        ("seek_from_ms", pa.int64()),
        ("bandwidth", pa.int64()),
        ("error_code", pa.string()),
        ("error_message", pa.string()),
        ("duration_ms", pa.int64()),  # the video's, when the event arrived
    ]
)

# Compare-and-set of the archive watermark: moves only from the value this archiver last saw.
# KEYS: wm, applied. ARGV: expected wm ('' for none), new wm, arrival ms of the new wm's entry.
_ADVANCE = """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
return 1
"""


def entry_key(entry_id: str) -> tuple[int, int]:
    """A stream id as a sortable pair."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


# -- rows -------------------------------------------------------------------------------------


class Rows:
    """Counted events of log entries as Parquet columns."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}

    def __len__(self) -> int:
        return len(self.columns["event_id"])

    def add(self, entry: LogEntry) -> None:
        c = self.columns
        arrival = entry.arrival_ms
        for event in entry.counted():
            video_id = event.video.removeprefix("videos/")
            facts = entry.videos.get(video_id)
            c["event_id"].append(event.event_id)
            c["session_id"].append(event.session_id)
            c["video_id"].append(video_id)
            c["owner"].append(facts.owner if facts else "")
            c["viewer"].append(event.viewer_id)
            c["kind"].append(int(event.kind))
            c["event_time"].append(keys.ms(event.event_time))
            c["arrival_time"].append(arrival)
            c["position_ms"].append(keys.ms(event.position))
            c["played_ms"].append(keys.ms(event.played))
            c["rendition"].append(event.rendition)
            c["previous_rendition"].append(event.previous_rendition)
            c["startup_ms"].append(keys.ms(event.startup_time))
            c["stall_ms"].append(keys.ms(event.stall_duration))
            c["seek_from_ms"].append(keys.ms(event.seek_from))
            c["bandwidth"].append(event.bandwidth_estimate)
            c["error_code"].append(event.error_code)
            c["error_message"].append(event.error_message)
            c["duration_ms"].append(facts.duration_ms if facts else 0)

    def table(self) -> pa.Table:
        return pa.Table.from_pydict(self.columns, schema=SCHEMA)


# -- files ------------------------------------------------------------------------------------


def hour_folder(root: Path, arrival_ms: int) -> Path:
    at = dt.datetime.fromtimestamp(arrival_ms / 1000, dt.UTC)
    return root / f"date={at:%Y-%m-%d}" / f"hour={at:%H}"


def file_name(shard: int, first_entry_id: str) -> str:
    return f"shard-{shard}-{first_entry_id}.parquet"


def write_file(path: Path, table: pa.Table) -> None:
    """Writes table to path through a temp file and a rename: readers see all of it or nothing,
    and a file of the same name (a flush before a crash) is replaced whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".tmp-{path.stem}.partial")  # dot-named and not *.parquet: no reader lists it
    with open(temp, "wb") as out:
        pq.write_table(table, out)
        out.flush()
        os.fsync(out.fileno())  # the watermark moves next: the rows must survive a power loss too
    os.rename(temp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def remove_temp_files(root: Path, shard: int) -> None:
    """Deletes temp files a killed archiver of this shard left (a restart may name its next
    file differently, so nothing would overwrite them)."""
    for temp in root.glob(f"date=*/hour=*/.tmp-shard-{shard}-*"):
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def data_files(root: Path, since_ms: int | None = None, until_ms: int | None = None) -> list[str]:
    """The Parquet files of the hours that overlap [since_ms, until_ms) (None: unbounded)."""
    found: list[str] = []
    if not root.is_dir():
        return found
    for day in sorted(root.glob("date=*")):
        for hour in sorted(day.glob("hour=*")):
            try:
                start = int(
                    dt.datetime.strptime(f"{day.name[5:]} {hour.name[5:]}", "%Y-%m-%d %H").replace(tzinfo=dt.UTC).timestamp() * 1000
                )
            except ValueError:
                continue  # not ours
            if (since_ms is not None and start + HOUR_MS <= since_ms) or (until_ms is not None and start >= until_ms):
                continue
            found += sorted(str(p) for p in hour.glob("*.parquet") if not p.name.startswith("."))
    return found


def delete_expired_days(root: Path, retention_days: int, now: float) -> list[str]:
    """Deletes date folders whose whole day is older than retention_days (0 keeps everything).
    A folder is renamed to a dot name first, so readers stop listing it at once."""
    if retention_days <= 0 or not root.is_dir():
        return []
    oldest_kept = (dt.datetime.fromtimestamp(now, dt.UTC) - dt.timedelta(days=retention_days)).date()
    deleted = []
    for day in root.glob("date=*"):
        try:
            date = dt.date.fromisoformat(day.name[5:])
        except ValueError:
            continue
        if date >= oldest_kept:
            continue
        doomed = day.with_name(f".deleting-{day.name}")
        with contextlib.suppress(FileNotFoundError):  # the other shard's archiver got there first
            os.rename(day, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
            deleted.append(day.name)
    return deleted


# -- the archiver -----------------------------------------------------------------------------


class WatermarkMoved(Exception):
    """Another archiver advanced this shard's watermark (there should be one per shard): the
    buffer is dropped and the pending entries are read again."""


@dataclass
class Buffer:
    """Entries taken since the last flush, all of one arrival hour."""

    first_id: str
    hour: int  # arrival ms // HOUR_MS
    started: float  # monotonic
    rows: Rows = field(default_factory=Rows)
    ids: list[str] = field(default_factory=list)
    last_arrival_ms: int = 0


class Archiver:
    """Archives shard `shard`'s event log into the warehouse; run() until stop is set."""

    def __init__(self, config: Config, client: redis.Redis, shard: int):
        self._settings = config.analytics
        self._root = config.warehouse_dir
        self._client = client
        self._shard = shard
        self._log = keys.log_key(shard)
        self._wm_key = keys.watermark_key(keys.ARCHIVE, shard)
        self._applied_key = keys.applied_key(keys.ARCHIVE, shard)
        self._advance = client.register_script(_ADVANCE)
        self._wm = ""  # the watermark as last read or set
        self._buffer: Buffer | None = None
        self._retention_checked_hour = -1
        self.files_written = 0
        self.rows_written = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Archives until stop is set, then flushes what it holds. (Stopping by an event, not by
        cancelling: a redis-py command cancelled mid-reply can leave the task waiting for ever.)"""
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
            await self._client.xgroup_create(self._log, keys.ARCHIVE, id="0", mkstream=True)
        self._wm = await self._read_watermark()
        await asyncio.to_thread(remove_temp_files, self._root, self._shard)
        pending_from: str | None = "0"  # first what this consumer read before a restart
        while not stop.is_set():
            await self._expire_old_days()
            entries = await self._read(pending_from)
            if pending_from is not None:
                pending_from = entries[-1][0].decode() if entries else None
            try:
                await self._take_all(entries)
                if self._buffer and self._due(self._buffer):
                    await self.flush()
            except WatermarkMoved as moved:
                log.warning("%s; reading its pending entries again", moved)
                self._buffer = None
                pending_from = "0"  # what is left pending gets sorted against the new watermark
        with contextlib.suppress(WatermarkMoved):
            await self.flush()

    async def _take_all(self, entries: list[tuple[bytes, Mapping[bytes, bytes] | None]]) -> None:
        archived = []  # entries at or below the watermark: in files already
        for raw_id, fields in entries:
            entry_id = raw_id.decode()
            if self._wm and entry_key(entry_id) <= entry_key(self._wm):
                archived.append(entry_id)
            else:
                await self._take(entry_id, fields)
        if archived:
            await self._client.xack(self._log, keys.ARCHIVE, *archived)

    async def _read(self, pending_from: str | None) -> list[tuple[bytes, Mapping[bytes, bytes] | None]]:
        block = None
        if pending_from is None:
            block = self._settings.read_block_ms
            if self._buffer:  # wake up in time for a flush by age
                left = self._settings.warehouse_flush_seconds - (time.monotonic() - self._buffer.started)
                block = max(1, min(block, int(left * 1000)))
        reply: Any = await self._client.xreadgroup(
            keys.ARCHIVE, CONSUMER, {self._log: pending_from or ">"}, count=self._settings.read_count, block=block
        )
        return [(entry_id, fields) for _stream, entries in reply or [] for entry_id, fields in entries]

    async def _take(self, entry_id: str, fields: Mapping[bytes, bytes] | None) -> None:
        arrival = entry_key(entry_id)[0]
        if self._buffer and self._buffer.hour != arrival // HOUR_MS:
            await self.flush()  # a file holds one arrival hour
        if self._buffer is None:
            self._buffer = Buffer(entry_id, arrival // HOUR_MS, time.monotonic())
        buffer = self._buffer
        if fields:  # a pending entry trimmed away comes back without fields
            buffer.rows.add(keys.decode_entry(entry_id, fields))
        buffer.ids.append(entry_id)
        buffer.last_arrival_ms = arrival
        if len(buffer.rows) >= self._settings.warehouse_flush_rows:
            await self.flush()

    def _due(self, buffer: Buffer) -> bool:
        return time.monotonic() - buffer.started >= self._settings.warehouse_flush_seconds

    async def flush(self) -> None:
        """Writes the buffer's file, moves the watermark past its entries, acknowledges them."""
        buffer, self._buffer = self._buffer, None
        if buffer is None:
            return
        path = hour_folder(self._root, buffer.hour * HOUR_MS) / file_name(self._shard, buffer.first_id)
        if len(buffer.rows):
            await asyncio.to_thread(write_file, path, buffer.rows.table())
        else:  # a crashed run may have written rows under this name that a later file now holds
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(os.unlink, path)
        last_id = buffer.ids[-1]
        moved = await self._advance(keys=[self._wm_key, self._applied_key], args=[self._wm, last_id, buffer.last_arrival_ms])
        if not moved:
            current = await self._read_watermark()
            if current != last_id:  # (equal: a retried script call that had run)
                self._wm = current
                raise WatermarkMoved(f"archive watermark of shard {self._shard} moved under this archiver to {current!r}")
        self._wm = last_id
        self.files_written += bool(len(buffer.rows))
        self.rows_written += len(buffer.rows)
        for chunk in _chunks(buffer.ids, 1000):
            await self._client.xack(self._log, keys.ARCHIVE, *chunk)

    async def _read_watermark(self) -> str:
        raw = await self._client.get(self._wm_key)
        return raw.decode() if isinstance(raw, bytes) else (raw or "")

    async def _expire_old_days(self) -> None:
        hour = int(time.time() * 1000) // HOUR_MS
        if hour == self._retention_checked_hour:
            return
        self._retention_checked_hour = hour
        deleted = await asyncio.to_thread(delete_expired_days, self._root, self._settings.warehouse_retention_days, time.time())
        if deleted:
            log.info("warehouse: deleted %s (older than %d days)", ", ".join(sorted(deleted)), self._settings.warehouse_retention_days)


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
