"""Upload benchmark: one ~1 GiB video through the vidmesh gateway, then through tusd, side by side.

Run with `make bench-upload` (it builds .tools/bin/tusd first). In one run it:

1. makes a >= 1 GiB valid MPEG-TS video under bench/out/ (a short, noisy, high-bitrate H.264 clip
   encoded with PyAV and cached in bench/out/cache/, concatenated until the file is big enough),
   then writes and deletes it once as chunk files to warm the page cache;
2. starts `vidmesh up` on free loopback ports with a fresh home under bench/out/, creates an API
   key and uploads the file --rounds times (default 3) through Envoy with the Python SDK in 10 MiB
   chunks, timing the chunk transfer (until the SDK calls CompleteUpload) and CompleteUpload
   (publish + probe) separately, sampling the Upload service's RSS every 100 ms and reading its
   VmHWM afterwards, and CPU time per process and thread from /proc; background workers of the
   mesh (transcode workers, which would start on each uploaded video) are paused (SIGSTOP) while
   it measures, so that only the upload path competes for the cores;
3. starts tusd on the same disk and uploads the same file as often with a minimal tus 1.0 client
   (POST creation, then sequential 10 MiB PATCHes over one keep-alive connection);
4. measures the disk alone (the file stored through the Upload service's blob store, part by part,
   as a multipart write, no network), prints the median
   round of each system and rewrites the `<!-- bench:upload -->` section of docs/benchmarks.md.

Every process it starts is stopped by PID (SIGTERM, then SIGKILL) in `finally` blocks, and the big
files are deleted at the end (--keep leaves them; the cached clip stays).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from harness import (  # bench/ is on sys.path when a script here runs
    CACHE,
    DOCS,
    OUT,
    ROOT,
    GiB,
    MiB,
    PhaseCpu,
    Sampler,
    Snapshot,
    ThreadTracker,
    Vidmesh,
    cpu_seconds,
    descendants,
    free_ports,
    go_module_version,
    machine,
    mb,
    md_table,
    paused,
    phase_cpu,
    running_vidmesh,
    say,
    snapshot,
    status_kib,
    stop_on_sigterm,
    stop_process,
    text_table,
    wait_for_port,
    write_section,
)

from vidmesh_services.platform.pids import die_with_parent

TUSD = ROOT / ".tools" / "bin" / "tusd"

TARGET_RATIO = 0.7
TARGET_RSS_MB = 200.0  # MB = 10**6 bytes

CLIP = dict(width=1280, height=720, fps=25, frames=100, crf=12)  # ~110 MB of noise per copy
SECTION = "upload"


# -- the test file ----------------------------------------------------------------------------


def source_clip() -> Path:
    """A short, noisy 1280x720 H.264 MPEG-TS clip (cached): noise keeps the bitrate high."""
    import av  # PyAV: a dependency of vidmesh

    c = CLIP
    name = f"noise-{c['width']}x{c['height']}-{c['frames']}f-crf{c['crf']}.ts"
    path = CACHE / name
    if path.exists() and path.stat().st_size > 0:
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    started = time.monotonic()
    with av.open(str(tmp), "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=c["fps"])
        stream.width, stream.height, stream.pix_fmt = c["width"], c["height"], "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": str(c["crf"]), "g": str(c["fps"])}
        for i in range(c["frames"]):
            frame = av.VideoFrame(c["width"], c["height"], "yuv420p")
            for plane in frame.planes:
                plane.update(os.urandom(plane.buffer_size))
            frame.pts = i
            frame.time_base = Fraction(1, c["fps"])
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    os.replace(tmp, path)
    say(f"  encoded {path.name}: {path.stat().st_size / MiB:.1f} MiB in {time.monotonic() - started:.1f}s")
    return path


def make_big_file(dest: Path, min_bytes: int) -> Path:
    """Concatenates copies of the clip until dest holds at least min_bytes (TS stays valid)."""
    clip = source_clip().read_bytes()
    copies = -(-min_bytes // len(clip))
    with open(dest, "wb") as out:
        for _ in range(copies):
            out.write(clip)
        out.flush()
        os.fsync(out.fileno())  # no dirty pages left to be written back during a measurement
    return dest


@dataclass
class Result:
    """One upload of the file."""

    size: int
    transfer_s: float
    total_s: float
    phases: list[PhaseCpu] = field(default_factory=list)

    @property
    def mib_s(self) -> float:
        return self.size / MiB / self.transfer_s


@dataclass
class Series:
    """The rounds of one system, and the memory of its server process over all of them."""

    name: str
    rounds: list[Result]
    rss_idle_kib: int = 0  # VmRSS before the first upload
    rss_peak_kib: int = 0  # max of VmRSS sampled every 100 ms
    rss_hwm_kib: int = 0  # VmHWM after the last upload
    rss_samples: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def median(self) -> Result:
        """The round with the median transfer time (the faster middle one for an even count)."""
        return sorted(self.rounds, key=lambda r: r.transfer_s)[(len(self.rounds) - 1) // 2]

    @property
    def rss_max_kib(self) -> int:
        return max(self.rss_peak_kib, self.rss_hwm_kib)


def vidmesh_round(
    mesh: Vidmesh, key: str, path: Path, chunk_size: int, watched: dict[str, int], tracker: ThreadTracker, label: str
) -> tuple[Result, str]:
    from vidmesh_client import VidmeshClient
    from vidmesh_client._ledger import UploadLedger

    size = path.stat().st_size
    upload_pid = watched["upload"]
    marks: dict[str, Snapshot] = {}
    with VidmeshClient(url=mesh.gateway, api_key=key, ledger=UploadLedger(mesh.home / "client-ledger.json")) as client:
        uploader = client._uploader  # timing hook: the moment the SDK calls CompleteUpload
        complete = uploader._complete

        def timed_complete(name: str, sleep: Callable[[float], None]) -> str:
            marks["complete"] = snapshot(watched, tracker)
            return complete(name, sleep)

        uploader._complete = timed_complete  # type: ignore[method-assign]
        last_report = [time.monotonic()]

        def progress(state: object) -> None:
            now = time.monotonic()
            if now - last_report[0] >= 5:
                last_report[0] = now
                say(f"  {label}: {state.sent_bytes / MiB:.0f} / {state.total_bytes / MiB:.0f} MiB handed to gRPC")  # type: ignore[attr-defined]

        # Probe workers are spawned by the first CompleteUpload: their CPU counts in the complete phase.
        probe_before = {p: cpu_seconds(p) for p in descendants(upload_pid)}
        marks["start"] = snapshot(watched, tracker)
        video_id = client.upload(path, title="bench upload", chunk_size=chunk_size, progress=progress)
        marks["end"] = snapshot(watched, tracker)
        probe_cpu = sum(cpu_seconds(p) - probe_before.get(p, 0.0) for p in descendants(upload_pid))
        if "complete" not in marks:
            raise RuntimeError("the SDK never called CompleteUpload (the timing hook did not fire)")
        video = client.get_video(video_id)
        if video.source.size_bytes != size:
            raise RuntimeError(f"the catalog says video {video_id} has {video.source.size_bytes} bytes, not {size}")
        client.delete_video(video_id)  # frees the 1 GiB source for the next round
    transfer = phase_cpu("transfer", marks["start"], marks["complete"])
    finish = phase_cpu("complete", marks["complete"], marks["end"])
    finish.procs["probe workers"] = probe_cpu
    src = video.source
    return Result(size, transfer.wall, transfer.wall + finish.wall, [transfer, finish]), (
        f"{src.container}/{src.video_codec} {src.width}x{src.height}, {src.size_bytes} bytes"
    )


def bench_vidmesh(path: Path, home: Path, chunk_size: int, rounds: int) -> Series:
    say(f"vidmesh: starting `vidmesh up` (home {home.relative_to(ROOT)})")
    with running_vidmesh(home) as mesh:
        key = mesh.create_key()
        pids = mesh.pids()
        upload_pid = pids["upload"]
        watched = {name: pids[name] for name in ("envoy", "upload", "catalog", "valkey", "supervisor") if name in pids}
        watched["client"] = os.getpid()
        tracker = ThreadTracker({name: watched[name] for name in ("envoy", "upload", "client")})
        say(f"vidmesh: up at {mesh.gateway}; pids {json.dumps(pids)}")
        series = Series("vidmesh", [], rss_idle_kib=status_kib(upload_pid, "VmRSS"))
        # Workers would start transcoding each uploaded video while the next round runs.
        background = {name: pid for name, pid in pids.items() if "worker" in name}
        with paused(background) as names, Sampler(upload_pid, tracker=tracker) as sampler:
            if names:
                say(f"vidmesh: paused {', '.join(names)} while measuring")
                series.notes.append(f"paused (SIGSTOP) while measuring, so that only the upload path uses the cores: {', '.join(names)}")
            for n in range(1, rounds + 1):
                label = f"vidmesh round {n}/{rounds}"
                result, probed = vidmesh_round(mesh, key, path, chunk_size, watched, tracker, label)
                series.rounds.append(result)
                say(f"{label}: transfer {result.transfer_s:.2f}s ({result.mib_s:.1f} MiB/s), total {result.total_s:.2f}s ({probed})")
                os.sync()  # the deleted source's writeback must not land in the next round
        series.rss_peak_kib, series.rss_samples = sampler.rss_kib, sampler.samples
        series.rss_hwm_kib = status_kib(upload_pid, "VmHWM")
        probe_hwm = max((status_kib(p, "VmHWM") for p in descendants(upload_pid)), default=0)
        series.notes.append(f"probe worker processes (outside the Upload service process) peaked at {mb(probe_hwm):.0f} MB RSS each")
        say(f"vidmesh: stopping (SIGTERM to supervisor pid {mesh.process.pid})")
    return series


# -- tusd -------------------------------------------------------------------------------------


@contextlib.contextmanager
def running_tusd(upload_dir: Path, log: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    if not TUSD.exists():
        raise FileNotFoundError(f"{TUSD} is missing: run `make .tools/bin/tusd` (or `make bench-upload`)")
    (port,) = free_ports(1)
    upload_dir.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(TUSD), "-host", "127.0.0.1", "-port", str(port), "-upload-dir", str(upload_dir), "-base-path", "/files/"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    try:
        wait_for_port(port, process, log)
        yield port, process
    finally:
        stop_process(process, timeout=20)


def tus_request(
    conn: http.client.HTTPConnection, method: str, url: str, headers: dict[str, str], body: bytes | None = None
) -> http.client.HTTPResponse:
    conn.request(method, url, body=body, headers={"Tus-Resumable": "1.0.0", **headers})
    response = conn.getresponse()
    response.read()
    return response


def tus_upload(port: int, path: Path, chunk_size: int) -> str:
    """A minimal tus 1.0 client: creation, then sequential PATCHes on one keep-alive connection.
    Returns the upload URL's path."""
    size = path.stat().st_size
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        response = tus_request(conn, "POST", "/files/", {"Upload-Length": str(size), "Content-Length": "0"})
        if response.status != 201:
            raise RuntimeError(f"tus creation answered {response.status} {response.reason}")
        location = urllib.parse.urlsplit(response.getheader("Location") or "").path
        offset = 0
        with open(path, "rb") as handle:
            while offset < size:
                data = os.pread(handle.fileno(), min(chunk_size, size - offset), offset)
                response = tus_request(
                    conn,
                    "PATCH",
                    location,
                    {
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                        "Content-Length": str(len(data)),
                    },
                    data,
                )
                if response.status != 204:
                    raise RuntimeError(f"PATCH at offset {offset} answered {response.status} {response.reason}")
                offset = int(response.getheader("Upload-Offset") or -1)
                if offset < 0:
                    raise RuntimeError("a PATCH response had no Upload-Offset")
        return location
    finally:
        conn.close()


def tus_delete(port: int, location: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        response = tus_request(conn, "DELETE", location, {"Content-Length": "0"})
        if response.status != 204:
            raise RuntimeError(f"DELETE {location} answered {response.status} {response.reason}")
    finally:
        conn.close()


def bench_tusd(path: Path, work: Path, chunk_size: int, rounds: int) -> Series:
    size = path.stat().st_size
    upload_dir = work / "tusd-data"
    say(f"tusd: starting {TUSD.relative_to(ROOT)} (upload dir {upload_dir.relative_to(ROOT)})")
    with running_tusd(upload_dir, work / "tusd.log") as (port, process):
        watched = {"tusd": process.pid, "client": os.getpid()}
        tracker = ThreadTracker(watched)
        series = Series("tusd", [], rss_idle_kib=status_kib(process.pid, "VmRSS"))
        with Sampler(process.pid, tracker=tracker) as sampler:
            for n in range(1, rounds + 1):
                start = snapshot(watched, tracker)
                location = tus_upload(port, path, chunk_size)
                end = snapshot(watched, tracker)
                upload_id = location.rstrip("/").rsplit("/", 1)[-1]
                stored = (upload_dir / upload_id).stat().st_size
                if stored != size:
                    raise RuntimeError(f"tusd stored {stored} bytes, not {size}")
                tus_delete(port, location)
                transfer = phase_cpu("transfer", start, end)
                result = Result(size, transfer.wall, transfer.wall, [transfer])
                series.rounds.append(result)
                say(f"tusd round {n}/{rounds}: transfer {result.transfer_s:.2f}s ({result.mib_s:.1f} MiB/s)")
                os.sync()
        series.rss_peak_kib, series.rss_samples = sampler.rss_kib, sampler.samples
        series.rss_hwm_kib = status_kib(process.pid, "VmHWM")
        say(f"tusd: stopping (pid {process.pid})")
    return series


# -- the disk alone ---------------------------------------------------------------------------


def warm_up(src: Path, dest: Path, chunk_size: int) -> float:
    """Writes src as fsynced chunk files through the page cache and deletes them: touches about as
    much memory as an upload does, so neither system pays the VM's first touch. Returns MiB/s."""
    size = src.stat().st_size
    dest.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(src, "rb") as handle:
        for index, offset in enumerate(range(0, size, chunk_size)):
            data = os.pread(handle.fileno(), min(chunk_size, size - offset), offset)
            fd, tmp = tempfile.mkstemp(dir=dest, prefix=".tmp-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest / f"{index:06d}.part")
            dir_fd = os.open(dest, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    elapsed = time.monotonic() - started
    shutil.rmtree(dest, ignore_errors=True)
    os.sync()
    return size / MiB / elapsed


def disk_pass(src: Path, dest: Path, chunk_size: int) -> float:
    """MiB/s of storing src chunk by chunk through the Upload service's own blob store, with no
    network or gRPC: a multipart write (each part written in place and fdatasync'ed), then its
    completion. What the disk and the store allow."""
    from vidmesh_services.storage.blob_fs import FilesystemBlobStore

    size = src.stat().st_size
    store = FilesystemBlobStore(dest)
    started = time.monotonic()
    store.begin_multipart("uploads/bench", "raw/bench/source", size=size, part_size=chunk_size)
    with open(src, "rb") as handle:
        for index, offset in enumerate(range(0, size, chunk_size)):
            store.write_part("uploads/bench", index, os.pread(handle.fileno(), min(chunk_size, size - offset), offset))
    store.complete_multipart("uploads/bench")
    elapsed = time.monotonic() - started
    shutil.rmtree(dest, ignore_errors=True)
    os.sync()
    return size / MiB / elapsed


# -- report -----------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


HEADERS = ["system", "transfer MiB/s", "range over rounds", "transfer s", "total s", "ratio vs tusd", "peak RSS of server process, MB"]


def rows(vm: Series, tus: Series) -> list[list[str]]:
    base = tus.median.mib_s
    out = []
    for series in (vm, tus):
        m = series.median
        speeds = [r.mib_s for r in series.rounds]
        out.append(
            [
                "vidmesh (Upload service)" if series is vm else "tusd",
                f"{m.mib_s:.1f}",
                f"{min(speeds):.0f}-{max(speeds):.0f}",
                f"{m.transfer_s:.2f}",
                f"{m.total_s:.2f}",
                f"{m.mib_s / base:.2f}",
                f"{mb(series.rss_max_kib):.0f}",
            ]
        )
    return out


CPU_HEADERS = ["system, phase (median round)", "process", "CPU s", "CPU % of wall (100% = one core)"]


def cpu_rows(all_series: list[Series]) -> list[list[str]]:
    body = []
    for series in all_series:
        for phase in series.median.phases:
            for proc, secs in sorted(phase.procs.items(), key=lambda x: -x[1]):
                if proc in ("supervisor", "catalog", "valkey") and secs < 0.05:
                    continue
                body.append([f"{series.name}, {phase.name} ({phase.wall:.2f} s)", proc, f"{secs:.2f}", f"{100 * secs / phase.wall:.0f}%"])
    return body


def thread_lines(all_series: list[Series]) -> list[str]:
    lines = []
    for series in all_series:
        for phase in series.median.phases:
            for proc, threads in phase.top_threads.items():
                if threads:
                    busiest = ", ".join(f"{t} {s:.2f} s ({100 * s / phase.wall:.0f}%)" for t, s in threads)
                    lines.append(f"{series.name} {phase.name}, {proc}: {busiest}")
    return lines


def checks(vm: Series, tus: Series) -> list[str]:
    ratio = vm.median.mib_s / tus.median.mib_s
    rss = mb(vm.rss_max_kib)
    return [
        f"throughput ratio vidmesh/tusd {ratio:.2f} (target >= {TARGET_RATIO}): {'met' if ratio >= TARGET_RATIO else 'NOT met'}",
        f"Upload service peak RSS {rss:.0f} MB (target < {TARGET_RSS_MB:.0f} MB): {'met' if rss < TARGET_RSS_MB else 'NOT met'}",
    ]


def details(vm: Series, tus: Series, disks: list[float], chunk_size: int) -> list[str]:
    first = vm.rounds[0]
    return [
        f"every round, MiB/s: vidmesh {', '.join(f'{r.mib_s:.0f}' for r in vm.rounds)}; "
        f"tusd {', '.join(f'{r.mib_s:.0f}' for r in tus.rounds)}",
        f"vidmesh's first upload after `vidmesh up`: {first.mib_s:.1f} MiB/s, total {first.total_s:.2f} s",
        f"vidmesh CompleteUpload (publish + probe + catalog), median: {median([r.total_s - r.transfer_s for r in vm.rounds]):.2f} s",
        f"Upload service RSS: {mb(vm.rss_idle_kib):.0f} MB idle before the first upload, max sampled VmRSS "
        f"{mb(vm.rss_peak_kib):.0f} MB ({vm.rss_samples} samples), VmHWM {mb(vm.rss_hwm_kib):.0f} MB; "
        f"tusd: {mb(tus.rss_idle_kib):.0f} MB idle, peak {mb(tus.rss_max_kib):.0f} MB",
        *vm.notes,
        f"the disk alone: {median(disks):.0f} MiB/s (median of {', '.join(f'{d:.0f}' for d in disks)}) storing the file "
        f"in {chunk_size // MiB} MiB parts through the Upload service's blob store (multipart write: O_DIRECT pwrite in "
        f"place + fdatasync per part, then fsync + rename; no network): the ceiling for vidmesh's per-chunk durability",
    ]


def section_markdown(vm: Series, tus: Series, disks: list[float], chunk_size: int, info: dict[str, str]) -> str:
    size = vm.median.size
    lines = [
        f"<!-- bench:{SECTION} -->",
        "## Upload: 1 GiB through the gateway vs tusd",
        "",
        f"One {size / GiB:.2f} GiB ({size} bytes) MPEG-TS file (a noisy 1280x720 H.264 clip repeated) is uploaded in "
        f"{chunk_size // MiB} MiB chunks on loopback, {len(vm.rounds)} times to each system, to stores on the same disk:",
        "",
        "- **vidmesh**: the Python SDK (`VidmeshClient.upload`, a new client per round) through the Envoy gateway to "
        "the Upload service, one `vidmesh up` with a fresh home for all rounds. *Transfer* ends when every chunk is "
        "acknowledged and the SDK calls CompleteUpload; *total* adds CompleteUpload (fsync and rename of the file the "
        "chunks were written into, FFmpeg probe, catalog write). Each video is deleted before the next round.",
        "- **tusd**: tusd's file store, fed by a minimal tus 1.0 client in the benchmark (POST creation, then "
        "sequential PATCHes of the same chunk size over one keep-alive `http.client` connection). Transfer = total.",
        "",
        "Not quite like for like: vidmesh checks a CRC32C per chunk on both ends and writes every chunk to disk "
        "(O_DIRECT, fdatasync) before acknowledging it; tusd's file store appends to the page cache without fsync. A 1 GiB write-and-delete pass warms the page "
        "cache first (on a VM, the first touch of guest memory is slow and would penalise whichever system runs first).",
        "",
        "Figures are those of the median round by transfer time. Throughput is MiB/s (2^20 bytes) of the transfer "
        "phase; the ratio is vidmesh/tusd (target >= 0.7). Peak RSS is of the server process (for vidmesh the Upload "
        "service: the larger of VmRSS sampled every 100 ms and VmHWM after the last round) in MB (10^6 bytes; target "
        "< 200 MB).",
        "",
        "Command: `make bench-upload`",
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, Linux {info['kernel']}, {info['fs']}, "
        f"Python {info['python']}, tusd {info['tusd']}; commit {info['commit']}; run {info['date']}.",
        "",
        md_table(HEADERS, rows(vm, tus)),
        "",
        *[f"- {c}" for c in checks(vm, tus)],
        *[f"- {d}" for d in details(vm, tus, disks, chunk_size)],
        "",
        "CPU time per process in the median round (from /proc/<pid>/stat; *client* is the benchmark process, "
        "which runs the SDK or the tus client):",
        "",
        md_table(CPU_HEADERS, cpu_rows([vm, tus])),
        "",
        "Busiest threads (name/tid; `main:` is a process's main thread, where the Upload service runs its asyncio loop; "
        "the Upload service's other `python` thread is its asyncio.to_thread worker writing chunks, the client's is gRPC's "
        "request-iterator thread; `event_engine` threads are gRPC core's):",
        "",
        *[f"- {line}" for line in thread_lines([vm, tus])],
        f"<!-- /bench:{SECTION} -->",
    ]
    return "\n".join(lines) + "\n"


# -- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="minimum file size (default 1024 = 1 GiB)")
    parser.add_argument("--chunk-mib", type=int, default=10, help="chunk size for both systems (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="uploads per system; the median is reported (default 3)")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true", help="keep the big file, the vidmesh home and tusd's folder")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    stop_on_sigterm()

    chunk_size = args.chunk_mib * MiB
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="upload-", dir=OUT))
    try:
        say(f"making a >= {args.size_mib} MiB video in {work.relative_to(ROOT)}")
        started = time.monotonic()
        path = make_big_file(work / "big.ts", args.size_mib * MiB)
        say(f"  {path.stat().st_size} bytes ({path.stat().st_size / GiB:.3f} GiB) in {time.monotonic() - started:.1f}s")
        os.sync()
        warm = warm_up(path, work / "disk", chunk_size)
        say(f"warm-up: wrote and deleted the file as chunk files ({warm:.0f} MiB/s)")

        vm = bench_vidmesh(path, work / "vidmesh-home", chunk_size, args.rounds)
        tus = bench_tusd(path, work, chunk_size, args.rounds)
        disks = [disk_pass(path, work / "disk", chunk_size) for _ in range(args.rounds)]
        say(f"disk alone: {', '.join(f'{d:.0f}' for d in disks)} MiB/s")

        info = machine(fs_of=OUT) | {"tusd": go_module_version(TUSD, "github.com/tus/tusd/v2") or "unknown"}
        say("")
        say(f"median of {args.rounds} rounds:")
        say(text_table(HEADERS, rows(vm, tus)))
        say("")
        for line in [*checks(vm, tus), *details(vm, tus, disks, chunk_size)]:
            say(line)
        say("")
        say("CPU time per process (median round):")
        say(text_table(CPU_HEADERS, cpu_rows([vm, tus])))
        say("")
        say("Busiest threads (median round):")
        for line in thread_lines([vm, tus]):
            say(f"  {line}")
        say(f"\nmachine: {json.dumps(info)}")
        if not args.no_docs:
            write_section(DOCS, SECTION, section_markdown(vm, tus, disks, chunk_size, info))
            say(f"wrote the '{SECTION}' section of {DOCS.relative_to(ROOT)}")
        return 0
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
