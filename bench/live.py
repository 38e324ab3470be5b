"""Live benchmark: glass-to-glass latency of LL-HLS in Chromium against a standard-HLS baseline,
the ingest-to-playlist floor, the live ladder's CPU per stream, and LL-HLS viewers one machine
serves. `make bench-live`.

One run, on one machine, side by side:
  1. One publisher (Python-made frames stamped with the wall clock, x264 veryfast zerolatency,
     2 s keyframes, AAC; tests/support/live.py) feeds, through ffmpeg's tee muxer, both vidmesh
     (RTMP) and ffmpeg's own hls muxer (standard HLS: 2 s segments, the baseline). Two Chromium
     pages play at the same time: the live page (/stream/{id}, hls.js in low-latency mode) and a
     page playing the baseline with hls.js's defaults. Each reads the stamp of every frame it
     presents: glass-to-glass on one clock, p50 and p90.
  2. The floor: a client follows the LL-HLS playlist with blocking reloads, fetches each new part
     through the edge and decodes its first frame's stamp the moment it arrives.
  3. CPU: the stream's packager (passthrough + the 360p rung + recording) per content-second.
  4. Viewers: N simulated LL-HLS players (blocking reload, then the newest part, as hls.js does)
     through the edge, N rising until parts arrive late; the load generator shares the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import io
import re
import shutil
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from harness import DOCS, OUT, ROOT, cpu_seconds, machine, md_table, running_vidmesh, say, stop_on_sigterm, write_section

from tests.support.chromium import CHROMIUM
from tests.support.chromium import FLAGS as CHROMIUM_FLAGS
from tests.support.live import STAMP_DECODER_JS, STAMP_MODULUS, StampedPublisher, read_stamp, stamp_decoder_args

HLS_JS = ROOT / "node_modules" / "hls.js" / "dist" / "hls.min.js"
BASELINE_PAGE = """<!doctype html><meta charset="utf-8"><title>standard HLS</title>
<video id="player" muted autoplay playsinline style="width:640px"></video>
<script src="hls.min.js"></script>
<script>
  const hls = new Hls();  // hls.js's defaults: three target durations behind the live edge
  hls.loadSource("index.m3u8");
  hls.attachMedia(document.getElementById("player"));
</script>
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def serve_folder(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A static file server for the baseline (what a CDN in front of ffmpeg's files would be)."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def end_headers(self) -> None:
            self.send_header("cache-control", "no-cache")
            super().end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def glass_to_glass(live_url: str, baseline_url: str, seconds: float) -> dict[str, list[float]]:
    """Both pages at once, each with the stamp decoder; latencies (ms) after a warm-up."""
    from playwright.sync_api import sync_playwright

    found: dict[str, list[float]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        pages = {}
        for name, url in (("LL-HLS (vidmesh)", live_url), ("standard HLS (ffmpeg hls muxer)", baseline_url)):
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.goto(url)
            page.wait_for_function("document.getElementById('player') && document.getElementById('player').readyState >= 2", timeout=60_000)
            page.evaluate(STAMP_DECODER_JS, stamp_decoder_args("player"))
            pages[name] = page
        time.sleep(10)  # players settle on their target latency (hls.js catches up at 1.5x)
        for page in pages.values():
            page.evaluate("window.vidmeshStamps.latencies = []")
        time.sleep(seconds)
        for name, page in pages.items():
            found[name] = [float(x) for x in page.evaluate("window.vidmeshStamps.latencies")]
        browser.close()
    return found


async def follow_parts(base: str, seconds: float) -> list[float]:
    """The floor: each new part fetched through the edge the moment the playlist has it, its first
    frame's stamp read (ms from the frame being made to its bytes being here)."""
    import aiohttp
    import av

    floor: list[float] = []
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/index.m3u8") as reply:
            text = await reply.text()
        init_uri = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)[-1]
        async with session.get(f"{base}/{init_uri}") as reply:
            init = await reply.read()
        msn, part = _hint(text)
        while time.monotonic() < deadline:
            async with session.get(f"{base}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}") as reply:
                text = await reply.text()
            async with session.get(f"{base}/{msn}.{part}.m4s") as reply:
                data = await reply.read()
            arrived = time.time() * 1000
            with contextlib.suppress(av.FFmpegError, StopIteration):
                with av.open(io.BytesIO(init + data)) as media:
                    picture = next(media.decode(video=0)).to_ndarray(format="gray")
                band = picture.shape[1] // 32
                bits = [int(picture[band // 2, int((i + 0.5) * band)] > 127) for i in range(32)]
                stamp = read_stamp(bits)
                if stamp is not None:
                    floor.append((arrived - stamp) % STAMP_MODULUS)
            msn, part = _hint(text)
    return floor


def _hint(playlist: str) -> tuple[int, int]:
    found = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\d+)\.(\d+)\.m4s"', playlist)
    if not found:
        raise RuntimeError(f"no preload hint in\n{playlist}")
    return int(found.group(1)), int(found.group(2))


async def viewers(base: str, count: int, seconds: float) -> dict[str, Any]:
    """count LL-HLS players for seconds: blocking reload for the hinted part, then the part.
    Lateness of a part = when a player got it - when the first player got it."""
    import aiohttp

    first: dict[tuple[int, int], float] = {}
    late: list[float] = []
    errors: dict[str, int] = {}
    parts = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=0)

    async def player(session: aiohttp.ClientSession) -> None:
        nonlocal parts
        async with session.get(f"{base}/index.m3u8") as reply:
            msn, part = _hint(await reply.text())
        while time.monotonic() < deadline:
            failure = ""
            try:
                async with session.get(f"{base}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}") as reply:
                    text = await reply.text()
                    failure = "" if reply.status == 200 else f"playlist {reply.status}"
                if not failure:
                    async with session.get(f"{base}/{msn}.{part}.m4s") as reply:
                        await reply.read()
                        failure = "" if reply.status == 200 else f"part {reply.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                failure = type(exc).__name__
            now = time.monotonic()
            if failure:
                errors[failure] = errors.get(failure, 0) + 1
                await asyncio.sleep(0.2)
                async with session.get(f"{base}/index.m3u8") as reply:  # start again at the live edge
                    msn, part = _hint(await reply.text())
                continue
            parts += 1
            got = first.setdefault((msn, part), now)
            late.append((now - got) * 1000)
            msn, part = _hint(text)

    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(player(session) for _ in range(count)))
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(errors.items()))
    return {"parts": parts, "error_kinds": kinds, "p50": percentile(late, 0.5), "p99": percentile(late, 0.99)}


def make_source(path: Path) -> None:
    """A 20 s 720p30 H.264/AAC file, 2 s keyframes: published with -c copy, the publishers cost
    next to nothing, so the packagers alone load the machine (as with encoders elsewhere)."""
    import subprocess

    if path.exists():
        return
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi"]
    args += ["-i", "sine=frequency=440:sample_rate=48000", "-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-g", "60"]
    args += ["-keyint_min", "60", "-bf", "0", "-b:v", "3000k", "-c:a", "aac", "-b:a", "128k", str(path)]
    subprocess.run(args, check=True)


def concurrent_streams(mesh: Any, key: str, source: Path, count: int, seconds: float) -> dict[str, float]:
    """count streams published at once from source (copied, looped); their packagers' CPU per
    stream, frames the 360p rungs dropped, and how far the slowest playlist fell behind real time."""
    import subprocess
    import urllib.request

    from vidmesh_client import VidmeshClient

    publishers = []
    with VidmeshClient(mesh.gateway, key) as client:
        streams = [client.create_stream(f"load {i}", record=False) for i in range(count)]
        for stream in streams:
            args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(source)]
            publishers.append(subprocess.Popen([*args, "-c", "copy", "-f", "flv", f"{stream.ingest_url}/{stream.stream_key}"]))
        try:
            deadline = time.monotonic() + 30
            while not all(_live(f"http://{mesh.gateway}", s.id) for s in streams):
                if time.monotonic() > deadline:
                    raise RuntimeError("the streams did not start")
                time.sleep(0.5)
            time.sleep(4)
            packagers = _packager_pids(mesh)

            def edges() -> list[int]:
                found = []
                for stream in streams:
                    url = f"http://{mesh.gateway}/live/{stream.id}/360p/index.m3u8"
                    with urllib.request.urlopen(url, timeout=10) as reply:
                        parts = re.findall(r'#EXT-X-PART:.*URI="(\d+)\.(\d+)\.m4s"', reply.read().decode())
                    found.append(int(parts[-1][0]) * 6 + int(parts[-1][1]) if parts else 0)
                return found

            cpu_start, edge_start, started = sum(cpu_seconds(p) for p in packagers), edges(), time.monotonic()
            dropped_start = sum(client.get_stream(s.id).health.dropped_frames for s in streams)
            time.sleep(seconds)
            spent = time.monotonic() - started
            cpu = (sum(cpu_seconds(p) for p in packagers) - cpu_start) / spent / count
            advanced = [(b - a) / 3 for a, b in zip(edge_start, edges(), strict=True)]  # parts -> seconds (1/3 s each)
            dropped = sum(client.get_stream(s.id).health.dropped_frames for s in streams) - dropped_start
        finally:
            for publisher in publishers:
                publisher.kill()
                publisher.wait()
            for stream in streams:
                client.end_stream(stream.id)
    return {"cpu": cpu, "dropped": dropped, "slowest": min(advanced) / spent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="measured playback per latency figure")
    parser.add_argument("--viewers", default="50,100,200,400", help="viewer counts to try")
    parser.add_argument("--streams", default="1,2,4,6", help="concurrent stream counts to try")
    args = parser.parse_args()
    stop_on_sigterm()
    work = OUT / "live"
    shutil.rmtree(work, ignore_errors=True)
    baseline = work / "standard-hls"
    baseline.mkdir(parents=True)
    shutil.copy(HLS_JS, baseline / "hls.min.js")
    (baseline / "index.html").write_text(BASELINE_PAGE)
    results: dict[str, Any] = {}
    overrides = {"VIDMESH_LIVE_RECONNECT_WINDOW_SECONDS": "5", "VIDMESH_LIVE_MAX_STREAMS": "16"}
    with running_vidmesh(work / "home", overrides) as mesh:
        from vidmesh_client import VidmeshClient

        key = mesh.create_key("bench")
        with VidmeshClient(mesh.gateway, key) as client:
            stream = client.create_stream("bench", record=False)
        publisher = StampedPublisher(f"{stream.ingest_url}/{stream.stream_key}", width=1280, height=720, seconds=3600, hls_dir=baseline)
        server, static = serve_folder(baseline)
        try:
            gateway = f"http://{mesh.gateway}"
            deadline = time.monotonic() + 30
            while not (baseline / "index.m3u8").exists() or not _live(gateway, stream.id):
                if time.monotonic() > deadline:
                    raise RuntimeError("the stream did not start")
                time.sleep(0.5)
            (packager,) = _packager_pids(mesh)
            cpu_start, wall_start = cpu_seconds(packager), time.monotonic()
            say("glass-to-glass in Chromium (LL-HLS and the baseline, at once)")
            results["latency"] = glass_to_glass(f"{gateway}/stream/{stream.id}", f"{static}/index.html", args.seconds)
            say("the floor: parts through the edge, stamps read as they arrive")
            results["floor"] = asyncio.run(follow_parts(f"{gateway}/live/{stream.id}/720p", args.seconds))
            results["cpu"] = (cpu_seconds(packager) - cpu_start) / (time.monotonic() - wall_start)
            results["viewers"] = {}
            metrics = f"http://127.0.0.1:{mesh.ports['metrics_playback']}/metrics"
            for count in [int(c) for c in args.viewers.split(",")]:
                say(f"{count} simulated LL-HLS viewers")
                before = origin_calls(metrics)
                pids = mesh.pids()
                cpu_before = {name: cpu_seconds(pids[name]) for name in ("envoy", "playback")}
                started = time.monotonic()
                served: dict[str, Any] = asyncio.run(viewers(f"{gateway}/live/{stream.id}/720p", count, 20))
                spent = time.monotonic() - started
                for name in ("envoy", "playback"):
                    served[f"{name}_cpu"] = (cpu_seconds(pids[name]) - cpu_before[name]) / spent
                served["origin_parts"] = origin_calls(metrics)["GetLiveSegment"] - before["GetLiveSegment"]
                served["origin_playlists"] = origin_calls(metrics)["GetLiveMediaPlaylist"] - before["GetLiveMediaPlaylist"]
                results["viewers"][count] = served
        finally:
            publisher.stop()
            server.shutdown()
        source = OUT / "live-source-720p.mp4"
        make_source(source)
        results["streams"] = {}
        for count in [int(c) for c in args.streams.split(",")]:
            say(f"{count} concurrent streams (720p passed through + 360p encoded)")
            results["streams"][count] = concurrent_streams(mesh, key, source, count, 20)
    section = report(results, machine(ffmpeg=_ffmpeg_version(), chromium=_chromium_version()))
    print(section)
    write_section(DOCS, "live", section)


def origin_calls(metrics_url: str) -> dict[str, float]:
    """Live RPCs Playback (the origin, in Python) has answered: what the edge did not."""
    import urllib.request

    with urllib.request.urlopen(metrics_url, timeout=5) as reply:
        text = reply.read().decode()
    found = {"GetLiveSegment": 0.0, "GetLiveMediaPlaylist": 0.0}
    for line in text.splitlines():
        if line.startswith("vidmesh_rpc_requests_total{"):
            for method in found:
                if f'method="{method}"' in line:
                    found[method] += float(line.rsplit(" ", 1)[1])
    return found


def _live(gateway: str, stream_id: str) -> bool:
    import urllib.error
    import urllib.request

    with (
        contextlib.suppress(urllib.error.URLError, OSError),
        urllib.request.urlopen(f"{gateway}/live/{stream_id}/master.m3u8", timeout=5) as reply,
    ):
        return bool(reply.status == 200)
    return False


def _packager_pids(mesh: Any) -> list[int]:
    from harness import descendants

    found = []
    for pid in descendants(mesh.pids()["live-ingest-1"]):
        with contextlib.suppress(OSError):
            if "vidmesh_services.live.packager" in Path(f"/proc/{pid}/cmdline").read_text():
                found.append(pid)
    if not found:
        raise RuntimeError("no packager process")
    return found


def _ffmpeg_version() -> str:
    import subprocess

    first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.splitlines()
    return first[0].split()[2] if first else "unknown"


def _chromium_version() -> str:
    import subprocess

    return subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip() or "unknown"


def report(results: dict[str, Any], info: dict[str, str]) -> str:
    rows = []
    for name, values in results["latency"].items():
        rows.append([name, f"{percentile(values, 0.5):.0f}", f"{percentile(values, 0.9):.0f}", str(len(values))])
    floor = results["floor"]
    rows.append(
        ["floor: part through the edge (no player)", f"{percentile(floor, 0.5):.0f}", f"{percentile(floor, 0.9):.0f}", str(len(floor))]
    )
    ll, std = (statistics.median(v) if v else float("nan") for v in results["latency"].values())
    served = [
        [
            str(n),
            str(int(r["parts"])),
            r["error_kinds"] or "0",
            f"{r['p50']:.0f}",
            f"{r['p99']:.0f}",
            f"{r['origin_parts'] / max(r['parts'], 1):.1%}",
            str(int(r["origin_playlists"])),
            f"{r['envoy_cpu']:.0%}",
            f"{r['playback_cpu']:.0%}",
        ]
        for n, r in results["viewers"].items()
    ]
    lines = [
        "<!-- bench:live -->",
        "## Live: LL-HLS glass-to-glass, the ladder's cost, viewers per machine",
        "",
        "`make bench-live` (bench/live.py): one stamped 720p30 publisher feeding vidmesh over RTMP and",
        "ffmpeg's hls muxer (the standard-HLS baseline) at once, both played in Chromium at the same time.",
        "",
        md_table(["path", "p50 ms", "p90 ms", "frames"], rows),
        "",
        f"LL-HLS is {std / ll:.1f}x lower than the baseline at the median (target: p50 < 1500 ms, at least 5x).",
        f"Packager (720p passthrough + 360p encoded + no recording): {results['cpu']:.2f} CPU-s per second of video.",
        "",
        "Simulated LL-HLS viewers through the edge (lateness: a part's arrival at a viewer after its first viewer):",
        "",
        md_table(
            [
                "viewers",
                "parts",
                "errors",
                "lateness p50 ms",
                "p99 ms",
                "parts from the origin",
                "playlists from the origin",
                "Envoy CPU",
                "Playback CPU",
            ],
            served,
        ),
        "",
        "Concurrent streams on this machine (720p30 published with -c copy, so only vidmesh's work loads it; the",
        "slowest playlist's advance per wall-clock second: 1.00 keeps up):",
        "",
        md_table(
            ["streams", "packager CPU-s per second, per stream", "360p frames dropped", "slowest playlist, s per s"],
            [[str(n), f"{r['cpu']:.2f}", str(int(r["dropped"])), f"{r['slowest']:.2f}"] for n, r in results["streams"].items()],
        ),
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        "<!-- /bench:live -->",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
