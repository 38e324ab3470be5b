"""Catalog read benchmark: GetVideo and BatchGetVideos through the Envoy gateway, served from the
Redis cache (hits) and straight from the metadata store (SQLite, Cassandra), side by side.

Run with `make bench-catalog` (it builds .tools/bin/ghz first). In one run it:

1. starts one `vidmesh up` per backend on free loopback ports, each with a fresh home under
   bench/out/ (for Cassandra, first a one-node Cassandra from platform/cassandra.py), with the
   catalog cache on (TTL longer than the run) or off;
2. creates --videos public READY videos (six renditions each, as after transcoding) in each,
   through the catalog's internal CreateVideo, then waits for a quiet machine;
3. for GetVideo (one video per call, round-robin over every video) and BatchGetVideos (20 videos
   per call), each with 8 and then 64 concurrent callers in a closed loop (and GetVideo also at a
   fixed 500 calls/s), runs --rounds rounds;
   a round visits every backend in turn (rotating which goes first): a --warmup s ghz run at that
   concurrency (the first one fills the cache), then as many calls as its rate fits in --seconds.
   ghz (grpc-go, compiled) is the load generator, so that the client is not the bottleneck;
4. reads CPU seconds of each process of the mesh, of Cassandra and of ghz around every run.

It prints the medians over the rounds and rewrites the `<!-- bench:catalog -->` section of
docs/benchmarks.md. Every process it starts is stopped by PID in `finally` blocks.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import random
import re
import resource
import secrets
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness import (  # bench/ is on sys.path when a script here runs
    DOCS,
    OUT,
    ROOT,
    Vidmesh,
    cpu_seconds,
    free_ports,
    go_module_version,
    machine,
    md_table,
    running_vidmesh,
    say,
    stop_on_sigterm,
    text_table,
    wait_for_quiet_machine,
    write_section,
)

GHZ = ROOT / ".tools" / "bin" / "ghz"
PROTOSET = ROOT / "gen" / "descriptor" / "vidmesh.binpb"
SECTION = "catalog"
SERVICE = "vidmesh.catalog.v1.CatalogService"
BATCH = 20


@dataclass(frozen=True)
class Load:
    callers: int
    rate: int = 0  # calls per second for all callers together; 0: as fast as they can (closed loop)

    def __str__(self) -> str:
        return f"{self.callers} at {self.rate}/s" if self.rate else str(self.callers)

    def describe(self) -> str:
        return f"{self.callers} callers offered {self.rate} calls/s" if self.rate else f"{self.callers} callers (closed loop)"


# Closed loops at 8 and 64 callers, and GetVideo offered at a fixed rate below saturation.
LOADS = {"GetVideo": (Load(8), Load(64), Load(64, 500)), f"BatchGetVideos ({BATCH})": (Load(8), Load(64))}
TARGET_P99_MS = 5.0


@dataclass(frozen=True)
class Backend:
    key: str  # as --backends names it
    name: str
    overrides: dict[str, str]

    @property
    def cassandra(self) -> bool:
        return self.key == "cassandra"


BACKENDS = (
    # A TTL longer than the run: every read after the first warm-up is a hit.
    Backend(
        "cache",
        "cache hit (Valkey, SQLite behind it)",
        {"VIDMESH_CATALOG_CACHE_ENABLED": "true", "VIDMESH_CATALOG_CACHE_TTL_SECONDS": "3600"},
    ),
    Backend("sqlite", "SQLite, no cache", {"VIDMESH_CATALOG_CACHE_ENABLED": "false"}),
    Backend("cassandra", "Cassandra, no cache", {"VIDMESH_CATALOG_CACHE_ENABLED": "false", "VIDMESH_METADATA_BACKEND": "cassandra"}),
)


@dataclass
class Measurement:
    backend: str
    call: str
    load: Load
    seconds: float
    count: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds during the run


# -- the data -----------------------------------------------------------------------------------


def make_videos(mesh: Vidmesh, token: str, count: int) -> list[str]:
    import grpc
    from vidmesh.catalog.v1 import catalog_internal_service_pb2 as internal_pb2
    from vidmesh.catalog.v1 import catalog_internal_service_pb2_grpc as internal_grpc
    from vidmesh.catalog.v1 import resources_pb2
    from vidmesh.type.v1 import media_pb2

    ladder = [
        (1920, 1080, 6_000_000),
        (1280, 720, 3_000_000),
        (854, 480, 1_500_000),
        (640, 360, 800_000),
        (426, 240, 400_000),
        (256, 144, 200_000),
    ]
    names = []
    with grpc.insecure_channel(f"127.0.0.1:{mesh.ports['catalog']}") as channel:
        stub = internal_grpc.CatalogInternalServiceStub(channel)
        for i in range(count):
            video_id = secrets.token_urlsafe(8).replace("-", "x")
            fields = resources_pb2.Video(
                title=f"Benchmark video number {i}: a title of typical length",
                description="A description of a few sentences, as creators write them. " * 4,
                tags=["bench", "catalog", "cache", f"tag{i % 50}"],
                visibility=media_pb2.VISIBILITY_PUBLIC,
            )
            auth = (("authorization", f"Bearer {token}"),)
            created = stub.CreateVideo(
                internal_pb2.CreateVideoRequest(video_id=video_id, owner="bench", video=fields), metadata=auth, timeout=30
            )
            # READY with a full ladder, so each read carries what a real video's metadata does.
            stub.SetProcessingResult(
                internal_pb2.SetProcessingResultRequest(
                    name=created.video.name,
                    status=resources_pb2.VIDEO_STATUS_READY,
                    master_playlist_path=f"/hls/{video_id}/job/master.m3u8",
                    renditions=[
                        media_pb2.Rendition(
                            name=f"{h}p",
                            width=w,
                            height=h,
                            bandwidth=b,
                            average_bandwidth=b * 4 // 5,
                            codecs="avc1.64001f,mp4a.40.2",
                            frame_rate=30.0,
                            playlist_path=f"{h}p/index.m3u8",
                        )
                        for w, h, b in ladder
                    ],
                ),
                metadata=auth,
                timeout=30,
            )
            names.append(created.video.name)
    return names


def data_files(work: Path, names: list[str]) -> dict[str, Path]:
    """ghz request data: an array of messages is sent round-robin, one message per call."""
    get = work / "get.json"
    get.write_text(json.dumps([{"name": n} for n in names]))
    shuffled = random.Random(1).sample(names, len(names))
    batch = work / "batch.json"
    batch.write_text(json.dumps([{"names": shuffled[i : i + BATCH]} for i in range(0, len(shuffled) - BATCH + 1, BATCH)]))
    return {"GetVideo": get, f"BatchGetVideos ({BATCH})": batch}


# -- load -----------------------------------------------------------------------------------------


def ghz(mesh: Vidmesh, call: str, data: Path, load: Load, out: Path, *, seconds: float = 0, total: int = 0) -> dict:
    """One ghz run, for `seconds` (calls still in flight at the end fail: for warm-ups) or `total` calls."""
    method = call.split()[0]
    argv = [
        str(GHZ),
        "--insecure",
        f"--protoset={PROTOSET}",
        f"--call={SERVICE}/{method}",
        f"--data-file={data}",
        f"--concurrency={load.callers}",
        f"--connections={max(1, load.callers // 8)}",
        f"--rps={load.rate}",
        f"--duration={seconds}s" if seconds else f"--total={total}",
        "--format=json",
        f"--output={out}",
        mesh.gateway,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=(seconds or 60) + 300)
    if result.returncode != 0:
        raise RuntimeError(f"ghz failed ({result.returncode}): {result.stderr.strip()}")
    return json.loads(out.read_text())


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    mesh: Vidmesh, backend: str, call: str, data: Path, load: Load, seconds: float, warmup: float, work: Path, extra_pids: dict[str, int]
) -> Measurement:
    """A warm-up of `warmup` s at this load, then as many calls as fit in about `seconds` at its rate."""
    tag = f"{call.split()[0]}-{load.callers}-{load.rate}"
    rate = ghz(mesh, call, data, load, work / f"warmup-{tag}.json", seconds=warmup)["rps"]
    pids = {k: v for k, v in mesh.pids().items() if k != "supervisor"} | extra_pids
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    ghz_before = children_cpu()
    report = ghz(mesh, call, data, load, work / f"ghz-{tag}.json", total=max(500, int(rate * seconds)))
    cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    cpu["ghz (load generator)"] = children_cpu() - ghz_before
    latencies = {int(d["percentage"]): d["latency"] / 1e6 for d in report.get("latencyDistribution") or []}
    codes = report.get("statusCodeDistribution") or {}
    count = int(report["count"])
    wall = report["total"] / 1e9
    return Measurement(
        backend,
        call,
        load,
        wall,
        count,
        float(report["rps"]),
        latencies.get(50, float("nan")),
        latencies.get(99, float("nan")),
        count - int(codes.get("OK", 0)),
        cpu,
    )


# -- Cassandra --------------------------------------------------------------------------------------


def cassandra_available() -> str:
    """Empty if the Cassandra backend can run; otherwise why not."""
    for module in ("vidmesh_services.storage.cassandra.videos", "vidmesh_services.platform.cassandra"):
        if importlib.util.find_spec(module) is None:
            return f"{module} does not exist"
    return ""


@contextlib.contextmanager
def running_cassandra(directory: Path) -> Iterator[tuple[dict[str, str], dict[str, int]]]:
    from vidmesh_services.platform import cassandra

    lib = cassandra.resolve(say=say)
    native, storage = free_ports(2)
    node = cassandra.NodeConfig(directory, native_port=native, storage_port=storage, heap_mb=1024)
    say("  starting Cassandra")
    process = cassandra.start(node, lib)  # its output goes under directory/logs
    try:
        env = {"VIDMESH_CASSANDRA_CONTACT_POINTS": node.host, "VIDMESH_CASSANDRA_PORT": str(native), "VIDMESH_CASSANDRA_KEYSPACE": "bench"}
        yield env, {"cassandra": process.pid}
    finally:
        cassandra.stop(process)


# -- one backend ------------------------------------------------------------------------------------


@dataclass
class Running:
    backend: Backend
    mesh: Vidmesh
    files: dict[str, Path]  # call -> ghz data file
    extra_pids: dict[str, int]  # processes outside the mesh to account CPU to (Cassandra)
    home: Path
    metrics_port: int


def start_backend(stack: contextlib.ExitStack, backend: Backend, work: Path, videos: int) -> Running:
    """A mesh (and its Cassandra) for backend with its videos, stopped when stack closes."""
    say(f"{backend.name}: starting")
    home = work / backend.key
    overrides = dict(backend.overrides)
    extra: dict[str, int] = {}
    if backend.cassandra:
        env, extra = stack.enter_context(running_cassandra(home / "cassandra"))
        overrides.update(env)
    token = secrets.token_urlsafe(24)
    overrides.update(VIDMESH_SERVICE_TOKEN=token)
    mesh = stack.enter_context(running_vidmesh(home / "vidmesh", overrides))
    started = time.monotonic()
    names = make_videos(mesh, token, videos)
    say(f"  created {len(names)} videos in {time.monotonic() - started:.1f}s")
    return Running(backend, mesh, data_files(home, names), extra, home, mesh.ports["metrics_catalog"])


def cache_counts(port: int) -> dict[str, float]:
    """vidmesh_catalog_cache_requests_total by result, from the catalog's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    found = re.findall(r'^vidmesh_catalog_cache_requests_total\{result="(\w+)"\} (\S+)$', text, re.M)
    return {result: float(value) for result, value in found}


def median_of(rounds: list[Measurement]) -> Measurement:
    """Each figure is the median over the rounds; CPU is that of the median round by throughput."""

    def mid(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    by_rps = sorted(rounds, key=lambda m: m.rps)[len(rounds) // 2]
    return Measurement(
        by_rps.backend,
        by_rps.call,
        by_rps.load,
        by_rps.seconds,
        sum(m.count for m in rounds),
        mid([m.rps for m in rounds]),
        mid([m.p50_ms for m in rounds]),
        mid([m.p99_ms for m in rounds]),
        sum(m.errors for m in rounds),
        by_rps.cpu,
    )


def bench_all(running: list[Running], rounds: int, seconds: float, warmup: float) -> list[Measurement]:
    """Every row, round by round, each round visiting the backends in turn (in a rotating order),
    so that a change in the machine's background load hits every backend alike."""
    results = []
    for call in running[0].files:
        for load in LOADS[call]:
            per_backend: dict[str, list[Measurement]] = {r.backend.key: [] for r in running}
            for n in range(rounds):
                for r in running[n % len(running) :] + running[: n % len(running)]:
                    m = measure(r.mesh, r.backend.name, call, r.files[call], load, seconds, warmup, r.home, r.extra_pids)
                    say(
                        f"  {r.backend.name}, {call}, {load} callers, round {n + 1}: {m.rps:.0f} req/s, "
                        f"p50 {m.p50_ms:.2f} ms, p99 {m.p99_ms:.2f} ms" + (f", {m.errors} errors" if m.errors else "")
                    )
                    per_backend[r.backend.key].append(m)
            results += [median_of(ms) for ms in per_backend.values()]
    return results


# -- report -----------------------------------------------------------------------------------------


HEADERS = ["backend", "call", "callers", "requests/s", "videos/s", "p50 ms", "p99 ms", "errors"]


def rows(results: list[Measurement]) -> list[list[str]]:
    return [
        [
            m.backend,
            m.call,
            str(m.load),
            f"{m.rps:.0f}",
            f"{m.rps * (BATCH if m.call.startswith('Batch') else 1):.0f}",
            f"{m.p50_ms:.2f}",
            f"{m.p99_ms:.2f}",
            str(m.errors),
        ]
        for m in results
    ]


def cpu_rows(results: list[Measurement]) -> list[list[str]]:
    body = []
    for m in results:
        busy = sorted(((p, s) for p, s in m.cpu.items() if s / m.seconds >= 0.03), key=lambda x: -x[1])
        body.append([m.backend, m.call, str(m.load), ", ".join(f"{p} {100 * s / m.seconds:.0f}%" for p, s in busy)])
    return body


def checks(results: list[Measurement]) -> list[str]:
    lines = []
    for m in results:
        if m.backend.startswith("cache hit") and m.call == "GetVideo":
            verdict = "met" if m.p99_ms < TARGET_P99_MS else "NOT met"
            lines.append(f"- cache-hit GetVideo p99, {m.load.describe()}: {m.p99_ms:.2f} ms (target < {TARGET_P99_MS:.0f} ms): {verdict}")
    hits = {(m.call, m.load): m for m in results if m.backend.startswith("cache hit")}
    for m in results:
        hit = hits.get((m.call, m.load))
        if hit is not None and hit is not m and not m.load.rate:
            lines.append(
                f"- cache hit vs {m.backend}, {m.call}, {m.load.describe()}: {hit.rps / m.rps:.2f}x the "
                f"throughput, p50 {hit.p50_ms:.2f} vs {m.p50_ms:.2f} ms"
            )
    return lines


def section_markdown(results: list[Measurement], skipped: list[str], args: argparse.Namespace, info: dict[str, str]) -> str:
    lines = [
        f"<!-- bench:{SECTION} -->",
        "## Catalog reads: Redis cache hit vs SQLite vs Cassandra, through the gateway",
        "",
        f"{args.videos} public READY videos (six renditions each, about 850 bytes as a proto) are created through the catalog's "
        "internal CreateVideo; then [ghz](https://ghz.sh) drives the Envoy gateway over gRPC (plaintext HTTP/2, "
        "loopback) in a closed loop: `GetVideo` round-robin over every video, and `BatchGetVideos` with 20 "
        f"videos per call; with 8 and then 64 concurrent callers (one HTTP/2 connection per 8 callers), and GetVideo "
        "also offered at a fixed 500 calls/s (below saturation, so latency is service time rather than queueing). Each run is "
        f"{args.warmup:g} s of warm-up at that concurrency, then as many calls as the warm-up's rate fits in "
        f"{args.seconds:g} s; every figure is the median of {args.rounds} rounds, and a round runs every backend in turn "
        "(all meshes stay up, idle when not measured), so that background load on the machine hits them alike. "
        "Anonymous calls: the path is Envoy, the catalog's interceptor "
        "(request id, access log line), the visibility check and the store or the cache.",
        "",
        "- **cache hit**: the catalog cache forced on (`VIDMESH_CATALOG_CACHE_ENABLED=true`; the default, `auto`, turns it on for Cassandra only), with a TTL longer than the run; the first warm-up "
        "cached every video, so each read is "
        "one `SET NX GET` (a batch: one `MGET`) to the embedded Valkey and no store read.",
        "- **SQLite, no cache**: `VIDMESH_CATALOG_CACHE_ENABLED=false`; each read is a SQLite query (WAL, page cache warm).",
        "- **Cassandra, no cache**: the same against a one-node Cassandra on loopback (LOCAL_QUORUM, RF 1).",
        "",
        "Latency is ghz's per-call latency (client side, through Envoy). Everything shares the machine's 2 cores: "
        "the load generator, Envoy, the catalog process, Valkey (and Cassandra's JVM); the CPU table shows who "
        "used them. A closed loop saturates the catalog's single Python event loop already at 8 callers, so "
        "closed-loop latency is mostly queueing (callers / throughput); the 500/s row shows latency below saturation.",
        "",
        "Command: `make bench-catalog`",
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, Linux {info['kernel']}, Python {info['python']}, "
        f"ghz {args.ghz_version}; commit {info['commit']}; run {info['date']}.",
        "",
        md_table(HEADERS, rows(results)),
        "",
        *checks(results),
        *[f"- {s}" for s in skipped],
        "",
        "CPU used during the median round of each row (100% = one core; processes under 3% left out):",
        "",
        md_table(["backend", "call", "callers", "CPU"], cpu_rows(results)),
        f"<!-- /bench:{SECTION} -->",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=1000, help="videos to create and read (default 1000)")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each measured run (default 6)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up before each run (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per row and backend; medians are reported (default 3)")
    parser.add_argument(
        "--quiet-minutes",
        type=float,
        default=10.0,
        help="wait up to this long for other processes to go idle before measuring (default 10)",
    )
    parser.add_argument("--backends", default="all", help="comma-separated: cache,sqlite,cassandra (default all)")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.videos < BATCH:
        parser.error(f"--videos must be at least {BATCH}")
    if not GHZ.exists():
        parser.error(f"{GHZ} is missing: run `make bench-catalog` (it builds it)")
    args.ghz_version = go_module_version(GHZ, "github.com/bojand/ghz") or "unknown"
    stop_on_sigterm()
    wanted = {b.key for b in BACKENDS} if args.backends == "all" else {b.strip() for b in args.backends.split(",")}

    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="catalog-", dir=OUT))
    skipped: list[str] = []
    with contextlib.ExitStack() as stack:
        running = []
        for backend in BACKENDS:
            if backend.key not in wanted:
                continue
            why = cassandra_available() if backend.cassandra else ""
            if why:
                skipped.append(f"TODO: {backend.name} not measured: {why}")
                say(f"{backend.name}: skipped ({why})")
                continue
            running.append(start_backend(stack, backend, work, args.videos))
        busy = wait_for_quiet_machine(args.quiet_minutes)
        if busy:
            skipped.append("measured while other processes were busy: " + "; ".join(busy))
        before = {r.backend.key: cache_counts(r.metrics_port) for r in running}
        results = bench_all(running, args.rounds, args.seconds, args.warmup)
        for r in running:
            counts = cache_counts(r.metrics_port)
            delta = {k: v - before[r.backend.key].get(k, 0.0) for k, v in counts.items()}
            if sum(delta.values()):
                hits = delta.get("hit", 0) + delta.get("negative_hit", 0)
                skipped.append(
                    f"{r.backend.name}: the catalog counted {delta.get('hit', 0):.0f} cache hits, "
                    f"{delta.get('miss', 0):.0f} misses and {delta.get('error', 0):.0f} errors during the runs, warm-ups "
                    f"included (hit ratio {hits / sum(delta.values()):.4f}, from vidmesh_catalog_cache_requests_total)"
                )

    info = machine()
    say("")
    say(text_table(HEADERS, rows(results)))
    say("")
    for line in [*checks(results), *[f"- {s}" for s in skipped]]:
        say(line)
    say("")
    say(text_table(["backend", "call", "callers", "CPU"], cpu_rows(results)))
    if not args.no_docs:
        write_section(DOCS, SECTION, section_markdown(results, skipped, args, info))
        say(f"\nwrote the '{SECTION}' section of {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
