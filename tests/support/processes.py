"""Real components for tests, on loopback, stopped by PID."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vidmesh_services.platform.pids import die_with_parent
from vidmesh_services.platform.pids import pid_alive as pid_alive
from vidmesh_services.platform.pids import stop_process as stop_pid
from vidmesh_services.platform.valkey import valkey_argv
from vidmesh_services.runtime.config import MetricsSettings, Ports


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port_run(length: int, avoid: set[int]) -> int:
    """The first of `length` consecutive free ports, none in avoid: for settings where process i
    listens on the setting + i (worker metrics)."""
    for _ in range(100):
        first = free_ports(1)[0]
        run = range(first, first + length)
        if avoid.isdisjoint(run) and all(_bindable(port) for port in run[1:]):
            return first
    raise RuntimeError(f"no run of {length} free ports found")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# Metrics settings that are the first of a run of ports (process i on the setting + i).
PORT_RUNS = ("transcode_worker", "analytics_worker", "search_reader")


def child_pids(pid: int) -> list[int]:
    """The live children of pid (from /proc: the fourth field of each process's stat is its parent)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)", which may hold spaces
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def wait_for_port(port: int, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ChildProcessError(f"exited with {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@contextlib.contextmanager
def valkey_server(data_dir: Path) -> Iterator[str]:
    for _ in range(3):  # a free port can be taken by someone else before Valkey binds it
        (port,) = free_ports(1)
        process = subprocess.Popen(
            valkey_argv(port, data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent
        )
        try:
            wait_for_port(port, process=process)
        except (TimeoutError, ChildProcessError):
            stop_pid(process)
            continue
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            stop_pid(process)
        return
    raise RuntimeError("valkey did not start on three free ports")


@dataclass
class Mesh:
    """A running `vidmesh up`: the real supervisor with Valkey, every service and Envoy."""

    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    service_token: str
    output: list[str] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        return f"127.0.0.1:{self.ports['http']}"

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    def pids(self) -> dict[str, int]:
        return json.loads((self.home / "run" / "pids.json").read_text())

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vidmesh_client", *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def close_output(self) -> None:
        if self.process.stdout and not self.process.stdout.closed:
            self.output.append(self.process.stdout.read().decode())
            self.process.stdout.close()

    def create_key(self, owner: str) -> str:
        result = self.cli("keys", "create", "--owner", owner)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]


def mesh_env(home: Path, token: str, **overrides: str) -> tuple[dict[str, str], dict[str, int]]:
    """The environment of a mesh on free ports. `ports` names them as Config does: the fields of
    Ports, and `metrics_<process>` for each process's Prometheus endpoint."""
    names = [f.name for f in dataclasses.fields(Ports)]
    metrics = [f.name.removesuffix("_port") for f in dataclasses.fields(MetricsSettings)]
    free = free_ports(len(names) + len(metrics))
    ports = dict(zip(names, free[: len(names)], strict=True))
    ports.update({f"metrics_{m}": p for m, p in zip(metrics, free[len(names) :], strict=True)})
    for run in PORT_RUNS:  # a single free port is not enough where process i takes port + i
        ports[f"metrics_{run}"] = free_port_run(4, set(ports.values()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDMESH_")}
    env.update({f"VIDMESH_PORTS_{n.upper()}": str(ports[n]) for n in names})
    env.update({f"VIDMESH_METRICS_{m.upper()}_PORT": str(ports[f"metrics_{m}"]) for m in metrics})
    env.update(VIDMESH_HOME=str(home), VIDMESH_SERVICE_TOKEN=token, VIDMESH_CLIENT_STATE=str(home / "client-ledger.json"))
    env.update(overrides)
    return env, ports


def start_mesh(home: Path, **overrides: str) -> Mesh:
    token = secrets.token_urlsafe(24)
    env, ports = mesh_env(home, token, **overrides)
    process = subprocess.Popen(
        [sys.executable, "-m", "vidmesh_client", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,  # a killed test run leaves no platform behind
    )
    mesh = Mesh(home=home, env=env, process=process, ports=ports, service_token=token)
    assert process.stdout is not None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stdout.readline().decode()
        if not line and process.poll() is not None:
            raise RuntimeError("vidmesh up exited while starting:\n" + "".join(mesh.output))
        mesh.output.append(line)
        if line.startswith("Ctrl-C stops everything"):
            return mesh
    stop_pid(process)
    raise TimeoutError("vidmesh up did not come up:\n" + "".join(mesh.output))


def stop_mesh(mesh: Mesh) -> int:
    pids = mesh.pids() if (mesh.home / "run" / "pids.json").exists() else {}
    code = stop_pid(mesh.process, timeout=60)
    mesh.close_output()
    leftovers = [name for name, pid in pids.items() if pid_alive(pid)]
    assert not leftovers, f"processes left running after vidmesh stopped: {leftovers}"
    return code
