"""`make bench-analytics`: player events through the gateway against the ceiling of raw stream
appends, event-to-dashboard lag at that rate, over-count after injected redeliveries, Parquet
rows/s and DuckDB on 10M events. Figures go to docs/benchmarks.md.

In one run, on one `vidmesh up` (2 event log shards, 2 analytics workers):
1. ceiling: the same load generator's batches, packed as ingest packs them, XADDed straight into
   throwaway streams of the mesh's Valkey (no gateway, no validation, no aggregation);
2. grpc: SendEvents streams through Envoy, every 10th answered batch sent again (all duplicates)
   and one analytics worker SIGKILLed halfway (the supervisor restarts it; its pending entries
   are redelivered);
3. rest: POST /v1/events:send batches (the JSON mapping) through Envoy.
During 2 and 3 a probe sends one small session at a time to a video of its own and reads
GetVideoMetrics through the gateway, as the dashboard does, until the view shows: that is the
event-to-dashboard lag. After the phases drain, every counter of every video is compared with the
tally the senders kept of what they sent (bench/analytics_load.py: the contract's rules, worked
out from the events, not by the aggregator's code). Then, against a Valkey of its own, the
archiver's Parquet rows/s and DuckDB query times on 10M events (bench/analytics_warehouse.py).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import secrets
import signal
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import analytics_load as load
import analytics_warehouse as wh
from harness import (
    DOCS,
    OUT,
    Vidmesh,
    cpu_seconds,
    machine,
    machine_busy_seconds,
    md_table,
    running_vidmesh,
    say,
    stop_on_sigterm,
    text_table,
    wait_for_quiet_machine,
    write_section,
)

VIDEO_SECONDS = (45, 90, 180, 300, 600, 1200)  # durations the catalog's videos cycle through
PROBE_SECONDS = 600
LAG_TARGET_S = 2.0
RATE_TARGET = 50_000


@dataclass
class Phase:
    name: str
    seconds: float
    events: int = 0
    lags: list[float] = field(default_factory=list)  # probe: send to visible, seconds
    staleness: list[float] = field(default_factory=list)  # now - as_of_time at each dashboard read
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process group
    machine_cores: float = 0.0
    summaries: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- the mesh's videos ------------------------------------------------------------------------


def make_videos(mesh: Vidmesh, token: str, count: int) -> tuple[load.Videos, str]:
    import grpc

    from tests.support.catalog import create_catalog_video

    ids, durations = [], []
    with grpc.insecure_channel(f"127.0.0.1:{mesh.ports['catalog']}") as channel:
        for i in range(count):
            seconds = VIDEO_SECONDS[i % len(VIDEO_SECONDS)]
            ids.append(create_catalog_video(channel, token, "bench", seconds))
            durations.append(seconds * 1000)
        probe = create_catalog_video(channel, token, "bench", PROBE_SECONDS)
    return load.Videos(ids, durations, "bench"), probe


# -- the probe --------------------------------------------------------------------------------


class Probe(threading.Thread):
    """One session at a time to the probe video (a view: PLAY and 31 s played), then dashboard
    reads every 20 ms until its views count shows it."""

    def __init__(self, gateway: str, key: str, video: str, phase: Phase):
        super().__init__(daemon=True)
        self.gateway, self.key, self.video, self.phase = gateway, key, video, phase
        self.stop = threading.Event()

    def run(self) -> None:
        import grpc
        from vidmesh.analytics.v1 import analytics_service_pb2 as pb2
        from vidmesh.analytics.v1 import analytics_service_pb2_grpc as pb2_grpc

        auth = (("authorization", f"Bearer {self.key}"),)
        with grpc.insecure_channel(self.gateway) as channel:
            stub = pb2_grpc.AnalyticsServiceStub(channel)
            metrics = pb2.GetVideoMetricsRequest(video=f"videos/{self.video}")
            seen = stub.GetVideoMetrics(metrics, metadata=auth).totals.views
            while not self.stop.is_set():
                session = uuid.uuid4().hex
                now_ms = int(time.time() * 1000)
                events = [
                    self._event(pb2, session, pb2.PLAYER_EVENT_KIND_PLAY, now_ms - 31_000, 0, 0),
                    self._event(pb2, session, pb2.PLAYER_EVENT_KIND_HEARTBEAT, now_ms, 31_000, 31_000),
                ]
                sent = time.time()
                stub.SendEventBatch(pb2.SendEventBatchRequest(events=events), timeout=10)
                while not self.stop.is_set():
                    answer = stub.GetVideoMetrics(metrics, metadata=auth, timeout=10)
                    self.phase.staleness.append(time.time() - answer.as_of_time.ToMilliseconds() / 1000)
                    if answer.totals.views > seen:
                        self.phase.lags.append(time.time() - sent)
                        seen = answer.totals.views
                        break
                    if time.time() - sent > 30:
                        self.phase.notes.append("a probe session did not show within 30 s")
                        seen = answer.totals.views
                        break
                    time.sleep(0.02)
                self.stop.wait(0.1)

    def _event(self, pb2: Any, session: str, kind: int, at_ms: int, position: int, played: int) -> Any:
        event = pb2.PlayerEvent(event_id=uuid.uuid4().hex, session_id=session, video=f"videos/{self.video}", kind=kind)
        event.event_time.FromMilliseconds(at_ms)
        event.position.FromMilliseconds(position)
        if played:
            event.played.FromMilliseconds(played)
        return event


# -- phases -----------------------------------------------------------------------------------


def process_groups(mesh: Vidmesh) -> dict[str, list[int]]:
    groups: defaultdict[str, list[int]] = defaultdict(list)
    for name, pid in mesh.pids().items():
        group = "analytics-workers" if name.startswith("analytics-worker") else name
        groups[group].append(pid)
    return groups


def group_cpu(groups: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}


def run_phase(
    mesh: Vidmesh, key: str, videos: load.Videos, probe_video: str, kind: str, args: argparse.Namespace, kill_worker: bool = False
) -> Phase:
    phase = Phase(kind, args.seconds)
    ctx = mp.get_context("spawn")
    ready, results, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    batches = args.batches_per_thread
    jobs = [
        load.Job(
            kind,
            mesh.gateway,
            mesh.ports["valkey"],
            videos,
            batches,
            args.batch,
            seed=hash((kind, i)) % 10_000,
            threads=args.threads,
            window=args.window,
            resend_every=10 if kind == "grpc" else 0,
            seconds=args.seconds,
        )
        for i in range(args.senders)
    ]
    senders = [ctx.Process(target=load.sender_process, args=(job, ready, start, results)) for job in jobs]
    for sender in senders:
        sender.start()
    for _ in senders:
        ready.get(timeout=600)  # every batch built before the clock starts
    time.sleep(1)
    groups = process_groups(mesh)
    cpu_before, busy_before = group_cpu(groups), machine_busy_seconds()
    probe = Probe(mesh.gateway, key, probe_video, phase) if kind != "ceiling" else None
    began = time.time()
    start.set()
    if probe:
        probe.start()
    if kill_worker:
        time.sleep(args.seconds / 2)
        victim = max(name for name in mesh.pids() if name.startswith("analytics-worker"))
        os.kill(mesh.pids()[victim], signal.SIGKILL)
        phase.notes.append(f"{victim} SIGKILLed {args.seconds / 2:.0f} s in; the supervisor restarted it")
    phase.summaries = [results.get(timeout=args.seconds + 300) for _ in senders]
    ended = time.time()
    for sender in senders:
        sender.join(30)
    if probe:
        probe.stop.set()
        probe.join(30)
    phase.cpu = {name: used - cpu_before.get(name, 0.0) for name, used in group_cpu(process_groups(mesh)).items()}
    phase.machine_cores = (machine_busy_seconds() - busy_before) / (ended - began)
    phase.events = sum(n for s in phase.summaries for n in load.iter_rate(s["timeline"], began, began + args.seconds))
    for s in phase.summaries:
        phase.notes += [f"sender error: {e}" for e in s["errors"][:3]]
    return phase


# -- exactness --------------------------------------------------------------------------------


@dataclass
class Exactness:
    fields: dict[str, tuple[int, int]]  # field -> (counted, sent)
    over: int
    under: int
    resent_batches: int
    resent_duplicates: int


def wait_drained(mesh: Vidmesh, key: str, probe_video: str, since: float, within: float = 300) -> float:
    """Waits until every event that arrived before `since` is counted; returns how long it took."""
    import grpc
    from vidmesh.analytics.v1 import analytics_service_pb2 as pb2
    from vidmesh.analytics.v1 import analytics_service_pb2_grpc as pb2_grpc

    began = time.monotonic()
    with grpc.insecure_channel(mesh.gateway) as channel:
        stub = pb2_grpc.AnalyticsServiceStub(channel)
        request = pb2.GetVideoMetricsRequest(video=f"videos/{probe_video}")
        while stub.GetVideoMetrics(request, metadata=(("authorization", f"Bearer {key}"),)).as_of_time.ToMilliseconds() < since * 1000:
            if time.monotonic() - began > within:
                raise TimeoutError(f"the event log did not drain within {within} s")
            time.sleep(0.2)
    return time.monotonic() - began


def exactness(mesh: Vidmesh, videos: load.Videos, phases: list[Phase]) -> Exactness:
    import redis

    from vidmesh_services.analytics import keys

    sent: defaultdict[int, list[int]] = defaultdict(lambda: [0] * len(load.TALLY_FIELDS))
    resent = duplicates = 0
    for phase in phases:
        for summary in phase.summaries:
            for video, counts in summary["tally"].items():
                for i, n in enumerate(counts):
                    sent[int(video)][i] += n
            resent += summary["resent"]
            duplicates += summary["resent_duplicates"]
    client = redis.Redis(port=mesh.ports["valkey"])
    totals = {name: [0, 0] for name in load.TALLY_FIELDS}
    over = under = 0
    with client.pipeline(transaction=False) as pipe:
        for video_id in videos.ids:
            pipe.hgetall(keys.video_key(video_id))
            pipe.hvals(keys.retention_key(video_id))
        replies = pipe.execute()
    for index, _video_id in enumerate(videos.ids):
        counters = {k.decode(): int(v) for k, v in replies[2 * index].items()}
        counted = [counters.get(name, 0) for name in load.TALLY_FIELDS[:-1]] + [sum(int(v) for v in replies[2 * index + 1])]
        for name, got, want in zip(load.TALLY_FIELDS, counted, sent[index], strict=True):
            totals[name][0] += got
            totals[name][1] += want
            over += max(0, got - want)
            under += max(0, want - got)
    client.close()
    return Exactness({k: (v[0], v[1]) for k, v in totals.items()}, over, under, resent, duplicates)


# -- report -----------------------------------------------------------------------------------


def phase_rows(phases: list[Phase], ceiling: Phase) -> list[list[str]]:
    rows = []
    for p in phases:
        share = f"{p.rate / ceiling.rate:.2f}x" if ceiling.rate and p is not ceiling else "1.00x"
        lag = f"{pct(p.lags, 0.5) * 1000:.0f} / {pct(p.lags, 0.99) * 1000:.0f} ms ({len(p.lags)})" if p.lags else "n/a"
        stale = f"{pct(p.staleness, 0.5) * 1000:.0f} / {pct(p.staleness, 0.99) * 1000:.0f} ms" if p.staleness else "n/a"
        busiest = ", ".join(
            f"{name} {used / p.seconds:.2f}" for name, used in sorted(p.cpu.items(), key=lambda kv: -kv[1])[:4] if used > 0.05
        )
        rows.append([p.name, f"{p.rate:,.0f}", share, lag, stale, f"{p.machine_cores:.2f}", busiest or "-"])
    return rows


PHASE_HEADERS = ["path", "events/s", "of ceiling", "lag p50 / p99 (probes)", "as_of staleness p50 / p99", "cores busy", "cores by process"]


def report(
    args: argparse.Namespace,
    phases: list[Phase],
    exact: Exactness,
    drain_s: float,
    archiver: wh.ArchiverFigures | None,
    warehouse: wh.WarehouseFigures | None,
) -> None:
    ceiling = phases[0]
    say("")
    say(text_table(PHASE_HEADERS, phase_rows(phases, ceiling)))
    exact_rows = [[name, f"{got:,}", f"{want:,}"] for name, (got, want) in exact.fields.items()]
    say("")
    say(text_table(["counter (all videos)", "counted", "sent"], exact_rows))
    say(
        f"over-count {exact.over}, under-count {exact.under}; {exact.resent_batches} batches resent, {exact.resent_duplicates:,} events answered as duplicates"
    )
    notes = [n for p in phases for n in p.notes]
    for note in notes:
        say(f"- {note}")
    wh_rows = []
    if archiver:
        say(
            f"archiver: {archiver.rows:,} rows in {archiver.seconds:.1f} s = {archiver.rows_per_second:,.0f} rows/s into {archiver.files} files"
        )
    if warehouse:
        say(
            f"warehouse: {warehouse.events:,} events ({warehouse.sessions:,} sessions) in {warehouse.files} files, {warehouse.megabytes:.0f} MB"
        )
        wh_rows = [[q.name, f"{q.median_ms:.0f} ms", str(q.runs), q.answer] for q in warehouse.queries]
        say(text_table(["DuckDB query (Warehouse)", "median", "runs", "answer"], wh_rows))
    if args.no_docs:
        return
    checks = []
    best = max(phases[1:], key=lambda p: p.rate)
    checks.append(
        f"- ≥ {RATE_TARGET:,} events/s through the gateway: {'met' if best.rate >= RATE_TARGET else 'missed'} "
        f"({best.name}, {best.rate:,.0f}/s)"
    )
    worst_p99 = max(pct(p.lags, 0.99) for p in phases[1:] if p.lags)
    checks.append(
        f"- p99 event-to-dashboard lag < {LAG_TARGET_S:g} s: {'met' if worst_p99 < LAG_TARGET_S else 'missed'} ({worst_p99 * 1000:.0f} ms, worst path)"
    )
    checks.append(
        f"- over-count 0 after redeliveries and a worker SIGKILL: {'met' if exact.over == 0 else 'missed'} (over {exact.over}, under {exact.under})"
    )
    info = machine()
    command = "make bench-analytics" + (f" ARGS='{args.raw_args}'" if args.raw_args else "")
    lines = [
        "<!-- bench:analytics -->",
        "## Analytics: player events to dashboards",
        "",
        f"`{command}` (`bench/analytics.py`), {info.get('date', '')}, {info.get('cpu', '')}, {info.get('nproc', '')} cores. "
        f"{args.senders} sender processes × {args.threads} threads, batches of {args.batch} events "
        f"(Zipf popularity over {args.videos:,} videos, {load.ACTIVE_SESSIONS:,} sessions in flight per thread), "
        f"{args.seconds:g} s per path, one after the other on one `vidmesh up` (2 shards, 2 analytics workers). "
        "The senders share the 2 cores with everything they measure.",
        "",
        md_table(PHASE_HEADERS, phase_rows(phases, ceiling)),
        "",
        "`ceiling` is the same batches XADDed straight into Valkey (packed as ingest packs them): no gateway, no "
        "validation, no counting. Lag is a probe's session sent through the gateway until GetVideoMetrics through the "
        "gateway shows its view (reads every 20 ms); staleness is now minus the answer's `as_of_time` at each read.",
        "",
        md_table(["counter (all videos)", "counted", "sent"], [[n, g, w] for n, g, w in exact_rows]),
        "",
        f"Over-count {exact.over}, under-count {exact.under}, after {exact.resent_batches} batches were sent again on "
        f"the gRPC path ({exact.resent_duplicates:,} events answered as duplicates) and a worker was SIGKILLed; the log "
        f"drained {drain_s:.1f} s after the last phase.",
        *(f"- {n}" for n in notes),
        "",
    ]
    if archiver and warehouse:
        lines += [
            f"Warehouse: the archiver wrote {archiver.rows:,} events in {archiver.seconds:.1f} s, "
            f"**{archiver.rows_per_second:,.0f} rows/s** into {archiver.files} Parquet files (temp name, fsync, rename). "
            f"DuckDB through the Warehouse on {warehouse.events:,} events ({warehouse.sessions:,} sessions, 2 days, "
            f"{warehouse.files} files, {warehouse.megabytes:.0f} MB; generated in {warehouse.generate_seconds:.0f} s, "
            f"written in {warehouse.write_seconds:.0f} s):",
            "",
            md_table(["query", "median", "runs", "answer"], wh_rows),
            "",
        ]
    lines += ["Targets:", *checks, "", f"Commit {info.get('commit', '')}.", "<!-- /bench:analytics -->", ""]
    write_section(DOCS, "analytics", "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each path's run (default 15)")
    parser.add_argument("--senders", type=int, default=2, help="sender processes (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="threads per sender (default 2)")
    parser.add_argument("--batch", type=int, default=500, help="events per batch (default 500, the contract's limit)")
    parser.add_argument("--window", type=int, default=4, help="unanswered batches per gRPC stream (default 4)")
    parser.add_argument("--batches-per-thread", type=int, default=600, help="batches each thread builds beforehand (default 600)")
    parser.add_argument("--videos", type=int, default=2000, help="videos in the catalog (default 2000)")
    parser.add_argument("--warehouse-events", type=int, default=10_000_000, help="events for the DuckDB queries (default 10M; 0 skips)")
    parser.add_argument("--archiver-events", type=int, default=1_000_000, help="events for the archiver's rows/s (default 1M)")
    parser.add_argument("--query-runs", type=int, default=5)
    parser.add_argument("--quiet-minutes", type=float, default=5.0)
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    args.raw_args = " ".join(argv or [])
    stop_on_sigterm()
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="analytics-", dir=OUT))
    token = secrets.token_urlsafe(24)
    overrides = {"VIDMESH_SERVICE_TOKEN": token, "VIDMESH_TRANSCODE_WORKERS": "1"}
    with running_vidmesh(work / "mesh", overrides) as mesh:
        key = mesh.create_key("bench")
        say(f"creating {args.videos} videos ...")
        videos, probe_video = make_videos(mesh, token, args.videos)
        busy = wait_for_quiet_machine(args.quiet_minutes)
        phases = []
        for kind in ("ceiling", "grpc", "rest"):
            say(f"{kind}: building and sending for {args.seconds:g} s ...")
            phases.append(run_phase(mesh, key, videos, probe_video, kind, args, kill_worker=kind == "grpc"))
            say(f"  {phases[-1].rate:,.0f} events/s, lag p99 {pct(phases[-1].lags, 0.99):.3f} s")
            if busy:
                phases[-1].notes.append("measured while other processes were busy: " + "; ".join(busy))
                busy = []
        drain_s = wait_drained(mesh, key, probe_video, time.time())
        exact = exactness(mesh, videos, phases[1:])
    archiver = warehouse = None
    from tests.support.processes import valkey_server

    with valkey_server(work / "valkey") as url:
        say(f"archiver: {args.archiver_events:,} events ...")
        archiver = wh.archiver_rate(url, work / "archive", args.archiver_events)
        if args.warehouse_events:
            say(f"warehouse: generating {args.warehouse_events:,} events ...")
            warehouse = wh.warehouse_queries(url, work / "warehouse", args.warehouse_events, args.query_runs)
    report(args, phases, exact, drain_s, archiver, warehouse)
    with contextlib.suppress(OSError):
        import shutil

        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
