"""Cassandra connections and schema migrations.

Migrations are the numbered files in migrations/ (NNNN_name.cql), applied in order and
recorded in the keyspace's schema_migrations table with a checksum. The catalog's processes
call migrate() (the others wait for the schema: session.py); the first to take the migration lock (a lightweight-transaction
row with a TTL, so a crashed holder cannot block the others for long) applies what is missing,
the others wait until the recorded version reaches the newest file. Statements are idempotent
(IF NOT EXISTS) and every table gets a deterministic id, so even two creators that both believe
they hold the lock (an expired TTL) converge on one schema, and a step that times out or finds
no replica is simply tried again: a freshly started node, busy with several replicas' schema
changes at once, can time out a lightweight transaction. Such a timeout is ambiguous (the lock
may have been taken), so the lock counts as taken when its row names this holder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cassandra import ConsistencyLevel, CoordinationFailure, OperationTimedOut, ReadTimeout, WriteTimeout
from cassandra import Unavailable as CassandraUnavailable
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.connection import ConnectionException
from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy, TokenAwarePolicy
from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage
from cassandra.query import SimpleStatement

from ...runtime.config import CassandraSettings

log = logging.getLogger("vidmesh.cassandra")
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
LOCK_TTL_SECONDS = 30
# uuid5 namespace of vidmesh's table ids (a fixed random UUID).
TABLE_ID_NAMESPACE = uuid.UUID("0b7c3c36-1f5e-4c8e-9d5a-5f6a1e0c9a41")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.cql$")
_CREATE_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)", re.IGNORECASE)

BOOTSTRAP_TABLES = {
    # Which migrations this keyspace has, and a checksum of each as applied.
    "schema_migrations": "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "scope text, version int, name text, checksum text, applied_by text, applied_at timestamp, "
    "PRIMARY KEY ((scope), version))",
    # One row while someone applies migrations; expires if its holder dies.
    "schema_lock": "CREATE TABLE IF NOT EXISTS schema_lock (scope text PRIMARY KEY, holder text, since timestamp)",
}
SCOPE = "vidmesh"
# Driver errors that say "not now" rather than "never": a retry may succeed. A timeout may also
# mean the request took effect.
DRIVER_UNAVAILABLE = (
    CassandraUnavailable,
    NoHostAvailable,
    ConnectionException,
    CoordinationFailure,
    OverloadedErrorMessage,
    IsBootstrappingErrorMessage,
)
DRIVER_TIMEOUTS = (ReadTimeout, WriteTimeout, OperationTimedOut)
TRANSIENT = DRIVER_UNAVAILABLE + DRIVER_TIMEOUTS
RETRY_PAUSE_SECONDS = 1.0


class MigrationError(RuntimeError):
    """The keyspace's recorded migrations do not match the files (an applied file was edited)."""


def consistency(name: str) -> int:
    try:
        return int(getattr(ConsistencyLevel, name.upper()))
    except AttributeError:
        raise ValueError(f"unknown Cassandra consistency level {name!r}") from None


def connect(settings: CassandraSettings, keyspace: str | None = None) -> tuple[Cluster, Session]:
    """A driver Cluster and Session for settings (blocking: call from a thread in async code)."""
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.local_dc)),
        consistency_level=consistency(settings.consistency),
        serial_consistency_level=consistency(settings.serial_consistency),
        request_timeout=settings.request_timeout_seconds,
    )
    cluster = Cluster(
        settings.hosts,
        port=settings.port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=settings.connect_timeout_seconds,
        control_connection_timeout=settings.connect_timeout_seconds,
        protocol_version=5,  # Cassandra 4.0 and later; saves the driver a round of downgrades
        # After a node restart the driver is back within seconds, not the default's minutes.
        reconnection_policy=ExponentialReconnectionPolicy(0.5, 5.0),
    )
    try:
        return cluster, cluster.connect(keyspace)
    except BaseException:
        cluster.shutdown()
        raise


def replication(settings: CassandraSettings) -> str:
    """The CQL replication map of the keyspace, from config."""
    strategy = settings.replication_strategy
    if strategy == "SimpleStrategy":
        if settings.replication_factor < 1:
            raise ValueError("cassandra.replication_factor must be at least 1")
        return f"{{'class': 'SimpleStrategy', 'replication_factor': {settings.replication_factor}}}"
    if strategy == "NetworkTopologyStrategy":
        dcs = settings.datacenters or {settings.local_dc: settings.replication_factor}
        bad = [dc for dc, rf in dcs.items() if not re.fullmatch(r"[A-Za-z0-9_.-]+", dc) or rf < 1]
        if bad:
            raise ValueError(f"cassandra.datacenters: bad data centre name or factor: {bad}")
        pairs = ", ".join(f"'{dc}': {rf}" for dc, rf in sorted(dcs.items()))
        return f"{{'class': 'NetworkTopologyStrategy', {pairs}}}"
    raise ValueError(f"cassandra.replication_strategy must be SimpleStrategy or NetworkTopologyStrategy, not {strategy!r}")


def check_keyspace_name(keyspace: str) -> str:
    if not _NAME.match(keyspace):
        raise ValueError(f"cassandra.keyspace {keyspace!r}: lower-case letters, digits and '_', starting with a letter")
    return keyspace


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    checksum: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.cql")):
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.cql")
        text = path.read_text()
        lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
        statements = tuple(s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.MULTILINE) if s.strip())
        migrations.append(Migration(int(match[1]), match[2], statements, hashlib.sha256(text.encode()).hexdigest()))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version: {versions}")
    return migrations


def with_table_id(statement: str, keyspace: str) -> str:
    """Gives a CREATE TABLE a table id derived from keyspace.table (the same on every creator)."""
    match = _CREATE_TABLE.match(statement)
    if not match:
        return statement
    table_id = uuid.uuid5(TABLE_ID_NAMESPACE, f"{keyspace}.{match[1].lower()}")
    joiner = " AND" if re.search(r"\)\s*WITH\s", statement, re.IGNORECASE) else " WITH"
    return f"{statement}{joiner} ID = {table_id}"


class _Lock:
    """The migration lock: a row inserted IF NOT EXISTS with a TTL, refreshed while held."""

    def __init__(self, session: Session, holder: str):
        self._session = session
        self.holder = holder

    def _lwt(self, cql: str, args: tuple[object, ...]) -> Any:
        """Runs a lightweight transaction; returns its result row ([applied], and the current
        values of the row when it did not apply)."""
        statement = SimpleStatement(
            cql, consistency_level=ConsistencyLevel.LOCAL_QUORUM, serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL
        )
        return self._session.execute(statement, args).one()

    def acquire(self) -> bool:
        """True if this holder has the lock, including when an earlier, timed-out try took it."""
        row = self._lwt(
            f"INSERT INTO schema_lock (scope, holder, since) VALUES (%s, %s, toTimestamp(now())) "
            f"IF NOT EXISTS USING TTL {LOCK_TTL_SECONDS}",
            (SCOPE, self.holder),
        )
        return bool(row.applied) or getattr(row, "holder", None) == self.holder

    def refresh(self) -> None:
        if not self._lwt(
            f"UPDATE schema_lock USING TTL {LOCK_TTL_SECONDS} SET holder = %s WHERE scope = %s IF holder = %s",
            (self.holder, SCOPE, self.holder),
        ).applied:
            raise MigrationError("lost the migration lock (its TTL ran out); another process took over")

    def release(self) -> None:
        try:
            self._lwt("DELETE FROM schema_lock WHERE scope = %s IF holder = %s", (SCOPE, self.holder))
        except TRANSIENT as exc:  # the row expires on its own
            log.warning("could not release the migration lock; it expires in %ds: %s", LOCK_TTL_SECONDS, exc)


def _applied(session: Session) -> dict[int, str]:
    statement = SimpleStatement(
        "SELECT version, checksum FROM schema_migrations WHERE scope = %s", consistency_level=ConsistencyLevel.LOCAL_QUORUM
    )
    return {row.version: row.checksum for row in session.execute(statement, (SCOPE,))}


def _verify(applied: dict[int, str], migrations: list[Migration]) -> list[Migration]:
    """The migrations still to apply; raises if an applied one changed or is unknown."""
    known = {m.version: m for m in migrations}
    for version, checksum in applied.items():
        if version not in known:
            raise MigrationError(f"the keyspace has migration {version:04d}, which this vidmesh does not know (a newer one ran here?)")
        if known[version].checksum != checksum:
            raise MigrationError(f"migration {version:04d}_{known[version].name} changed after it was applied; add a new one instead")
    return [m for m in migrations if m.version not in applied]


def pending_migrations(session: Session, migrations: list[Migration] | None = None) -> list[Migration]:
    """The migrations the session's keyspace still lacks (blocking). Raises MigrationError if an
    applied one changed or is unknown."""
    return _verify(_applied(session), load_migrations() if migrations is None else migrations)


def _agree(session: Session) -> None:
    if not session.cluster.control_connection.wait_for_schema_agreement(wait_time=30):
        raise MigrationError("the cluster did not reach schema agreement within 30 s")


def migrate(
    session: Session,
    settings: CassandraSettings,
    *,
    migrations: list[Migration] | None = None,
    timeout: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[int]:
    """Creates the keyspace if needed and brings it to the newest migration; returns the versions
    this call applied (empty when another process did, or nothing was missing). Blocking."""
    keyspace = check_keyspace_name(settings.keyspace)
    migrations = load_migrations() if migrations is None else migrations
    lock = _Lock(session, f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}")
    deadline = time.monotonic() + timeout
    done: list[int] = []
    bootstrapped = False
    while True:
        try:
            if not bootstrapped:
                _bootstrap(session, settings, keyspace)
                bootstrapped = True
            pending = _verify(_applied(session), migrations)
            if not pending:
                return done
            if lock.acquire():
                try:
                    _apply(session, keyspace, lock, _verify(_applied(session), migrations), done)
                finally:
                    lock.release()
                continue  # check again: normally nothing is left
            why = "another process holds the lock"
        except TRANSIENT as exc:
            why = f"{type(exc).__name__}: {exc}"
            log.warning("migration step failed; retrying", extra={"fields": {"keyspace": keyspace, "error": why}})
        if time.monotonic() > deadline:
            raise TimeoutError(f"migrations of {keyspace} still pending after {timeout:.0f}s: {why}")
        sleep(RETRY_PAUSE_SECONDS)


def _bootstrap(session: Session, settings: CassandraSettings, keyspace: str) -> None:
    """The keyspace and the migration bookkeeping tables (idempotent)."""
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication(settings)}")
    _agree(session)
    session.set_keyspace(keyspace)
    for statement in BOOTSTRAP_TABLES.values():
        session.execute(with_table_id(statement, keyspace))
    _agree(session)


def _apply(session: Session, keyspace: str, lock: _Lock, pending: list[Migration], done: list[int]) -> None:
    """Applies pending in order, appending each version to done once it is recorded."""
    for migration in pending:
        log.info("applying migration", extra={"fields": {"keyspace": keyspace, "version": migration.version, "name": migration.name}})
        for statement in migration.statements:
            session.execute(with_table_id(statement, keyspace))
            lock.refresh()
        _agree(session)
        record = SimpleStatement(
            "INSERT INTO schema_migrations (scope, version, name, checksum, applied_by, applied_at) "
            "VALUES (%s, %s, %s, %s, %s, toTimestamp(now()))",
            consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        )
        session.execute(record, (SCOPE, migration.version, migration.name, migration.checksum, lock.holder))
        done.append(migration.version)
