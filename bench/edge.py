"""Edge benchmark: Envoy cache hits vs nginx serving the same segment from disk, the cache-miss
path through Python, and time to first frame in headless Chromium. `make bench-edge`.

One run, on one machine, side by side:
  1. wrk against one cached ~1 MB HLS segment through the `vidmesh up` edge (Envoy's cache), and
     against nginx serving the very same file from disk; rounds alternate, medians reported.
  2. The miss path: the same segment with `Cache-Control: no-cache`, so Envoy's cache must go to
     the origin (transcoder → Playback in Python) for every request (checked with Envoy's stats).
  3. Time to first frame: 20 cold starts of the watch page (a fresh browser context each, the
     edge cache warm), median and p90; the first frame is the video's first painted frame.
wrk and the servers share the machine's cores; the figures are for comparing, not absolutes.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import (  # bench/ is on sys.path when a script here runs
    DOCS,
    ROOT,
    free_ports,
    machine,
    md_table,
    running_vidmesh,
    say,
    stop_on_sigterm,
    stop_process,
    wait_for_port,
    write_section,
)

sys.path.insert(0, str(ROOT))  # for tests.support, below

from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from tests.support.chromium import CHROMIUM
from tests.support.chromium import FLAGS as CHROMIUM_FLAGS
from tests.support.http import envoy_stat, envoy_stat_sum, get, wait_cache_entries
from tests.support.media import make_noisy_video
from vidmesh_client import VidmeshClient
from vidmesh_client._ledger import UploadLedger

SECTION = "edge"
FINAL = (resources_pb2.VIDEO_STATUS_READY, resources_pb2.VIDEO_STATUS_FAILED)
TARGET_RATIO = 0.8
TTFF_TARGET_MS = 500


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str] | None = None) -> WrkResult:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*?(\d+)", out) if n)
    return WrkResult(rps, p50, p99, errors)


def start_nginx(folder: Path, root: Path, port: int) -> subprocess.Popen[bytes]:
    """nginx as a plain static file server: same worker count as Envoy's (one per core), sendfile."""
    conf = folder / "nginx.conf"
    # Run as root (the bench's user), the workers would otherwise drop to nobody and not read the blobs.
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(f"""
{user}
worker_processes {os.cpu_count() or 2};
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {folder}/access.log;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    types {{ video/mp4 m4s mp4; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        add_header Cache-Control "public, max-age=31536000, immutable";
    }}
}}
""")
    process = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process, folder / "error.log")
    return process


def time_to_first_frame(url: str, runs: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        for _ in range(runs):
            context = browser.new_context()  # cold: empty HTTP cache, no connections
            page = context.new_page()
            console: list[str] = []
            page.on("console", lambda message, lines=console: lines.append(message.text))
            page.goto(url)
            try:
                page.wait_for_function("window.vidmeshMetrics && window.vidmeshMetrics.firstFrameMs !== null", timeout=30_000)
            except Exception:
                status = page.evaluate("document.getElementById('status').textContent")
                raise RuntimeError(f"no first frame: page says {status!r}; console: {console}") from None
            results.append(page.evaluate("window.vidmeshMetrics.firstFrameMs"))
            context.close()
        browser.close()
    return results


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="per wrk round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--ttff-runs", type=int, default=20)
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--ttff-only", action="store_true", help="only time to first frame (implies --no-docs)")
    args = parser.parse_args()

    stop_on_sigterm()

    work = Path(tempfile.mkdtemp(prefix="vidmesh-bench-edge-"))
    with running_vidmesh(work / "home", {"VIDMESH_TRANSCODE_WORKERS": "1"}) as mesh:
        key = mesh.create_key("bench")
        say("making an 854x480 source and transcoding it (its 480p segments are ~1 MB)...")
        source = make_noisy_video(work / "noise.mp4", seconds=12, width=854, height=480)
        with VidmeshClient(mesh.gateway, key, ledger=UploadLedger(work / "ledger.json")) as client:
            video_id = client.upload(source, title="Edge benchmark", visibility=media_pb2.VISIBILITY_PUBLIC)
            while (video := client.get_video(video_id)).status not in FINAL:
                time.sleep(0.5)
        assert video.status == resources_pb2.VIDEO_STATUS_READY, video.failure_reason
        version_root = mesh.home / "data" / "blobs" / Path(video.master_playlist_path.lstrip("/")).parent
        segments = sorted(version_root.rglob("*.m4s"), key=lambda p: abs(p.stat().st_size - 1_000_000))
        segment = segments[0]
        relative = segment.relative_to(mesh.home / "data" / "blobs")
        size = segment.stat().st_size
        edge_url = f"http://{mesh.gateway}/{relative}"
        entries = envoy_stat_sum(mesh.ports["envoy_admin"], "cache.size_count.")
        assert get(edge_url).status == 200
        wait_cache_entries(mesh.ports["envoy_admin"], entries + 1)
        assert "age" in get(edge_url).headers, "the segment is not served from the cache"
        if args.ttff_only:
            ttff = time_to_first_frame(f"http://{mesh.gateway}/watch/{video_id}", args.ttff_runs)
            say(f"time to first frame: median {statistics.median(ttff):.0f} ms, all: {[round(t) for t in ttff]}")
            return 0
        nginx_port = free_ports(1)[0]
        nginx = start_nginx(work, mesh.home / "data" / "blobs", nginx_port)
        try:
            nginx_url = f"http://127.0.0.1:{nginx_port}/{relative}"
            assert get(nginx_url).body == get(edge_url).body

            say(
                f"segment {relative} ({size / 1e6:.2f} MB); {args.rounds} alternating rounds of {args.seconds} s, "
                f"{args.connections} connections"
            )
            envoy_rounds, nginx_rounds = [], []
            for index in range(args.rounds):
                envoy_rounds.append(wrk(edge_url, args.seconds, args.connections))
                nginx_rounds.append(wrk(nginx_url, args.seconds, args.connections))
                say(
                    f"  round {index + 1}: envoy {envoy_rounds[-1].requests_per_second:.0f} req/s, "
                    f"nginx {nginx_rounds[-1].requests_per_second:.0f} req/s"
                )

            admin = mesh.ports["envoy_admin"]
            before = envoy_stat(admin, "cluster.playback.upstream_rq_total")
            miss = wrk(edge_url, args.seconds, 8, {"Cache-Control": "no-cache"})
            origin_calls = envoy_stat(admin, "cluster.playback.upstream_rq_total") - before
            say(f"  miss path: {miss.requests_per_second:.0f} req/s, {origin_calls} origin calls")

            get(f"http://{mesh.gateway}/watch/{video_id}")
            ttff = time_to_first_frame(f"http://{mesh.gateway}/watch/{video_id}", args.ttff_runs)
            say(f"  time to first frame: median {statistics.median(ttff):.0f} ms")
        finally:
            stop_process(nginx, timeout=20)

    def median(results: list[WrkResult], field: str) -> float:
        return statistics.median(getattr(r, field) for r in results)

    envoy_rps, nginx_rps = median(envoy_rounds, "requests_per_second"), median(nginx_rounds, "requests_per_second")
    ratio = envoy_rps / nginx_rps
    ttff_median = statistics.median(ttff)
    info = machine()
    table = [
        [
            "Envoy edge, cache hit",
            f"{envoy_rps:.0f}",
            f"{median(envoy_rounds, 'p50_ms'):.2f} ms",
            f"{median(envoy_rounds, 'p99_ms'):.2f} ms",
        ],
        ["nginx, file on disk", f"{nginx_rps:.0f}", f"{median(nginx_rounds, 'p50_ms'):.2f} ms", f"{median(nginx_rounds, 'p99_ms'):.2f} ms"],
        [
            "Envoy edge, miss (no-cache → transcoder → Playback in Python), -c8",
            f"{miss.requests_per_second:.0f}",
            f"{miss.p50_ms:.2f} ms",
            f"{miss.p99_ms:.2f} ms",
        ],
    ]
    lines = [
        f"<!-- bench:{SECTION} -->",
        "## Edge: Envoy cache hits vs nginx, the miss path, time to first frame",
        "",
        f"`make bench-edge` (`bench/edge.py`), {info['date']}, {platform.machine()}, {info['nproc']} cores, Python {info['python']}. "
        f"One {size / 1e6:.2f} MB HLS segment (480p, 6 s) "
        f"through the `vidmesh up` edge (Envoy's file-system cache, warm) and the same file from disk by nginx "
        f"({os.cpu_count()} workers, sendfile); wrk -t2 -c{args.connections}, {args.rounds} alternating rounds of "
        f"{args.seconds} s, medians. wrk shares the 2 cores with the server it measures.",
        "",
        md_table(["path", "requests/s", "p50", "p99"], table),
        "",
        f"Cache hits at **{ratio:.2f}x** nginx's requests/s (target ≥ {TARGET_RATIO}x: {'met' if ratio >= TARGET_RATIO else 'NOT met'}). "
        f"The miss path reached Python {origin_calls} times for {miss.requests_per_second * args.seconds:.0f} requests.",
        "",
        f"Time to first frame, headless Chromium on loopback, {len(ttff)} cold starts (fresh browser context each, "
        f"edge cache warm), measured from navigation start to the first painted video frame: median "
        f"**{ttff_median:.0f} ms**, p90 {percentile(ttff, 0.9):.0f} ms, best {min(ttff):.0f} ms "
        f"(target < {TTFF_TARGET_MS} ms: {'met' if ttff_median < TTFF_TARGET_MS else 'NOT met'}; the reference design budgets 2 s).",
        f"<!-- /bench:{SECTION} -->",
        "",
    ]
    section = "\n".join(lines)
    say(section)
    if not args.no_docs:
        write_section(DOCS, SECTION, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
