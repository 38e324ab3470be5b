"""What the benchmarks under bench/ share, so that each script holds only its own measurement.

- /proc sampling: CPU seconds of a process and of its threads (`cpu_seconds`, `ThreadTracker`,
  `snapshot` and `phase_cpu`), the peak RSS of a process or of its process tree (`Sampler`), the
  CPU time of the whole machine, and waiting for a quiet machine (`wait_for_quiet_machine`);
- processes: free loopback ports, waiting for a port, stopping by PID (`stop_process`), SIGTERM
  unwinding through `finally` blocks (`stop_on_sigterm`);
- the mesh: `running_vidmesh` starts `vidmesh up` on free loopback ports with a fresh home and
  stops it (and anything it left behind) by PID;
- the machine a run was on (`machine`);
- the report: console and Markdown tables, and each benchmark's own section of docs/benchmarks.md
  (`write_section`).

The scripts run as `python bench/NAME.py`, so bench/ is on sys.path and they `from harness import ...`.
Nothing here imports more than the standard library at import time: the transcode benchmark's
child process imports this module, and its start-up is part of what it reports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vidmesh_services.platform.pids import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the scripts share the test suite's support code (tests.support)

from tests.support.processes import free_ports  # noqa: E402 - needs ROOT on sys.path

OUT = ROOT / "bench" / "out"  # work folders and results; bench/out/cache keeps generated sources
CACHE = OUT / "cache"
DOCS = ROOT / "docs" / "benchmarks.md"

MiB = 1024 * 1024
GiB = 1024 * MiB
CLK_TCK = os.sysconf("SC_CLK_TCK")


def say(line: str) -> None:
    print(line, flush=True)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def mb(kib: int) -> float:
    """KiB (as /proc and rusage count) to MB (10**6 bytes, as the reports give memory)."""
    return kib * 1024 / 1e6


# -- /proc ------------------------------------------------------------------------------------


def _stat_fields(path: str) -> list[str]:
    raw = Path(path).read_text()
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) onwards


def cpu_seconds(pid: int) -> float:
    """utime + stime of a whole process (all its threads), 0.0 if it is gone."""
    try:
        f = _stat_fields(f"/proc/{pid}/stat")
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return 0.0
    return (int(f[11]) + int(f[12])) / CLK_TCK


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread, keyed 'name/tid' ('main:name/tid' for the main thread)."""
    result: dict[str, float] = {}
    with contextlib.suppress(FileNotFoundError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
                name = Path(f"/proc/{pid}/task/{task}/comm").read_text().strip()
                if task == str(pid):
                    name = f"main:{name}"
                f = _stat_fields(f"/proc/{pid}/task/{task}/stat")
                result[f"{name}/{task}"] = (int(f[11]) + int(f[12])) / CLK_TCK
    return result


def status_kibs(pid: int | str, *names: str) -> dict[str, int]:
    """kB figures from one read of /proc/<pid>/status (VmRSS, VmHWM; pid may be 'self'), each 0 if
    the process is gone or has no such line."""
    found = dict.fromkeys(names, 0)
    with contextlib.suppress(FileNotFoundError, ProcessLookupError, PermissionError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in found:
                found[name] = int(value.split()[0])
    return found


def status_kib(pid: int | str, field_name: str) -> int:
    """A kB figure from /proc/<pid>/status (VmRSS, VmHWM), 0 if the process is gone."""
    return status_kibs(pid, field_name)[field_name]


def descendants(pid: int) -> list[int]:
    """Every process below pid (children, their children...), from /proc/<pid>/task/*/children."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for task in os.listdir(f"/proc/{current}/task"):
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                    for child in Path(f"/proc/{current}/task/{task}/children").read_text().split():
                        found.append(int(child))
                        todo.append(int(child))
    return found


def pid_alive(pid: int) -> bool:
    """True while pid runs (a zombie, exited but not reaped, counts as gone)."""
    try:
        return _stat_fields(f"/proc/{pid}/stat")[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return False


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent outside idle and iowait since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, _steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / CLK_TCK


def process_cpu() -> dict[int, tuple[float, str]]:
    """CPU seconds (utime + stime) and command line of every process, by PID."""
    result: dict[int, tuple[float, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, PermissionError, ValueError, IndexError):
            raw = Path(f"/proc/{entry}/stat").read_text()
            fields = raw[raw.rindex(")") + 2 :].split()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            result[int(entry)] = ((int(fields[11]) + int(fields[12])) / CLK_TCK, cmd or raw[raw.index("(") + 1 : raw.rindex(")")])
    return result


# Other benchmark scripts count as busy however idle they are at one instant (they may be between two phases).
OTHER_BENCHMARKS = re.compile(r"bench/(upload|transcode)\.py")


def busy_processes(window: float = 3.0, threshold: float = 0.15) -> list[str]:
    """Other processes that used more than `threshold` of a core over `window` seconds, and other
    benchmark scripts however idle they are at this instant (they may be between two phases)."""
    me = os.getpid()
    before = process_cpu()
    time.sleep(window)
    after = process_cpu()
    busy = []
    for pid, (cpu, cmd) in after.items():
        if pid == me:
            continue
        share = (cpu - before.get(pid, (0.0, ""))[0]) / window
        is_bench = OTHER_BENCHMARKS.search(cmd) is not None
        if share > threshold or is_bench:
            busy.append(f"pid {pid} ({share:.0%} of a core): {cmd[:120]}")
    return busy


def wait_for_quiet_machine(minutes: float, poll: float = 30.0) -> list[str]:
    """Waits until no other process is busy, polling every `poll` s for at most `minutes`.
    Returns what was still busy when it gave up (empty when the machine went quiet)."""
    deadline = time.monotonic() + minutes * 60
    while True:
        busy = busy_processes()
        if not busy:
            return []
        if time.monotonic() >= deadline:
            say(f"the machine is still busy after {minutes:g} min; measuring anyway:")
            for line in busy:
                say(f"  {line}")
            return busy
        say(f"waiting for a quiet machine (every {poll:.0f}s, up to {minutes:g} min):")
        for line in busy:
            say(f"  {line}")
        time.sleep(poll)


# -- CPU per phase ----------------------------------------------------------------------------


@dataclass
class Snapshot:
    """CPU seconds of named processes (and of a few processes' threads) at one instant."""

    at: float
    procs: dict[str, float]
    threads: dict[str, dict[str, float]]


class ThreadTracker:
    """Last-seen CPU seconds of every thread of some processes, so threads that exit mid-phase
    (gRPC's request-iterator thread, for one) still count: a Sampler refreshes it every 100 ms."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self._seen: dict[str, dict[str, float]] = {name: {} for name in pids}
        self._lock = threading.Lock()

    def update(self) -> dict[str, dict[str, float]]:
        fresh = {name: thread_cpu(pid) for name, pid in self.pids.items()}
        with self._lock:
            for name, threads in fresh.items():
                self._seen[name].update(threads)
            return {name: dict(threads) for name, threads in self._seen.items()}


def snapshot(pids: dict[str, int], tracker: ThreadTracker | None = None) -> Snapshot:
    return Snapshot(
        at=time.monotonic(),
        procs={name: cpu_seconds(pid) for name, pid in pids.items()},
        threads=tracker.update() if tracker else {},
    )


@dataclass
class PhaseCpu:
    name: str
    wall: float
    procs: dict[str, float]  # CPU seconds used during the phase
    top_threads: dict[str, list[tuple[str, float]]]


def phase_cpu(name: str, start: Snapshot, end: Snapshot) -> PhaseCpu:
    """What each process (and its four busiest threads, 0.02 s or more) used between two snapshots."""
    procs = {p: end.procs[p] - start.procs.get(p, 0.0) for p in end.procs}
    top: dict[str, list[tuple[str, float]]] = {}
    for proc, threads in end.threads.items():
        before = start.threads.get(proc, {})
        deltas = sorted(((t, s - before.get(t, 0.0)) for t, s in threads.items()), key=lambda x: -x[1])
        top[proc] = [(t, d) for t, d in deltas[:4] if d >= 0.02]
    return PhaseCpu(name, end.at - start.at, procs, top)


# -- peak memory ------------------------------------------------------------------------------


class Sampler:
    """Every `interval` seconds, in a thread, while the with-block runs, for one PID: the largest
    VmRSS and VmHWM seen (VmHWM is kept: it is unreadable once the process exits); with `tree`,
    also the largest summed VmRSS of the process and its descendants, and every descendant seen;
    with a tracker, refreshes the tracked threads' CPU seconds."""

    def __init__(self, pid: int, *, tree: bool = False, tracker: ThreadTracker | None = None, interval: float = 0.1):
        self.pid = pid
        self.tree = tree
        self.tracker = tracker
        self.interval = interval
        self.rss_kib = 0  # the largest VmRSS sampled
        self.hwm_kib = 0  # the largest VmHWM sampled
        self.tree_kib = 0  # with tree: the largest VmRSS of the process plus its descendants
        self.children: set[int] = set()  # with tree: every descendant seen
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            status = status_kibs(self.pid, "VmRSS", "VmHWM")
            self.rss_kib = max(self.rss_kib, status["VmRSS"])
            self.hwm_kib = max(self.hwm_kib, status["VmHWM"])
            if self.tree:
                kids = descendants(self.pid)
                self.children.update(kids)
                self.tree_kib = max(self.tree_kib, status["VmRSS"] + sum(status_kib(p, "VmRSS") for p in kids))
            self.samples += 1
            if self.tracker:
                self.tracker.update()
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- processes --------------------------------------------------------------------------------


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    """Until something listens on 127.0.0.1:port; raises, with the end of `log`, if process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} while starting; log:\n{tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s; log:\n{tail(log)}")


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM to this PID, SIGKILL if it has not exited within timeout."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        say(f"  pid {process.pid} ignored SIGTERM for {timeout:.0f}s; killing it")
        process.kill()
        process.wait()


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def stop_on_sigterm() -> None:
    """SIGTERM raises SystemExit, which unwinds through the `finally` blocks that stop what the
    benchmark started (servers, encoders), as Ctrl-C does."""
    signal.signal(signal.SIGTERM, _terminate)


# -- the mesh ---------------------------------------------------------------------------------


@dataclass
class Vidmesh:
    """A running `vidmesh up`. `ports` names them as Config does: the fields of Ports, and
    `metrics_<process>` for each process's Prometheus endpoint."""

    home: Path
    env: dict[str, str]
    ports: dict[str, int]
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def gateway(self) -> str:
        return f"127.0.0.1:{self.ports['http']}"

    def pids(self) -> dict[str, int]:
        return json.loads((self.home / "run" / "pids.json").read_text())

    def create_key(self, owner: str = "bench") -> str:
        result = subprocess.run(
            [vidmesh_bin(), "keys", "create", "--owner", owner], env=self.env, capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"vidmesh keys create failed:\n{result.stderr}")
        return result.stdout.strip().splitlines()[-1]


def vidmesh_bin() -> str:
    local = Path(sys.executable).parent / "vidmesh"
    return str(local) if local.exists() else (shutil.which("vidmesh") or "vidmesh")


def mesh_ports() -> dict[str, int]:
    """A free loopback port for everything the mesh listens on, services added later too."""
    from vidmesh_services.runtime.config import MetricsSettings, Ports

    names = [f.name for f in dataclasses.fields(Ports)]
    metrics = [f"metrics_{f.name.removesuffix('_port')}" for f in dataclasses.fields(MetricsSettings)]
    return dict(zip(names + metrics, free_ports(len(names) + len(metrics)), strict=True))


@contextlib.contextmanager
def running_vidmesh(home: Path, overrides: dict[str, str] | None = None) -> Iterator[Vidmesh]:
    """`vidmesh up` with `home` as VIDMESH_HOME, on free ports, its output in home/vidmesh-up.log;
    `overrides` are VIDMESH_* settings. On the way out, SIGTERM to the supervisor (which stops its
    children in order), then SIGKILL to any child that outlived it."""
    ports = mesh_ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDMESH_")}
    for name, port in ports.items():
        if name.startswith("metrics_"):
            env[f"VIDMESH_METRICS_{name.removeprefix('metrics_').upper()}_PORT"] = str(port)
        else:
            env[f"VIDMESH_PORTS_{name.upper()}"] = str(port)
    env.update(VIDMESH_HOME=str(home), VIDMESH_CLIENT_STATE=str(home / "client-ledger.json"))
    env.update(overrides or {})
    home.mkdir(parents=True, exist_ok=True)
    log = home / "vidmesh-up.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [vidmesh_bin(), "up"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    mesh = Vidmesh(home, env, ports, process, log)
    try:
        deadline = time.monotonic() + 120
        while "vidmesh is up" not in log.read_text(errors="replace"):
            if process.poll() is not None:
                raise RuntimeError(f"vidmesh up exited with {process.returncode} while starting:\n{tail(log)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"vidmesh up was not up after 120s:\n{tail(log)}")
            time.sleep(0.1)
        yield mesh
    finally:
        children = {}
        with contextlib.suppress(FileNotFoundError, ValueError):
            children = {k: v for k, v in mesh.pids().items() if k != "supervisor"}
        # The supervisor (this Popen's PID) stops its children in order on SIGTERM.
        stop_process(process, timeout=90)
        for name, pid in children.items():
            if pid_alive(pid):
                say(f"  {name} (pid {pid}) outlived the supervisor; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def paused(pids: dict[str, int]) -> Iterator[list[str]]:
    """SIGSTOPs the given processes, SIGCONTs them on the way out (before the mesh is stopped).
    Yields their names, sorted."""
    stopped: list[int] = []
    try:
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
        yield sorted(pids)
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


# -- the machine ------------------------------------------------------------------------------


def git_commit(*untracked_in: str) -> str:
    """HEAD's short hash, with " + uncommitted changes" if tracked files differ from it or there are
    untracked files under any of the `untracked_in` paths; empty if git cannot tell."""
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        for path in untracked_in:
            dirty += subprocess.run(["git", "status", "--porcelain", path], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        if commit and dirty:
            commit += " + uncommitted changes"
    return commit


def go_module_version(binary: Path, module: str) -> str:
    """The version of `module` a Go binary was built from (`go install` builds print no -version,
    but the module version is in the build info); empty if unknown."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["go", "version", "-m", str(binary)], capture_output=True, text=True, timeout=10).stdout
        found = re.search(rf"^\s*mod\s+{re.escape(module)}\s+(\S+)", out, re.M)
        return found.group(1) if found else ""
    return ""


def machine(*, fs_of: Path | None = None, untracked_in: tuple[str, ...] = (), **tools: str) -> dict[str, str]:
    """The machine and code a run was on: date, nproc, cpu, ram, kernel, fs (of `fs_of`, if given),
    python, then `tools` (versions of what was measured, in the order given), then commit (see
    git_commit for `untracked_in`)."""
    mem_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": model or platform.processor() or "unknown",
        "ram": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
    }
    if fs_of is not None:
        fs = ""
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            fs = subprocess.run(
                ["findmnt", "-n", "-o", "FSTYPE", "-T", str(fs_of)], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        info["fs"] = fs or "unknown"
    info["python"] = platform.python_version()
    info.update(tools)
    info["commit"] = git_commit(*untracked_in) or "unknown"
    return info


# -- the report -------------------------------------------------------------------------------


def text_table(header: list[str], body: list[list[str]]) -> str:
    """A console table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])


def md_table(header: list[str], body: list[list[str]]) -> str:
    """A Markdown table: the first column left-aligned, the others right-aligned."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(out)


DOCS_HEADER = """# Benchmarks

Figures from the benchmarks under `bench/`, each run with a `make bench-*` target on the machine
named in its section. `make bench` runs them all. Each benchmark rewrites only its own section,
between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; text outside the markers is kept.
"""


def write_section(docs: Path, name: str, section: str) -> None:
    """Replaces the section `name` of docs (markers included in `section`), or appends it; a
    missing file starts with DOCS_HEADER."""
    text = docs.read_text() if docs.exists() else DOCS_HEADER
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end) + r"\n?", re.S)
    text, replaced = pattern.subn(lambda _: section, text, count=1)
    if not replaced:
        text = text.rstrip("\n") + "\n\n" + section
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(text)
