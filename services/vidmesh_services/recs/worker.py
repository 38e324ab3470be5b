"""The recs worker (`vidmesh up` runs one): follows analytics' new views into watched sets and
trending scores, writes the trending list every trending_refresh_seconds, and runs the training
job every train_every_seconds as a child process (`python -m vidmesh_services.recs.train`): a
job that crashes or is killed leaves the deployed model and this worker as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from prometheus_client import Counter, Gauge

from ..analytics.client import AnalyticsClient
from ..runtime.calls import RemoteError, ServiceChannels
from ..runtime.config import Config, load_config
from ..runtime.errors import VidmeshError, backend_unavailable
from ..runtime.logs import setup_logging
from ..runtime.metrics import serve_metrics
from ..storage.redis_client import open_redis
from .trending import Trending

log = logging.getLogger("vidmesh.recs.worker")

TRAININGS = Counter("vidmesh_recs_trainings_total", "Training jobs run by the worker, by outcome", ["outcome"])
TRENDING_SIZE = Gauge("vidmesh_recs_trending_videos", "Videos in the trending list")
OUTCOMES = {0: "deployed", 3: "not_deployed", 4: "busy"}
RETRY_SECONDS = 2.0


class Worker:
    def __init__(self, config: Config, trending: Trending):
        self._config = config
        self._trending = trending

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._follow(stop)), asyncio.create_task(self._refresh(stop))]
        if self._config.recs.train_every_seconds > 0:
            tasks.append(asyncio.create_task(self._schedule(stop)))
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _follow(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                applied = await self._trending.follow_once()
            except (VidmeshError, RemoteError, OSError) as exc:
                log.warning("reading new views failed (%s); retrying", exc)
                applied = 0
                await asyncio.sleep(RETRY_SECONDS)
            except Exception as exc:
                if backend_unavailable(exc) is None:
                    raise
                log.warning("Valkey unavailable (%s); retrying", exc)
                applied = 0
                await asyncio.sleep(RETRY_SECONDS)
            if not applied:
                await asyncio.sleep(self._config.recs.views_poll_seconds)

    async def _refresh(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                TRENDING_SIZE.set(len(await self._trending.refresh()))
            except Exception as exc:
                if backend_unavailable(exc) is None:
                    raise
                log.warning("Valkey unavailable (%s); trending not refreshed", exc)
            await asyncio.sleep(self._config.recs.trending_refresh_seconds)

    async def _schedule(self, stop: asyncio.Event) -> None:
        every = self._config.recs.train_every_seconds
        while not stop.is_set():
            await asyncio.sleep(every)
            await train_once()


async def train_once() -> int:
    """Runs the training job as a child process (it reads the same config, from the same
    environment); returns its exit status."""
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "vidmesh_services.recs.train")
    try:
        code = await process.wait()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        raise
    outcome = OUTCOMES.get(code, "failed")
    TRAININGS.labels(outcome).inc()
    (log.info if code in OUTCOMES else log.error)("scheduled training finished: %s (exit %s)", outcome, code)
    return code


def main() -> None:
    config = load_config()
    setup_logging("recs-worker", config.log_level)
    serve_metrics(config, "recs_worker")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        channels = ServiceChannels(config)
        client = open_redis(config.effective_redis_url)
        try:
            await Worker(config, Trending(client, AnalyticsClient(channels), config.recs)).run(stop)
        finally:
            await client.aclose()
            await channels.close()

    asyncio.run(run())


if __name__ == "__main__":
    main()
