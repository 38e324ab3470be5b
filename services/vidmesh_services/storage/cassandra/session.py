"""One Cassandra connection per process, shared by its stores, bridged to asyncio.

The connection is made in the background: until it is up, calls wait up to
connect_timeout_seconds and then fail UNAVAILABLE; `wait_ready()` is what health reporting
awaits. The catalog, which owns the schema, opens it with `migrate=True` and applies what is
missing (schema.migrate); every other process only waits until the keyspace has every migration
it knows, so N processes no longer race N migration runners at start-up.

Statements are prepared on first use. Driver errors become UNAVAILABLE (retry) or
DEADLINE_EXCEEDED (may have taken effect), never INTERNAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cassandra import InvalidRequest
from cassandra.cluster import Cluster, Session
from cassandra.query import PreparedStatement

from ...runtime.config import CassandraSettings
from ...runtime.errors import DeadlineExceeded, Unavailable, VidmeshError
from .schema import DRIVER_TIMEOUTS, DRIVER_UNAVAILABLE, MigrationError, connect, consistency, migrate, pending_migrations

log = logging.getLogger("vidmesh.cassandra")
RECONNECT_MAX_SECONDS = 5.0


@dataclass(frozen=True)
class Statement:
    """A CQL statement a store uses; {ks} is replaced by the keyspace."""

    cql: str
    # Plain writes that may be sent again safely (the driver may retry them on another node).
    idempotent: bool = False
    # Read at the serial consistency: sees the latest compare-and-set.
    serial: bool = False


def translate(exc: BaseException) -> BaseException:
    """The VidmeshError a driver error means for callers; other errors are returned unchanged."""
    if isinstance(exc, DRIVER_TIMEOUTS):
        return DeadlineExceeded(f"the metadata store did not answer in time: {exc}", reason="METADATA_STORE_TIMEOUT")
    if isinstance(exc, DRIVER_UNAVAILABLE):
        return Unavailable(f"the metadata store is unavailable: {exc}", reason="METADATA_STORE_UNAVAILABLE")
    return exc


class CassandraConnection:
    def __init__(self, settings: CassandraSettings, *, migrate: bool):
        self.settings = settings
        self._migrate = migrate
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._prepared: dict[Statement, PreparedStatement] = {}
        self._ready = asyncio.Event()
        self._closed = False
        self._starter: asyncio.Task[None] | None = None
        self.last_error = ""

    # -- connecting -------------------------------------------------------------------------

    def _start(self) -> None:
        if self._starter is None and not self._closed:
            self._starter = asyncio.get_running_loop().create_task(self._connect_until_ready())

    async def _connect_until_ready(self) -> None:
        delay = 0.5
        while not self._closed:
            try:
                await asyncio.to_thread(self._connect)
            except Exception as exc:  # Cassandra down or still starting, or the schema not there yet
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("cannot use Cassandra yet; retrying", extra={"fields": {"error": self.last_error, "retry_in_seconds": delay}})
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            self.last_error = ""
            self._ready.set()
            log.info("connected to Cassandra", extra={"fields": {"keyspace": self.settings.keyspace}})
            return

    def _connect(self) -> None:
        cluster, session = connect(self.settings)
        try:
            if self._migrate:
                migrate(session, self.settings)
            else:
                self._check_schema(session)
            session.set_keyspace(self.settings.keyspace)
        except BaseException:
            cluster.shutdown()
            raise
        if self._closed:  # closed while connecting
            cluster.shutdown()
            return
        self._cluster, self._session = cluster, session

    def _check_schema(self, session: Session) -> None:
        try:
            session.set_keyspace(self.settings.keyspace)
            missing: list[int | str] = [m.version for m in pending_migrations(session)]
        except InvalidRequest:  # no keyspace or bookkeeping table yet
            missing = ["all"]
        if missing:
            raise MigrationError(f"keyspace {self.settings.keyspace} lacks migrations {missing}; the catalog applies them")

    async def wait_ready(self) -> None:
        """Returns once connected with the schema in place (it keeps trying until then)."""
        self._start()
        await self._ready.wait()

    async def _session_ready(self) -> Session:
        if not self._ready.is_set():
            self._start()
            try:
                await asyncio.wait_for(self._ready.wait(), self.settings.connect_timeout_seconds)
            except TimeoutError:
                raise Unavailable(
                    f"the metadata store is not reachable yet ({self.last_error or 'connecting'})",
                    reason="METADATA_STORE_STARTING",
                ) from None
        assert self._session is not None
        return self._session

    async def _prepare(self, statement: Statement) -> PreparedStatement:
        cached = self._prepared.get(statement)
        if cached is not None:
            return cached
        session = await self._session_ready()
        try:
            prepared: PreparedStatement = await asyncio.to_thread(session.prepare, statement.cql.format(ks=self.settings.keyspace))
        except Exception as exc:
            raise translate(exc) from exc
        prepared.is_idempotent = statement.idempotent
        if statement.serial:
            prepared.consistency_level = consistency(self.settings.serial_consistency)
        self._prepared[statement] = prepared
        return prepared

    async def prepared(self, statement: Statement) -> PreparedStatement:
        """The prepared form of statement (for batches)."""
        return await self._prepare(statement)

    # -- running ----------------------------------------------------------------------------

    async def query(self, statement: Statement, *args: Any) -> tuple[list[Any], bool]:
        """Runs one statement; returns its first page of rows and, for a conditional write,
        whether it applied."""
        return await self.run(await self._prepare(statement), args)

    async def run(self, statement: Any, args: Sequence[Any] | None = None) -> tuple[list[Any], bool]:
        session = await self._session_ready()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Any]] = loop.create_future()

        def settle(result: Any, failed: bool) -> None:
            if done.done():
                return
            if failed:
                done.set_exception(result)
            else:
                done.set_result(result)

        def from_driver(result: Any, failed: bool) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(settle, result, failed)

        future = session.execute_async(statement, args)
        future.add_callbacks(lambda rows: from_driver(rows, False), lambda exc: from_driver(exc, True))
        try:
            rows = await done
        except VidmeshError:
            raise
        except Exception as exc:
            translated = translate(exc)
            if translated is exc:
                raise
            raise translated from exc
        rows = list(rows or [])
        applied = bool(getattr(rows[0], "applied", True)) if rows else True
        return rows, applied

    async def close(self) -> None:
        self._closed = True
        if self._starter is not None:
            self._starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starter
        if self._cluster is not None:
            await asyncio.to_thread(self._cluster.shutdown)
            self._cluster = self._session = None

    def want_migrations(self) -> None:
        """Applies missing migrations on the next connection attempt instead of waiting for them."""
        self._migrate = True


class _Shared:
    """A connection and how many stores of this process use it."""

    def __init__(self, connection: CassandraConnection):
        self.connection = connection
        self.users = 0


_shared: dict[str, _Shared] = {}


def shared_connection(settings: CassandraSettings, *, migrate: bool) -> CassandraConnection:
    """The process's connection for settings, migrating if any of its users asks to; release it
    with release_connection."""
    key = repr(settings)  # settings hold a dict, so they do not hash
    entry = _shared.get(key)
    if entry is None:
        entry = _shared[key] = _Shared(CassandraConnection(settings, migrate=migrate))
    elif migrate:
        entry.connection.want_migrations()
    entry.users += 1
    return entry.connection


async def release_connection(connection: CassandraConnection) -> None:
    """Closes connection once the last store that shares it lets go."""
    for key, entry in list(_shared.items()):
        if entry.connection is connection:
            entry.users -= 1
            if entry.users > 0:
                return
            del _shared[key]
            break
    await connection.close()
