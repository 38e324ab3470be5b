"""Apache Cassandra from Maven Central, run as a plain JVM process on loopback.

resolve() copies cassandra-all and its runtime dependencies (scripts/cassandra/pom.xml) into a
cache folder that later runs reuse; write_node_files() writes the cassandra.yaml, logback.xml and
rackdc file of one node; start() runs org.apache.cassandra.service.CassandraDaemon and returns
once CQL answers a query; stop() ends it by PID.

`python -m vidmesh_services.platform.cassandra start --dir var/cassandra` runs a node in the
foreground for local cluster-profile runs (docs/operations.md, "Cassandra").
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .pids import die_with_parent, pid_alive, stop_process

PROJECT_ROOT = Path(__file__).resolve().parents[3]
POM = PROJECT_ROOT / "scripts" / "cassandra" / "pom.xml"
DAEMON_CLASS = "org.apache.cassandra.service.CassandraDaemon"
READY_TIMEOUT = 180.0

# Java 17 needs these, from apache/cassandra conf/jvm17-server.options; without them the
# daemon stops with "unable to access required classes".
JAVA17_MODULE_OPTIONS = [
    *(
        f"--add-exports={m}=ALL-UNNAMED"
        for m in (
            "java.base/jdk.internal.misc",
            "java.management.rmi/com.sun.jmx.remote.internal.rmi",
            "java.rmi/sun.rmi.registry",
            "java.rmi/sun.rmi.server",
            "java.sql/java.sql",
            "java.base/java.lang.ref",
            "jdk.unsupported/sun.misc",
            "jdk.compiler/com.sun.tools.javac.file",
            "jdk.attach/sun.tools.attach",
        )
    ),
    *(
        f"--add-opens={m}=ALL-UNNAMED"
        for m in (
            "java.base/java.lang.module",
            "java.base/jdk.internal.loader",
            "java.base/jdk.internal.ref",
            "java.base/jdk.internal.reflect",
            "java.base/jdk.internal.math",
            "java.base/jdk.internal.module",
            "java.base/jdk.internal.util.jar",
            "jdk.management/com.sun.management.internal",
            "java.base/sun.nio.ch",
            "java.base/java.io",
            "java.base/java.lang.reflect",
            "jdk.compiler/com.sun.tools.javac",
            "java.base/java.lang",
            "java.base/java.util",
        )
    ),
]


def cassandra_version() -> str:
    """The version pinned in scripts/cassandra/pom.xml (the one place it is written)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(POM).getroot().find("m:properties/m:cassandra.version", ns)
    if node is None or not node.text:
        raise RuntimeError(f"{POM}: no <cassandra.version> property")
    return node.text.strip()


def default_cache() -> Path:
    return Path(os.environ.get("VIDMESH_CASSANDRA_CACHE") or PROJECT_ROOT / ".cache" / "cassandra")


def resolve(cache: Path | None = None, say: Callable[[str], None] = print) -> Path:
    """The lib folder of the pinned Cassandra, copied from Maven Central on first use.

    A folder is only ever published whole (written under a temporary name, then renamed), so
    an interrupted or concurrent resolve never leaves a half-filled lib behind.
    """
    version = cassandra_version()
    lib = (cache or default_cache()) / version / "lib"
    if (lib / ".complete").exists():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    partial = lib.with_name(f"lib.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    say(f"resolving Apache Cassandra {version} from Maven Central into {lib}")
    done = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mvn could not resolve Cassandra {version}:\n{done.stdout}{done.stderr}")
    (partial / ".complete").write_text(version + "\n")
    if lib.exists() and not (lib / ".complete").exists():
        shutil.rmtree(lib)  # left by an older layout or by hand
    try:
        partial.rename(lib)
    except OSError:  # another resolve published it first
        shutil.rmtree(partial, ignore_errors=True)
    return lib


@dataclass(frozen=True)
class NodeConfig:
    """One loopback node. A second node of another data centre takes another 127.x address."""

    directory: Path
    host: str = "127.0.0.1"
    native_port: int = 9042
    storage_port: int = 7000
    cluster_name: str = "vidmesh"
    datacenter: str = "datacenter1"
    rack: str = "rack1"
    seeds: str = ""  # empty: this node seeds itself
    initial_token: int = 0
    heap_mb: int = 512

    @property
    def pid_file(self) -> Path:
        return self.directory / "cassandra.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / "logs" / "system.log"


def write_node_files(node: NodeConfig) -> None:
    """Writes cassandra.yaml, logback.xml and cassandra-rackdc.properties under node.directory/conf."""
    d = node.directory.resolve()
    conf = d / "conf"
    for sub in ("conf", "data", "commitlog", "saved_caches", "hints", "cdc_raw", "logs", "tmp", "triggers"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    seeds = node.seeds or f"{node.host}:{node.storage_port}"
    (conf / "cassandra.yaml").write_text(f"""\
# Written by vidmesh_services.platform.cassandra for one loopback node; rewritten on every start.
cluster_name: '{node.cluster_name}'
num_tokens: 1
initial_token: {node.initial_token}
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: GossipingPropertyFileSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{seeds}"
listen_address: {node.host}
rpc_address: {node.host}
storage_port: {node.storage_port}
native_transport_port: {node.native_port}
start_native_transport: true
data_file_directories: [{d / "data"}]
commitlog_directory: {d / "commitlog"}
saved_caches_directory: {d / "saved_caches"}
hints_directory: {d / "hints"}
cdc_raw_directory: {d / "cdc_raw"}
# Group commit: a write is acknowledged once the commit log is on disk, so a killed node loses
# nothing it acknowledged (periodic, Cassandra's default, replays only up to the last sync,
# up to 10 s back, and relies on other replicas).
commitlog_sync: group
commitlog_sync_group_window: 10ms
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
auto_snapshot: false
# Sized for a small heap on a small machine.
memtable_heap_space: 64MiB
memtable_offheap_space: 64MiB
file_cache_size: 32MiB
key_cache_size: 8MiB
concurrent_compactors: 1
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 8
""")
    (conf / "logback.xml").write_text(f"""\
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>{d / "logs" / "system.log"}</file>
    <encoder><pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <filter class="ch.qos.logback.classic.filter.ThresholdFilter"><level>WARN</level></filter>
    <encoder><pattern>%-5level %date{{ISO8601}} %msg%n</pattern></encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="FILE"/>
    <appender-ref ref="STDOUT"/>
  </root>
</configuration>
""")
    (conf / "cassandra-rackdc.properties").write_text(f"dc={node.datacenter}\nrack={node.rack}\n")


def java_argv(node: NodeConfig, lib: Path) -> list[str]:
    d = node.directory.resolve()
    conf = d / "conf"
    jamm = next(lib.glob("jamm-*.jar"), None)
    props = {
        "cassandra.config": (conf / "cassandra.yaml").as_uri(),
        "cassandra-rackdc.properties": (conf / "cassandra-rackdc.properties").as_uri(),
        "logback.configurationFile": str(conf / "logback.xml"),
        "cassandra.storagedir": str(d),
        "cassandra.logdir": str(d / "logs"),
        "cassandra.triggers_dir": str(d / "triggers"),
        "cassandra-foreground": "yes",
        "java.io.tmpdir": str(d / "tmp"),
        "jna.tmpdir": str(d / "tmp"),
        "java.net.preferIPv4Stack": "true",
        "jdk.attach.allowAttachSelf": "true",
        "io.netty.tryReflectionSetAccessible": "true",
        # One node (or a few on loopback) need not wait for a ring to settle.
        "cassandra.skip_wait_for_gossip_to_settle": "0",
        "cassandra.ring_delay_ms": "1000",
        "cassandra.superuser_setup_delay_ms": "0",
        "cassandra.load_ring_state": "false",
    }
    return [
        "java",
        f"-Xms{node.heap_mb}m",
        f"-Xmx{node.heap_mb}m",
        "-Xss256k",
        "-XX:+UseG1GC",
        "-XX:+ParallelRefProcEnabled",
        "-XX:MaxTenuringThreshold=1",
        "-XX:+PerfDisableSharedMem",
        "-XX:+ExitOnOutOfMemoryError",
        "-ea",
        "-da:net.openhft...",
        *([f"-javaagent:{jamm}"] if jamm else []),
        *JAVA17_MODULE_OPTIONS,
        *(f"-D{k}={v}" for k, v in props.items()),
        "-cp",
        f"{lib}/*",
        DAEMON_CLASS,
    ]


def cql_ready(host: str, port: int, timeout: float = 5.0) -> bool:
    """True when the node answers a real CQL query (release_version from system.local)."""
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import RoundRobinPolicy

    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1.0):
        profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=timeout)
        cluster = Cluster(
            [host],
            port=port,
            connect_timeout=timeout,
            control_connection_timeout=timeout,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        )
        try:
            session = cluster.connect()
            return session.execute("SELECT release_version FROM system.local").one() is not None
        except Exception:  # not ready yet, whatever the driver says
            return False
        finally:
            cluster.shutdown()
    return False


def start(
    node: NodeConfig,
    lib: Path | None = None,
    *,
    output: IO[bytes] | int | None = None,
    timeout: float = READY_TIMEOUT,
    detach: bool = False,
) -> subprocess.Popen[bytes]:
    """Starts the node and returns its process once CQL answers; the PID is also in node.pid_file.

    Unless detach, the node gets SIGTERM when this process dies (no orphan JVMs after a killed run).
    """
    lib = lib or resolve()
    write_node_files(node)
    with open(node.directory / "logs" / "stdout.log", "ab") if output is None else contextlib.nullcontext(output) as sink:
        process = subprocess.Popen(
            java_argv(node, lib),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=None if detach else die_with_parent,
        )
    node.pid_file.write_text(f"{process.pid}\n")
    try:
        wait_ready(node, process, timeout)
    except BaseException:
        stop(process)
        raise
    return process


def wait_ready(node: NodeConfig, process: subprocess.Popen[bytes] | None, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ChildProcessError(f"cassandra exited with {process.returncode} while starting; see {node.log_file}")
        if cql_ready(node.host, node.native_port):
            return
        time.sleep(0.5)
    raise TimeoutError(f"cassandra did not answer CQL on {node.host}:{node.native_port} within {timeout:.0f}s; see {node.log_file}")


def stop(process: subprocess.Popen[bytes] | int, timeout: float = 30.0) -> None:
    """SIGTERM (Cassandra drains: memtables flushed, commit log closed), then SIGKILL after timeout."""
    if isinstance(process, subprocess.Popen):
        stop_process(process, timeout)
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(process) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(process):
            os.kill(process, signal.SIGKILL)


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vidmesh_services.platform.cassandra", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("resolve", help="copy Cassandra's jars from Maven Central into the cache (reused later)")
    run = sub.add_parser("start", help="run a loopback node; in the foreground unless --detach")
    run.add_argument("--dir", type=Path, default=Path("var/cassandra"), help="data, logs and config of the node")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=9042, help="CQL port")
    run.add_argument("--storage-port", type=int, default=7000)
    run.add_argument("--datacenter", default="datacenter1")
    run.add_argument("--heap-mb", type=int, default=512)
    run.add_argument("--detach", action="store_true", help="return once CQL answers; stop it with 'stop --dir'")
    halt = sub.add_parser("stop", help="stop the node whose PID is in DIR/cassandra.pid")
    halt.add_argument("--dir", type=Path, default=Path("var/cassandra"))
    args = parser.parse_args(argv)

    if args.command == "resolve":
        print(resolve())
        return 0
    if args.command == "stop":
        pid_file = args.dir / "cassandra.pid"
        if not pid_file.exists():
            print(f"no {pid_file}: nothing to stop", file=sys.stderr)
            return 1
        stop(int(pid_file.read_text()))
        pid_file.unlink(missing_ok=True)
        return 0
    node = NodeConfig(
        args.dir.resolve(),
        host=args.host,
        native_port=args.port,
        storage_port=args.storage_port,
        datacenter=args.datacenter,
        heap_mb=args.heap_mb,
    )
    lib = resolve()
    started = time.monotonic()
    process = start(node, lib, output=None if args.detach else sys.stdout.buffer, detach=args.detach)
    print(
        f"cassandra {cassandra_version()} answers CQL on {node.host}:{node.native_port} after "
        f"{time.monotonic() - started:.1f}s (pid {process.pid}, RSS {rss_mb(process.pid):.0f} MB, logs {node.log_file})",
        flush=True,
    )
    if args.detach:
        return 0
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stopping and process.poll() is None:
        time.sleep(0.5)
    stop(process)
    node.pid_file.unlink(missing_ok=True)
    return 0 if stopping else (process.returncode or 1)


if __name__ == "__main__":
    sys.exit(main())
