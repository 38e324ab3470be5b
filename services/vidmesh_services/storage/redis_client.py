"""The Redis/Valkey client of upload state and the transcode queue, built in one place.

redis-py's clients made from a URL retry nothing: after Valkey restarts, each pooled connection
fails its next command once (then reconnects), which a caller saw as an error. This client
retries a command on a fresh connection (a few times, backing off, about a second in all),
checks a connection that sat idle before using it, and bounds how long a hung server can hold
a call. What still fails is an outage: runtime/errors.backend_unavailable makes it UNAVAILABLE.

A retried command may already have run when its connection broke, so what vidmesh writes
through this client is idempotent (SET NX markers, keyed hashes, idempotent Lua scripts).
The catalog cache has its own client (catalog/cache.py): shorter timeouts, since it can fall
back to the store.
"""

from __future__ import annotations

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

RETRIES = 4
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 0.5
CONNECT_TIMEOUT_SECONDS = 2.0
# Longer than any command vidmesh sends (blocking reads block for a second); a hung server
# fails the call after this rather than holding it forever.
COMMAND_TIMEOUT_SECONDS = 10.0
# A connection idle this long is PINGed (and replaced if dead) before its next command.
HEALTH_CHECK_SECONDS = 5


def open_redis(url: str) -> redis.Redis:
    """A client for url that survives a Redis/Valkey restart (see the module docstring)."""
    return redis.Redis.from_url(
        url,
        # Retries ConnectionError and TimeoutError (BusyLoadingError, Valkey still loading, included).
        retry=Retry(ExponentialWithJitterBackoff(base=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS), RETRIES),
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=COMMAND_TIMEOUT_SECONDS,
        health_check_interval=HEALTH_CHECK_SECONDS,
    )
