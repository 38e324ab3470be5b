"""`vidmesh up`: start every process of the platform, restart what crashes, stop everything cleanly.

Children run in their own sessions (a terminal's Ctrl-C reaches only the supervisor, which
then stops them in reverse order) and are bound to the supervisor's life with
PR_SET_PDEATHSIG, so even a SIGKILLed supervisor leaves no orphans.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vidmesh_envoy import envoy_binary
from vidmesh_envoy.topologies import Cluster, Route, Transcoding, render, single_gateway

from ..runtime.config import Config, MetricsSettings
from ..runtime.metrics import metrics_port
from .pids import die_with_parent
from .ports import Listener, PortUse, holders, listener, port_taken
from .topology import MESH, PLAYBACK_SERVICE, REPO_ROOT, WORKERS, MeshService, descriptor_set, gateway_routes, web_pages
from .valkey import valkey_argv

RESTART_BACKOFF_MAX = 30.0
READY_TIMEOUT = 60.0
# Extra environment for some children. The Upload service moves 10 MiB chunks between gRPC's
# threads, the event loop and a writer thread; with glibc's default of many malloc arenas (up to
# 8 per core, threads spread over them) memory freed in one arena is not reused by the others,
# and peak RSS was ~40-60 MB higher, for no gain in speed (measured with bench/upload.py).
CHILD_ENV: dict[str, dict[str, str]] = {"upload": {"MALLOC_ARENA_MAX": "1"}}
WORKER_SETTLE_SECONDS = 0.3
LOG_TAIL_LINES = 5


class StartError(RuntimeError):
    """A child could not start; the message says why and what to change."""


def _kept_secret(path: Path) -> str:
    """A random secret stored once under home (owner-only), so what it signed survives restarts."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    return secret


@dataclass
class Child:
    name: str
    argv: list[str]
    port: int | None  # the port it serves (for the banner); None: a worker
    log_path: Path
    # Every port it listens on: it is ready once it alone listens on all of them (none: once it
    # has stayed up briefly).
    listens: tuple[PortUse, ...] = ()
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    stopping: bool = False
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)
    env: dict[str, str] = field(default_factory=dict)  # extra environment of this child


def _cluster(config: Config, service: MeshService) -> Cluster:
    first, *more = service.ports(config)
    return Cluster(service.name, config.host, first, extra_ports=tuple(more))


class Supervisor:
    def __init__(self, config: Config, say: Callable[[str], None] = print):
        token = config.service_token or secrets.token_urlsafe(32)
        home = config.home.resolve()
        playback_secret = config.playback_secret or _kept_secret(home / "data" / "secrets" / "playback.key")
        self.config = config.replace(home=home, service_token=token, playback_secret=playback_secret)
        self._say = say
        self._children: list[Child] = []
        self._stop = asyncio.Event()

    # -- the processes ----------------------------------------------------------------------

    def _child_env(self) -> dict[str, str]:
        cfg = self.config
        env = dict(os.environ)
        env.update(
            VIDMESH_HOME=str(cfg.home),
            VIDMESH_SERVICE_TOKEN=cfg.service_token,
            VIDMESH_PLAYBACK_SECRET=cfg.playback_secret,
            VIDMESH_REDIS_URL=cfg.effective_redis_url,
            PYTHONUNBUFFERED="1",
        )
        # Every port as resolved here (port base, --http-port), so each child listens where we wait.
        for name in ("http", "origin", "envoy_admin", "valkey", "search_readers", *(s.name for s in MESH)):
            env[f"VIDMESH_PORTS_{name.upper()}"] = str(getattr(cfg.ports, name))
        for setting in dataclasses.fields(MetricsSettings):
            env[f"VIDMESH_METRICS_{setting.name.upper()}"] = str(getattr(cfg.metrics, setting.name))
        return env

    def _metrics_use(self, process: str, index: int = 0) -> tuple[PortUse, ...]:
        port = metrics_port(self.config, process, index)
        return (PortUse(port, f"metrics.{process}_port", index),) if port else ()

    def _plan(self) -> list[Child]:
        cfg = self.config
        logs = cfg.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        children = []
        if not cfg.redis_url:
            valkey = valkey_argv(cfg.ports.valkey, cfg.data_dir / "valkey", cfg.host)
            children.append(Child("valkey", valkey, cfg.ports.valkey, logs / "valkey.log", (PortUse(cfg.ports.valkey, "ports.valkey"),)))
        for service in MESH:
            for index, port in enumerate(service.ports(cfg)):
                name = service.process_name(index)
                argv = [sys.executable, "-m", service.module]
                if index == 0:
                    listens = (PortUse(port, f"ports.{service.name}"), *self._metrics_use(service.name))
                    children.append(Child(name, argv, port, logs / f"{name}.log", listens))
                    continue
                # Another process of the service: told its own ports as the service's.
                metrics = self._metrics_use(f"{service.name}_reader", index - 1)
                env = {f"VIDMESH_PORTS_{service.name.upper()}": str(port)}
                env[f"VIDMESH_METRICS_{service.name.upper()}_PORT"] = str(metrics[0].port if metrics else 0)
                listens = (PortUse(port, f"ports.{service.name}_readers", index - 1), *metrics)
                children.append(Child(name, argv, port, logs / f"{name}.log", listens, env=env))
        for worker in WORKERS:
            for index in range(worker.count(cfg)):
                children.append(
                    Child(
                        f"{worker.name}-{index + 1}",
                        [sys.executable, "-m", worker.module],
                        None,
                        logs / f"{worker.name}-{index + 1}.log",
                        self._metrics_use(worker.name.replace("-", "_"), index),
                        env={"VIDMESH_WORKER_INDEX": str(index)},
                    )
                )
        (cfg.run_dir / "edge-cache").mkdir(parents=True, exist_ok=True)
        envoy_yaml = cfg.run_dir / "envoy.yaml"
        envoy_yaml.write_text(render(self.gateway_config()))
        children.append(
            Child(
                "envoy",
                [envoy_binary(), "-c", str(envoy_yaml), "--base-id", str(cfg.ports.http), "--log-level", "warn"],
                cfg.ports.http,
                logs / "envoy.log",
                (
                    PortUse(cfg.ports.http, "ports.http"),
                    PortUse(cfg.ports.origin, "ports.origin"),
                    PortUse(cfg.ports.envoy_admin, "ports.envoy_admin"),
                ),
            )
        )
        return children

    def gateway_config(self) -> dict[str, object]:
        cfg = self.config
        spread = {s.name for s in MESH if s.processes(cfg) > 1}  # a call another process may take
        return single_gateway(
            host=cfg.host,
            http_port=cfg.ports.http,
            origin_port=cfg.ports.origin,
            admin_port=cfg.ports.envoy_admin,
            clusters=[_cluster(cfg, s) for s in MESH],
            routes=[Route(prefix, cluster, retry=cluster in spread) for prefix, cluster in gateway_routes()],
            transcoding=Transcoding(descriptor_set(), tuple(name for s in MESH for name in s.public)),
            playback_cluster=PLAYBACK_SERVICE,
            pages=web_pages(),
            cache_dir=cfg.run_dir / "edge-cache",
        )

    async def _spawn(self, child: Child) -> None:
        # The child gets its own copy of the descriptor; ours closes once it has started.
        with open(child.log_path, "ab") as log:  # noqa: ASYNC230 - a local append-only file opens at once
            child.process = await asyncio.create_subprocess_exec(
                *child.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**self._child_env(), **CHILD_ENV.get(child.name, {}), **child.env},
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        child.started_at = time.monotonic()
        self._write_pids()
        try:
            await self._wait_ready(child)
        except StartError:
            await self._stop_child(child)
            self._write_pids()
            raise

    async def _wait_ready(self, child: Child) -> None:
        """Returns once the child alone listens on each of its ports. Something answering on a
        port is not enough: it may be another program, with the child dead of "address in use"."""
        process = child.process
        assert process is not None
        if not child.listens:
            await asyncio.sleep(WORKER_SETTLE_SECONDS)
            if process.returncode is not None:
                raise self._exit_error(child, process.returncode)
            return
        deadline = time.monotonic() + READY_TIMEOUT
        waiting = list(child.listens)
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise self._exit_error(child, process.returncode)
            states = {use: listener(process.pid, self.config.host, use.port) for use in child.listens}
            for use, state in states.items():
                if state is Listener.FOREIGN:
                    raise self._port_in_use(child, use)
            waiting = [use for use, state in states.items() if state is not Listener.OURS]
            if not waiting:
                return
            await asyncio.sleep(0.05)
        ports = ", ".join(str(use.port) for use in waiting)
        raise StartError(f"{child.name} did not listen on port {ports} within {READY_TIMEOUT:.0f}s; see {child.log_path}")

    def _port_in_use(self, child: Child, use: PortUse) -> StartError:
        host = self.config.host
        assert child.process is not None
        others = holders(host, use.port, besides=child.process.pid)
        by = ", ".join(others) if others else "another program"
        return StartError(
            f"port {use.port} on {host}, which {child.name} listens on, is in use by {by}. Choose another port with "
            f"{use.describe()}; or move all of vidmesh's ports at once with --port-base or VIDMESH_PORT_BASE "
            "(see 'Ports' in docs/operations.md)"
        )

    def _exit_error(self, child: Child, code: int) -> StartError:
        """Why a child died while starting: a port someone else holds, or the end of its log."""
        for use in child.listens:
            if port_taken(self.config.host, use.port):
                return self._port_in_use(child, use)
        with contextlib.suppress(OSError):
            lines = child.log_path.read_text(errors="replace").strip().splitlines()[-LOG_TAIL_LINES:]
            tail = "".join(f"\n  | {line[:300]}" for line in lines)
            return StartError(f"{child.name} exited with {code} while starting; the end of {child.log_path}:{tail}")
        return StartError(f"{child.name} exited with {code} while starting; see {child.log_path}")

    def _write_pids(self) -> None:
        pids = {c.name: c.process.pid for c in self._children if c.process and c.process.returncode is None}
        pids["supervisor"] = os.getpid()
        # Written aside and renamed: a reader (an operator's script, a test) never sees half a file.
        target = self.config.run_dir / "pids.json"
        aside = target.with_suffix(".json.tmp")
        aside.write_text(json.dumps(pids))
        aside.replace(target)

    async def _watch(self, child: Child) -> None:
        """Restarts a child that exits unasked, with backoff so a crash loop does not spin."""
        backoff = 0.5
        while True:
            assert child.process is not None
            code = await child.process.wait()
            if child.stopping or self._stop.is_set():
                return
            child.restarts += 1
            lived = time.monotonic() - child.started_at
            backoff = 0.5 if lived > 30 else min(backoff * 2, RESTART_BACKOFF_MAX)
            self._say(f"vidmesh: {child.name} exited with {code}; restarting in {backoff:.1f}s (restart #{child.restarts})")
            await asyncio.sleep(backoff)
            if self._stop.is_set():
                return
            try:
                await self._spawn(child)
                self._say(f"vidmesh: {child.name} is back (pid {child.process.pid})")
            except StartError as exc:
                self._say(f"vidmesh: {exc}")

    # -- life cycle -------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        self._children = self._plan()
        try:
            for child in self._children:
                await self._spawn(child)
                child.watcher = asyncio.create_task(self._watch(child))
                if self._stop.is_set():
                    break
            else:
                self._announce()
                await self._stop.wait()
        except StartError as exc:
            self._say(f"vidmesh: {exc}")
            return 1
        finally:
            await self._shutdown()
        return 0

    def _announce(self) -> None:
        cfg = self.config
        lines = [
            f"vidmesh is up (home {cfg.home})",
            f"  web       http://{cfg.host}:{cfg.ports.http}/  (home page; videos play at /watch/VIDEO_ID)",
            f"  gateway   http://{cfg.host}:{cfg.ports.http}  (gRPC, gRPC-Web, JSON /v1/...{_try_gateway(cfg.gateway_url)})",
            f"  envoy     admin http://{cfg.host}:{cfg.ports.envoy_admin}",
            f"  redis     {cfg.effective_redis_url}",
        ]
        lines += [
            f"  {c.name:<18} {f'{cfg.host}:{c.port}' if c.port else 'worker':<16} pid {c.process.pid}" for c in self._children if c.process
        ]
        lines.append("Ctrl-C stops everything.")
        self._say("\n".join(lines))

    async def _shutdown(self) -> None:
        self._say("vidmesh: stopping")
        for child in reversed(self._children):
            child.stopping = True
            await self._stop_child(child)
            if child.watcher:
                child.watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await child.watcher
        (self.config.run_dir / "pids.json").unlink(missing_ok=True)
        self._say("vidmesh: stopped")

    async def _stop_child(self, child: Child) -> None:
        process = child.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), self.config.shutdown_grace_seconds + 5)
        except TimeoutError:
            process.kill()
            await process.wait()


def _try_gateway(gateway: str) -> str:
    """A command that lists the mesh's services, with a grpcurl that exists (`make install` puts
    one in .tools/bin, not on PATH), or else a curl of the JSON API; empty if neither is there."""
    local = REPO_ROOT / ".tools" / "bin" / "grpcurl"
    if shutil.which("grpcurl"):
        return f"; try: grpcurl -plaintext {gateway} list"
    if local.exists():
        cwd = Path.cwd()
        shown = f"./{local.relative_to(cwd)}" if local.is_relative_to(cwd) else str(local)  # ./.tools/... under `make run`
        return f"; try: {shown} -plaintext {gateway} list"
    if shutil.which("curl"):
        return f"; try: curl http://{gateway}/v1/videos"
    return ""
