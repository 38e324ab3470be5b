"""`vidmesh up` and its ports: a port another program holds stops start-up with a message naming
the port and its setting, and leaves no child running; a port base runs two instances side by side."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import secrets
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from vidmesh.catalog.v1 import catalog_service_pb2 as catalog_pb2
from vidmesh.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
from vidmesh.upload.v1 import upload_service_pb2 as upload_pb2
from vidmesh.upload.v1 import upload_service_pb2_grpc as upload_grpc

from tests.support.processes import mesh_env, pid_alive
from vidmesh_services.platform.pids import die_with_parent
from vidmesh_services.platform.pids import stop_process as stop_pid
from vidmesh_services.platform.ports import port_taken
from vidmesh_services.runtime.config import METRICS_PORT_OFFSETS, PORT_OFFSETS

BANNER_END = "Ctrl-C stops everything"
BLOCK = 100  # ports an instance may use from its base


class Up:
    """A `vidmesh up` whose output is read as it comes, with every PID it wrote while running."""

    def __init__(self, args: list[str], env: dict[str, str], ports: dict[str, int]) -> None:
        self.home = Path(env["VIDMESH_HOME"])
        self.env = env
        self.ports = ports
        self.lines: list[str] = []
        self.seen_pids: set[tuple[str, int]] = set()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vidmesh_client", "up", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=die_with_parent,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def gateway(self) -> str:
        return f"127.0.0.1:{self.ports['http']}"

    def pids(self) -> dict[str, int]:
        pids: dict[str, int] = json.loads((self.home / "run" / "pids.json").read_text())
        return pids

    def wait_up_or_exit(self, timeout: float = 120) -> int | None:
        """The exit code if it stopped, None once the banner is out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError, ValueError):
                self.seen_pids.update(self.pids().items())
            if self.process.poll() is not None:
                self._reader.join(10)
                return self.process.returncode
            if BANNER_END in self.output:
                return None
            time.sleep(0.02)
        pytest.fail(f"vidmesh up neither came up nor stopped:\n{self.output}")

    def create_key(self, owner: str) -> str:
        made = subprocess.run(
            [sys.executable, "-m", "vidmesh_client", "keys", "create", "--owner", owner],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        return made.stdout.strip().splitlines()[-1]

    def stop(self) -> int:
        """Stops it by PID (SIGTERM); returns its exit code once no child it wrote down is alive."""
        with contextlib.suppress(FileNotFoundError, ValueError):
            self.seen_pids.update(self.pids().items())
        code = stop_pid(self.process, timeout=60)
        self._reader.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()
        assert not [f"{name} {pid}" for name, pid in self.seen_pids if pid_alive(pid)], "children left running"
        return code


def processes_of(home: Path) -> list[int]:
    """Live processes started for this home: every child of `vidmesh up` has VIDMESH_HOME in its environment."""
    marker = f"VIDMESH_HOME={home.resolve()}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError):
            if marker in environ.read_bytes().split(b"\0") and pid_alive(int(environ.parent.name)):
                found.append(int(environ.parent.name))
    return found


@pytest.mark.parametrize(
    ("port_name", "child", "setting"),
    [
        ("valkey", "valkey", "ports.valkey"),  # the first child started
        ("metrics_catalog", "catalog", "metrics.catalog_port"),
        ("http", "envoy", "ports.http"),  # the last: every other child is running by then
    ],
)
def test_a_port_held_by_another_program_stops_start_up_and_every_child(tmp_path: Path, port_name: str, child: str, setting: str) -> None:
    home = tmp_path / "home"
    env, ports = mesh_env(home, secrets.token_urlsafe(16), VIDMESH_TRANSCODE_WORKERS="1")
    held_port = ports[port_name]
    with socket.socket() as held:
        held.bind(("127.0.0.1", held_port))
        held.listen()
        up = Up([], env, ports)
        try:
            code = up.wait_up_or_exit()
        finally:
            up.stop()
        held.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            held.accept()[0].close()
            pytest.fail("vidmesh up connected to the other program, taking it for its own child")
    out = up.output
    assert code == 1, out
    assert "vidmesh is up" not in out
    variable = "VIDMESH_" + setting.replace(".", "_").upper()
    assert f"port {held_port} on 127.0.0.1, which {child} listens on, is in use by pid {os.getpid()}" in out
    assert setting in out and variable in out and "--port-base" in out
    assert "vidmesh: stopped" in out
    started = {name for name, _ in up.seen_pids} - {"supervisor"}
    if child == "envoy":
        assert {"valkey", "catalog", "upload", "transcode", "playback", "transcode-worker-1"} <= started
    assert not processes_of(home), "children left running"
    assert not (home / "run" / "pids.json").exists()


def free_base(taken: tuple[int, ...] = ()) -> int:
    """A base whose whole block of ports is free now, below the ephemeral range clients draw from."""
    for _ in range(50):
        base = random.randrange(20000, 32000, BLOCK)
        if base not in taken and not any(port_taken("127.0.0.1", base + i) for i in range(BLOCK)):
            return base
    raise RuntimeError("no free block of ports")


def start_with_base(home: Path, base: int, *, by_flag: bool) -> Up:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDMESH_")}
    env.update(
        VIDMESH_HOME=str(home),
        VIDMESH_SERVICE_TOKEN=secrets.token_urlsafe(16),
        VIDMESH_TRANSCODE_WORKERS="1",
        VIDMESH_CLIENT_STATE=str(home / "client-ledger.json"),
    )
    if not by_flag:
        env["VIDMESH_PORT_BASE"] = str(base)
    ports = {name: base + offset for name, offset in PORT_OFFSETS.items()}
    ports.update({f"metrics_{name.removesuffix('_port')}": base + offset for name, offset in METRICS_PORT_OFFSETS.items()})
    return started(["--port-base", str(base)] if by_flag else [], env, ports)


def started(args: list[str], env: dict[str, str], ports: dict[str, int]) -> Up:
    up = Up(args, env, ports)
    if up.wait_up_or_exit() is not None:
        up.stop()
        pytest.fail(f"vidmesh up {' '.join(args)} did not come up:\n{up.output}")
    return up


def banner_suggestion(up: Up) -> list[str]:
    gateway_line = next(line for line in up.lines if line.lstrip().startswith("gateway"))
    found = re.search(r"try: (.+)\)$", gateway_line.rstrip())
    assert found, gateway_line
    return shlex.split(found.group(1))


def test_two_instances_with_different_port_bases_serve_side_by_side(tmp_path: Path) -> None:
    first_base = free_base()
    second_base = free_base((first_base,))
    first = start_with_base(tmp_path / "first", first_base, by_flag=True)
    try:
        second = start_with_base(tmp_path / "second", second_base, by_flag=False)
        try:
            assert f"127.0.0.1:{first_base}" in first.output
            assert not set(first.pids().values()) & set(second.pids().values())
            for mesh in (first, second):
                assert set(mesh.pids()) >= {"valkey", "catalog", "upload", "transcode", "playback", "envoy"}
                with grpc.insecure_channel(mesh.gateway) as channel:
                    listed = catalog_grpc.CatalogServiceStub(channel).ListVideos(catalog_pb2.ListVideosRequest(), timeout=10)
                assert list(listed.videos) == []
                with urllib.request.urlopen(f"http://127.0.0.1:{mesh.ports['metrics_catalog']}/metrics", timeout=10) as reply:
                    assert b"vidmesh_rpc_requests_total" in reply.read()
            # A key of the second instance works at its own gateway only: two platforms, not one.
            key = second.create_key("alice")
            init = upload_pb2.InitUploadRequest(filename="a.mp4", size_bytes=10, title="side by side")
            auth = (("authorization", f"Bearer {key}"),)
            with grpc.insecure_channel(second.gateway) as channel:
                assert upload_grpc.UploadServiceStub(channel).InitUpload(init, metadata=auth, timeout=10).name
            with grpc.insecure_channel(first.gateway) as channel, pytest.raises(grpc.RpcError) as refused:
                upload_grpc.UploadServiceStub(channel).InitUpload(init, metadata=auth, timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        finally:
            assert second.stop() == 0, second.output
    finally:
        assert first.stop() == 0, first.output


def test_the_banner_suggests_a_command_that_exists_and_lists_the_mesh(tmp_path: Path) -> None:
    env, ports = mesh_env(tmp_path / "home", secrets.token_urlsafe(16), VIDMESH_TRANSCODE_WORKERS="1")
    mesh = started([], env, ports)
    try:
        command = banner_suggestion(mesh)
        ran = subprocess.run(command, capture_output=True, text=True, timeout=30)
        assert ran.returncode == 0, (command, ran.stderr)
        # grpcurl lists the services; curl gets the JSON of ListVideos
        assert "vidmesh.catalog.v1.CatalogService" in ran.stdout or ran.stdout.startswith("{")
    finally:
        assert mesh.stop() == 0, mesh.output
