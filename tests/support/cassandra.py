"""One real Cassandra node for a test session, on free loopback ports, stopped by PID."""

from __future__ import annotations

import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tests.support.processes import free_ports
from vidmesh_services.platform import cassandra
from vidmesh_services.runtime.config import CassandraSettings
from vidmesh_services.storage.cassandra.schema import connect

# Small heap: the test machine has two cores and runs other work besides.
HEAP_MB = 512


@dataclass
class CassandraNode:
    node: cassandra.NodeConfig
    lib: Path
    process: subprocess.Popen[bytes] | None = None
    startup_seconds: float = 0.0

    @property
    def port(self) -> int:
        return self.node.native_port

    def settings(self, keyspace: str | None = None, **changes: object) -> CassandraSettings:
        """Settings for a keyspace of this node (a fresh random one unless named)."""
        keyspace = keyspace or f"t_{secrets.token_hex(4)}"
        return replace(CassandraSettings(contact_points=self.node.host, port=self.port, keyspace=keyspace), **changes)  # type: ignore[arg-type]

    def start(self) -> None:
        began = time.monotonic()
        self.process = cassandra.start(self.node, self.lib)
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        """SIGTERM (a clean drain), SIGKILL if it does not end."""
        if self.process is not None:
            cassandra.stop(self.process)
            self.process = None

    def kill(self) -> None:
        """SIGKILL: the node dies mid-write, as on a crash (what it acknowledged is in its commit log)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def cql(self, *statements: str) -> list[Any]:
        """Runs statements on a connection of their own (for setup and checks, never for the code
        under test); returns the rows of the last."""
        cluster, session = connect(self.settings("system"))
        try:
            rows: list[Any] = []
            for statement in statements:
                rows = list(session.execute(statement))
            return rows
        finally:
            cluster.shutdown()

    def empty_keyspace(self, keyspace: str) -> None:
        """Truncates the keyspace's data tables (not its migration bookkeeping), if it exists."""
        cluster, session = connect(self.settings("system"))
        try:
            rows = session.execute("SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,))
            for row in rows:
                if not row.table_name.startswith("schema_"):
                    session.execute(f"TRUNCATE {keyspace}.{row.table_name}")
        finally:
            cluster.shutdown()


def start_node(directory: Path) -> CassandraNode:
    lib = cassandra.resolve()
    for _ in range(3):  # a free port can be taken by someone else before Cassandra binds it
        native, storage = free_ports(2)
        config = cassandra.NodeConfig(directory, native_port=native, storage_port=storage, heap_mb=HEAP_MB)
        node = CassandraNode(config, lib)
        try:
            node.start()
        except (ChildProcessError, TimeoutError):
            continue
        return node
    raise RuntimeError("cassandra did not start on three pairs of free ports")
