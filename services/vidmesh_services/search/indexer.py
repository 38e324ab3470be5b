"""The search indexer: the one process that writes the index, following the catalog's feed.

- At start it opens the generation current.json names and reads the feed from the cursor saved
  with it. With no index, an index tantivy cannot open, or a cursor the catalog no longer keeps,
  it builds a new generation from a scan of the whole catalog (readers keep the old one, or
  answer SEARCH_INDEX_BUILDING when there is none), then follows the feed from the position the
  scan began at, so no change made during the scan is lost.
- It reads the feed every poll_seconds, reads the changed videos from the catalog, and puts
  READY ones in the index (with their view counts from analytics) and takes the others out.
  Applying a change means copying the video's current state, so a change read twice, or a
  cursor replayed after a crash (the cursor is saved after the commit), changes nothing.
- Every views_seconds it reads analytics' view milestones and re-indexes the videos whose views
  grew by about 10%, so popularity ranking and the popular order stay current without a write
  per view.
- It commits as soon as it has applied changes, but at most every commit_seconds, so a burst
  of changes costs a few commits, and a change is searchable within about a poll, a commit and a
  reader reload (docs/search.md has the measured figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram

from ..analytics.client import MAX_VIEW_COUNTS, AnalyticsClient
from ..catalog.client import CatalogClient
from ..catalog.store import ChangeCursorExpired, VideoChange
from ..runtime.calls import RemoteError, ServiceChannels
from ..runtime.config import Config, load_config
from ..runtime.errors import VidmeshError
from ..runtime.logs import setup_logging
from ..runtime.metrics import serve_metrics
from .index import IndexWriter, Pointer, drop_other_generations, indexable, next_generation, read_pointer, write_pointer

log = logging.getLogger("vidmesh.search.indexer")

FEED_PAGE = 1000
SCAN_PAGE = 1000
BATCH = 100  # videos per BatchGetVideos
SEEN_SECONDS = 60.0  # (video, revision) pairs remembered: the feed repeats at most a lookback
RETRY_SECONDS = 1.0

CHANGES = Counter("vidmesh_search_changes_applied_total", "Catalog changes applied to the search index")
COMMITS = Histogram("vidmesh_search_commit_seconds", "Index commit time", buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2))
BUILT = Gauge("vidmesh_search_build_videos", "Videos indexed so far by the running (re)build")


# The writer, the catalog feed's cursor and analytics' view-milestone cursor.
_Position = tuple[IndexWriter, str, str]
SAVE_SECONDS = 5.0  # how often moved cursors are saved when there was nothing to commit


class _Seen:
    """The feed's changes applied lately, so a change delivered again is skipped."""

    def __init__(self) -> None:
        self._at: dict[tuple[str, int], float] = {}

    def fresh(self, changes: Sequence[VideoChange]) -> set[str]:
        now = time.monotonic()
        ids = set()
        for change in changes:
            key = (change.video_id, change.rev)
            if key not in self._at:
                self._at[key] = now
                ids.add(change.video_id)
        if len(self._at) > 10_000:
            self._at = {k: at for k, at in self._at.items() if now - at < SEEN_SECONDS}
        return ids


class Indexer:
    def __init__(self, config: Config, catalog: CatalogClient, analytics: AnalyticsClient):
        self._root = config.search_dir
        self._settings = config.search
        self._catalog = catalog
        self._analytics = analytics
        self._seen = _Seen()
        self._views_read = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        at = await self._open_or_build(stop)
        committed = saved = 0.0
        try:
            while at is not None and not stop.is_set():
                writer, cursor, views_cursor = at
                try:
                    changes, cursor = await self._catalog.list_video_changes(cursor, FEED_PAGE)
                    await self._apply(writer, self._seen.fresh(changes))
                except ChangeCursorExpired:
                    log.warning("the catalog no longer keeps changes from %s: rebuilding the index", cursor)
                    writer.close()
                    at = await self._build(stop, read_pointer(self._root))
                    continue
                except (VidmeshError, RemoteError) as exc:
                    log.warning("catalog feed: %s; retrying", exc)
                    await _wait(stop, RETRY_SECONDS)
                    continue
                views_cursor = await self._follow_views(writer, views_cursor)
                at = writer, cursor, views_cursor
                wait = self._settings.commit_seconds - (time.monotonic() - committed)
                if writer.pending and wait > 0:
                    await _wait(stop, wait)
                if writer.pending:
                    with COMMITS.time():
                        writer.commit(cursor, views_cursor)
                    committed = saved = time.monotonic()
                elif time.monotonic() - saved > SAVE_SECONDS:  # the cursors moved past nothing to apply
                    write_pointer(self._root, Pointer(writer.generation, cursor, views_cursor))
                    saved = time.monotonic()
                if len(changes) < FEED_PAGE:
                    await _wait(stop, self._settings.poll_seconds)
        finally:
            if at is not None:
                at[0].close()

    async def _open_or_build(self, stop: asyncio.Event) -> _Position | None:
        pointer = read_pointer(self._root)
        if pointer is not None:
            try:
                writer = IndexWriter(self._root, pointer.generation, fresh=False)
                return writer, pointer.cursor, pointer.views_cursor or await self._views_head()
            except (OSError, ValueError) as exc:
                log.warning("the index cannot be opened (%s): rebuilding it", exc)
        return await self._build(stop, pointer)

    async def _views_head(self) -> str:
        """Analytics' newest view-milestone position ('' while analytics cannot say)."""
        try:
            return (await self._analytics.view_milestones(""))[1]
        except (VidmeshError, RemoteError) as exc:
            log.warning("view milestones: %s", exc)
            return ""

    async def _follow_views(self, writer: IndexWriter, cursor: str) -> str:
        """Every views_seconds: re-indexes the videos whose views reached a milestone, so the
        popularity the index ranks by stays within about 10% without a write per view."""
        if time.monotonic() - self._views_read < self._settings.views_seconds:
            return cursor
        self._views_read = time.monotonic()
        if not cursor:
            return await self._views_head()
        try:
            reached, cursor = await self._analytics.view_milestones(cursor, FEED_PAGE)
        except (VidmeshError, RemoteError) as exc:
            log.warning("view milestones: %s", exc)
            return cursor
        latest = dict(reached)  # the last (highest) count of each video
        ids = sorted(latest)
        for start in range(0, len(ids), BATCH):
            part = ids[start : start + BATCH]
            try:
                videos = await self._catalog.batch_get_videos(part)
            except (VidmeshError, RemoteError) as exc:
                log.warning("catalog, for view milestones: %s", exc)
                continue  # these keep their older count until their next milestone
            for video_id in part:
                video = videos.get(video_id)
                if video is not None and indexable(video):
                    writer.put(video, latest[video_id])
        return cursor

    async def _build(self, stop: asyncio.Event, old: Pointer | None) -> _Position | None:
        """A new generation from a scan of the catalog; readers switch to it once it is whole.
        None if stopped first."""
        generation = next_generation(old)
        writer = IndexWriter(self._root, generation, fresh=True)
        started, token, cursor, count = time.monotonic(), "", "", 0
        views_cursor = await self._views_head()
        log.info("building index generation %d from the catalog", generation)
        while True:
            if stop.is_set():
                writer.close()
                return None
            try:
                page = await self._catalog.scan_videos(token, SCAN_PAGE)
            except (VidmeshError, RemoteError) as exc:
                log.warning("catalog scan: %s; retrying", exc)
                await _wait(stop, RETRY_SECONDS)
                continue
            cursor = cursor or page.changes_cursor
            ready = [v for v in page.videos if indexable(v)]
            views = await self._views([v.id for v in ready]) or {}
            for video in ready:
                writer.put(video, views.get(video.id, 0))
            count += len(ready)
            BUILT.set(count)
            if count and count % 10_000 < len(ready):
                log.info("indexed %d videos (%.0f/s)", count, count / (time.monotonic() - started))
            token = page.next_page_token
            if not token:
                break
        writer.commit(cursor, views_cursor)
        drop_other_generations(self._root, generation)
        log.info("index generation %d built: %d videos in %.1f s", generation, count, time.monotonic() - started)
        return writer, cursor, views_cursor

    async def _apply(self, writer: IndexWriter, ids: set[str]) -> None:
        listed = sorted(ids)
        for start in range(0, len(listed), BATCH):
            part = listed[start : start + BATCH]
            videos = await self._catalog.batch_get_videos(part)
            ready = [videos[i] for i in part if indexable(videos.get(i))]
            views = await self._views([v.id for v in ready])
            if views is None:  # keep the counts the index has
                views = writer.views_of([v.id for v in ready])
            for video_id in part:
                video = videos.get(video_id)
                if indexable(video):
                    assert video is not None
                    writer.put(video, views.get(video_id, 0))
                else:
                    writer.remove(video_id)
            CHANGES.inc(len(part))

    async def _views(self, ids: list[str]) -> dict[str, int] | None:
        """Their view counts from analytics; None if it cannot answer (the video is indexed anyway)."""
        try:
            parts = [ids[i : i + MAX_VIEW_COUNTS] for i in range(0, len(ids), MAX_VIEW_COUNTS)]
            found: dict[str, int] = {}
            for counts in await asyncio.gather(*(self._analytics.view_counts(p) for p in parts)):
                found.update(counts)
            return found
        except (VidmeshError, RemoteError) as exc:
            log.warning("view counts unavailable: %s", exc)
            return None


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def main() -> None:
    config = load_config()
    setup_logging("search-indexer", config.log_level)
    serve_metrics(config, "search_indexer")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        channels = ServiceChannels(config)
        try:
            await Indexer(config, CatalogClient(channels), AnalyticsClient(channels)).run(stop)
        finally:
            await channels.close()

    asyncio.run(run())


if __name__ == "__main__":
    main()
