"""Transcode benchmark: one 1080p 60-second source through vidmesh's pipeline and through the ffmpeg CLI, side by side.

Run with `make bench-transcode` (it installs Debian's ffmpeg first if it is missing). In one run it:

1. makes the source under bench/out/cache/ (cached): 60 s of FFmpeg's testsrc2 pattern at
   1920x1080, 30 fps, with temporal noise on every frame so the encoders have real work, encoded
   with PyAV as H.264 (x264 veryfast, CRF 20, ~7.5 Mb/s) plus a stereo 48 kHz AAC track, in MP4;
2. plans two ladders for it with vidmesh's own `plan_ladder`: the default one (topped by the
   source's 1080p: 1080p, 720p, 480p, 360p, 240p, 144p) and a 720p-topped one (the default
   LadderConfig with every rung above 720p removed);
3. for each ladder and each round, in alternating order, runs
   - **vidmesh**: `encode_ladder` (probe, `plan_ladder`, `transcode`) in a child Python process,
     exactly as a transcode worker calls it: decode once, one thread per rendition that scales,
     encodes (libx264) and segments, one shared AAC track, poster and storyboard;
   - **ffmpeg**: Debian's `ffmpeg` doing the same ladder in one command, its arguments derived
     from the same plan and LadderConfig: decode once, `split`, `scale` each rendition to the
     planned size, libx264 with the same preset, bit rate, maxrate, bufsize, keyint and forced
     IDR frames every keyframe interval (2 s), AAC at the same rate, and the `hls` muxer writing fMP4
     segments of the same duration, one playlist per stream (`var_stream_map`) and a master playlist;
   measuring the wall time, the CPU time (wait4's rusage), and the peak RSS of the process (the
   larger of its VmHWM, read from /proc/<pid>/status every 100 ms, and wait4's ru_maxrss; neither
   side starts child processes, which the sampler checks);
4. prints the median of each case and rewrites the `<!-- bench:transcode -->` section of
   docs/benchmarks.md.

Before measuring it waits (up to --wait-minutes) until no other process on the machine uses a
noticeable share of the CPU: on 2 cores another benchmark would distort every figure. Every
process it starts is stopped by PID in `finally` blocks; the outputs are deleted after each run
(--keep keeps the last one of each system and ladder; the cached source always stays).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from harness import (  # bench/ is on sys.path when a script here runs
    CACHE,
    DOCS,
    OUT,
    ROOT,
    Sampler,
    machine,
    machine_busy_seconds,
    mb,
    md_table,
    say,
    status_kib,
    stop_on_sigterm,
    tail,
    text_table,
    wait_for_quiet_machine,
    write_section,
)

from vidmesh_services.platform.pids import die_with_parent

SECTION = "transcode"

TARGET_RATIO = 1.15  # vidmesh wall / ffmpeg wall
SOURCE = dict(width=1920, height=1080, fps=30, seconds=60, crf=20)
LADDER_TOPS = {"1080p-topped": None, "720p-topped": 720}  # None: the default ladder, capped by the source
RUN_TIMEOUT = 20 * 60.0  # seconds; one run takes under a minute on 2 cores


# -- the source -------------------------------------------------------------------------------


def source_video(seconds: int) -> Path:
    """The 1080p30 H.264 + AAC stereo source (cached): testsrc2's moving pattern plus temporal noise."""
    import av  # PyAV: a dependency of vidmesh

    s = dict(SOURCE, seconds=seconds)
    path = CACHE / f"testsrc2-noise-{s['width']}x{s['height']}-{s['fps']}fps-{s['seconds']}s-crf{s['crf']}.mp4"
    if path.exists() and path.stat().st_size > 0:
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.mp4")
    started = time.monotonic()
    w, h, fps, dur = s["width"], s["height"], s["fps"], s["seconds"]
    video_in = av.open(f"testsrc2=size={w}x{h}:rate={fps}:duration={dur},noise=alls=3:allf=t", format="lavfi")
    # Two different tones (one gliding) with a little noise, so left and right really differ.
    audio_in = av.open(
        f"aevalsrc=0.4*sin(2*PI*440*t)+0.05*(random(0)-0.5)|0.4*sin(2*PI*554*t+PI*t*t/10)+0.05*(random(1)-0.5):s=48000:c=stereo:d={dur}",
        format="lavfi",
    )
    try:
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            video = out.add_stream("libx264", rate=fps)
            video.width, video.height, video.pix_fmt = w, h, "yuv420p"
            video.options = {"preset": "veryfast", "crf": str(s["crf"])}
            audio = out.add_stream("aac", rate=48000, layout="stereo")
            audio.bit_rate = 128_000
            sound = audio_in.decode(audio=0)
            sound_time = 0.0

            def encode_sound(frame: av.AudioFrame) -> None:
                frame.pts = None  # the encoder counts samples
                out.mux(audio.encode(frame))

            for frame in video_in.decode(video=0):
                picture_time = float(frame.pts * frame.time_base)
                while sound_time <= picture_time:  # interleave: sound up to this picture first
                    chunk = next(sound, None)
                    if chunk is None:
                        sound_time = math.inf
                        break
                    sound_time = float(chunk.pts * chunk.time_base)
                    encode_sound(chunk)
                frame = frame.reformat(format="yuv420p")
                frame.pict_type = av.video.frame.PictureType.NONE
                out.mux(video.encode(frame))
            out.mux(video.encode(None))
            for chunk in sound:
                encode_sound(chunk)
            out.mux(audio.encode(None))
    finally:
        video_in.close()
        audio_in.close()
    os.replace(tmp, path)
    say(f"  encoded {path.name}: {path.stat().st_size / 1e6:.1f} MB in {time.monotonic() - started:.1f}s")
    return path


@dataclass(frozen=True)
class SourceInfo:
    duration: float  # seconds
    width: int
    height: int
    frame_rate: Fraction
    video_bitrate: int
    audio_rate: int
    audio_channels: int


def describe_source(path: Path) -> SourceInfo:
    import av

    with av.open(str(path)) as container:
        v, a = container.streams.video[0], container.streams.audio[0]
        return SourceInfo(
            duration=container.duration / av.time_base,
            width=v.width,
            height=v.height,
            frame_rate=Fraction(v.average_rate),
            video_bitrate=v.bit_rate or 0,
            audio_rate=a.sample_rate,
            audio_channels=a.channels,
        )


# -- the ladders ------------------------------------------------------------------------------


def ladder_config(top: int | None):  # -> LadderConfig
    from vidmesh_services.transcode.ladder import LadderConfig

    base = LadderConfig()
    if top is None:
        return base
    return LadderConfig(rungs=tuple(rung for rung in base.rungs if rung.short_side <= top))


def plan_for(source: Path, top: int | None):  # -> (LadderConfig, list[RenditionPlan])
    """The ladder exactly as encode_ladder plans it: probe_source, then plan_ladder."""
    from vidmesh_services.transcode.ladder import plan_ladder
    from vidmesh_services.transcode.source import probe_source

    config = ladder_config(top)
    return config, plan_ladder(probe_source(source), config)


def ffmpeg_command(source: Path, out_dir: Path, plan: list, config, info: SourceInfo) -> list[str]:
    """The single ffmpeg command for `plan`, with every setting taken from the plan and LadderConfig
    the way vidmesh's encoders take them (services/vidmesh_services/transcode/tracks.py and frames.py)."""
    segment = config.segment_seconds
    frame_rate = plan[0].frame_rate
    # tracks.py: keyint is the frame count of one keyframe interval, scene cuts off, closed GOPs,
    # and an IDR frame forced at the first frame of every interval (segments are whole intervals).
    keyframe = config.keyframe_seconds
    keyint = math.ceil(frame_rate * Fraction(keyframe).limit_denominator(1000))
    splits = "".join(f"[s{i}]" for i in range(len(plan)))
    graph = [f"[0:v]split={len(plan)}{splits}"]
    # frames.py's FrameShaper: scale to the planned size, limited range, 8-bit 4:2:0, square pixels.
    graph += [f"[s{i}]scale={r.width}:{r.height}:out_range=tv,format=yuv420p,setsar=1[v{i}]" for i, r in enumerate(plan)]
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-filter_complex", ";".join(graph)]
    for i, r in enumerate(plan):
        args += [
            "-map",
            f"[v{i}]",
            f"-c:v:{i}",
            "libx264",
            f"-b:v:{i}",
            str(r.bitrate),
            f"-maxrate:v:{i}",
            str(r.max_bitrate),
            f"-bufsize:v:{i}",
            str(r.buffer_size),
        ]
    args += [
        "-preset",
        config.x264_preset,
        "-forced-idr",
        "1",
        "-x264-params",
        f"keyint={keyint}:scenecut=0:open-gop=0",
        "-force_key_frames",
        f"expr:gte(t,n_forced*{keyframe:g})",
        "-fps_mode",
        "cfr",
        "-r",
        str(frame_rate),
    ]  # the plan's constant frame rate, like ConstantRateClock
    # tracks.py's AudioTrackEncoder: AAC-LC stereo, 44.1 or 48 kHz kept, anything else to 48 kHz.
    audio_rate = info.audio_rate if info.audio_rate in (44100, 48000) else 48000
    args += ["-map", "0:a:0", "-c:a", "aac", "-b:a", str(config.audio_bitrate), "-ac", "2", "-ar", str(audio_rate)]
    streams = ["a:0,agroup:audio,name:audio"] + [f"v:{i},agroup:audio,name:{r.name}" for i, r in enumerate(plan)]
    args += [
        "-f",
        "hls",
        "-hls_time",
        f"{segment:g}",
        "-hls_segment_type",
        "fmp4",
        "-hls_playlist_type",
        "vod",
        "-hls_fmp4_init_filename",
        "init.mp4",
        "-hls_segment_filename",
        str(out_dir / "%v" / "%05d.m4s"),
        "-master_pl_name",
        "master.m3u8",
        "-var_stream_map",
        " ".join(streams),
        str(out_dir / "%v" / "index.m3u8"),
    ]
    return args


# -- running one side -------------------------------------------------------------------------


@dataclass
class Rendition:
    name: str
    segments: int
    seconds: float
    kbps: float  # average bit rate of the media (segments + init), kb/s
    longest_segment: float


@dataclass
class Run:
    system: str  # "vidmesh" or "ffmpeg"
    ladder: str
    round: int
    position: int  # 1 = ran first of the pair, 2 = second
    wall: float  # seconds: the process, start to exit
    cpu: float  # user + system seconds of the process
    peak_kib: int
    inner_wall: float | None = None  # vidmesh: encode_ladder alone, without Python start-up and imports
    others_cpu: float = 0.0  # CPU seconds used by the rest of the machine meanwhile
    child_processes: int = 0  # processes the measured one started (none expected)
    renditions: list[Rendition] = field(default_factory=list)
    x264: str = ""

    @property
    def timed(self) -> float:
        """The wall time compared: encode_ladder for vidmesh (what a worker pays per job), the process for ffmpeg."""
        return self.inner_wall if self.inner_wall is not None else self.wall


def measured(argv: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[float, float, int, int, float]:
    """Runs argv to completion: (wall s, CPU s, peak RSS KiB, child processes seen, others' CPU s)."""
    busy_before, me_before = machine_busy_seconds(), time.process_time()
    with open(log, "wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    try:
        with Sampler(process.pid, tree=True) as sampler:
            timer = threading.Timer(RUN_TIMEOUT, lambda: os.kill(process.pid, signal.SIGKILL))
            timer.start()
            try:
                _, status, usage = os.wait4(process.pid, 0)  # rusage of this very process, which Popen cannot give
            finally:
                timer.cancel()
            wall = time.monotonic() - started
            process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if process.returncode is None:  # interrupted: stop it, by its PID
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited with {process.returncode}; log {log}:\n{tail(log)}")
    cpu = usage.ru_utime + usage.ru_stime
    others = (machine_busy_seconds() - busy_before) - cpu - (time.process_time() - me_before)
    peak = max(sampler.hwm_kib, usage.ru_maxrss, sampler.tree_kib)  # ru_maxrss is in KiB on Linux
    return wall, cpu, peak, len(sampler.children), max(0.0, others)


def run_ffmpeg(source: Path, out_dir: Path, ladder: str, plan: list, config, info: SourceInfo, rnd: int, pos: int) -> Run:
    out_dir.mkdir(parents=True)
    argv = ffmpeg_command(source, out_dir, plan, config, info)
    (out_dir.parent / f"{out_dir.name}.cmd").write_text(" ".join(_quote(a) for a in argv) + "\n")
    wall, cpu, peak, kids, others = measured(argv, out_dir.parent / f"{out_dir.name}.log")
    return Run("ffmpeg", ladder, rnd, pos, wall, cpu, peak, others_cpu=others, child_processes=kids)


def run_vidmesh(source: Path, out_dir: Path, ladder: str, top: int | None, rnd: int, pos: int) -> Run:
    result = out_dir.parent / f"{out_dir.name}.json"
    argv = [sys.executable, str(Path(__file__).resolve()), "--vidmesh-child", str(source), str(out_dir), str(result)]
    if top is not None:
        argv += ["--top", str(top)]
    wall, cpu, peak, kids, others = measured(argv, out_dir.parent / f"{out_dir.name}.log")
    child = json.loads(result.read_text())
    return Run(
        "vidmesh",
        ladder,
        rnd,
        pos,
        wall,
        cpu,
        max(peak, child["vm_hwm_kib"]),
        inner_wall=child["wall"],
        others_cpu=others,
        child_processes=kids,
    )


def vidmesh_child(source: Path, out_dir: Path, result: Path, top: int | None) -> int:
    """In the child process: encode_ladder exactly as the worker calls it, timed, then VmHWM."""
    from vidmesh_services.transcode.encode import encode_ladder
    from vidmesh_services.transcode.pipeline import TranscodeConfig

    config = TranscodeConfig(ladder=ladder_config(top))
    started = time.monotonic()
    encoded = encode_ladder(source, out_dir, lambda stage, percent: None, config)
    wall = time.monotonic() - started
    result.write_text(
        json.dumps(
            {
                "wall": wall,
                "vm_hwm_kib": status_kib("self", "VmHWM"),
                "renditions": [f"{r.name} {r.width}x{r.height}" for r in encoded.renditions],
            }
        )
    )
    return 0


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\"'\"'") + "'"


# -- checking what each side wrote --------------------------------------------------------------


def read_media_playlist(path: Path) -> list[tuple[float, str]]:
    segments, duration = [], None
    for line in path.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",")[0])
        elif line and not line.startswith("#") and duration is not None:
            segments.append((duration, line))
            duration = None
    return segments


def inspect_output(out_dir: Path, plan: list) -> tuple[list[Rendition], str]:
    """Per rendition (and the audio track): segments, duration, average bit rate; and the x264 build
    that encoded the top rendition. Raises if a planned rendition, the audio or the master playlist is missing."""
    master = (out_dir / "master.m3u8").read_text()
    renditions = []
    for name in [r.name for r in plan] + ["audio"]:
        playlist = out_dir / name / "index.m3u8"
        if not playlist.exists():
            raise RuntimeError(f"{playlist} is missing")
        if f"{name}/index.m3u8" not in master:
            raise RuntimeError(f"{out_dir / 'master.m3u8'} does not list {name}")
        segments = read_media_playlist(playlist)
        seconds = sum(d for d, _ in segments)
        size = sum(f.stat().st_size for f in (out_dir / name).iterdir() if f.suffix in (".m4s", ".mp4"))
        renditions.append(Rendition(name, len(segments), seconds, size * 8 / seconds / 1000, max(d for d, _ in segments)))
    for r in plan:
        if f"RESOLUTION={r.width}x{r.height}" not in master:
            raise RuntimeError(f"{out_dir / 'master.m3u8'} has no {r.width}x{r.height} variant")
    first = out_dir / plan[0].name / read_media_playlist(out_dir / plan[0].name / "index.m3u8")[0][1]
    found = re.search(rb"x264 - core (\d+)(?: (r\d+ [0-9a-f]+))?", first.read_bytes()[:1_000_000])
    x264 = f"core {found.group(1).decode()} {(found.group(2) or b'').decode()}".strip() if found else "unknown"
    return renditions, x264


# -- report -----------------------------------------------------------------------------------


def med(values: list[float]) -> float:
    return statistics.median(values)


@dataclass
class Case:
    ladder: str
    plan: list
    runs: list[Run]

    def of(self, system: str) -> list[Run]:
        return [r for r in self.runs if r.system == system]

    def wall(self, system: str) -> float:
        return med([r.timed for r in self.of(system)])

    def ratio(self) -> float:
        return self.wall("vidmesh") / self.wall("ffmpeg")

    def median_run(self, system: str) -> Run:
        runs = sorted(self.of(system), key=lambda r: r.timed)
        return runs[(len(runs) - 1) // 2]


HEADERS = [
    "system",
    "ladder",
    "wall s (median)",
    "every round, s (* ran first)",
    "x real time",
    "ratio vidmesh/ffmpeg",
    "CPU s",
    "peak RSS, MB",
]


def rows(cases: list[Case], duration: float) -> list[list[str]]:
    body = []
    for case in cases:
        for system in ("vidmesh", "ffmpeg"):
            runs = case.of(system)
            wall = case.wall(system)
            body.append(
                [
                    system,
                    f"{case.ladder} ({len(case.plan)})",
                    f"{wall:.1f}",
                    ", ".join(f"{r.timed:.1f}{'*' if r.position == 1 else ''}" for r in sorted(runs, key=lambda r: r.round)),
                    f"{duration / wall:.2f}",
                    f"{case.ratio():.2f}" if system == "vidmesh" else "1.00",
                    f"{med([r.cpu for r in runs]):.0f}",
                    f"{mb(int(med([r.peak_kib for r in runs]))):.0f}",
                ]
            )
    return body


def checks(cases: list[Case], duration: float) -> list[str]:
    lines = []
    for case in cases:
        ratio = case.ratio()
        lines.append(
            f"{case.ladder}: vidmesh/ffmpeg {ratio:.2f} (target <= {TARGET_RATIO}): {'met' if ratio <= TARGET_RATIO else 'NOT met'}"
        )
    top720 = next((c for c in cases if c.ladder == "720p-topped"), None)
    if top720 is not None:
        speed = duration / top720.wall("vidmesh")
        lines.append(
            f"720p-topped ladder faster than real time on this machine: vidmesh {speed:.2f}x "
            f"({'met' if speed > 1 else 'NOT met'}; the reference design budgets 1/2.4 = 0.42x)"
        )
    return lines


def details(cases: list[Case], duration: float, busy: list[str]) -> list[str]:
    lines = []
    for case in cases:
        vm = case.of("vidmesh")
        proc_wall = med([r.wall for r in vm])
        ff_wall = case.wall("ffmpeg")
        lines.append(
            f"{case.ladder}: the vidmesh child process from start to exit (adding Python start-up and imports to "
            f"encode_ladder) took {proc_wall:.1f} s, ratio {proc_wall / ff_wall:.2f}; paired rounds, vidmesh/ffmpeg: "
            + ", ".join(
                f"{v.timed / f.timed:.2f}"
                for v, f in zip(sorted(vm, key=lambda r: r.round), sorted(case.of("ffmpeg"), key=lambda r: r.round), strict=True)
            )
        )
    for case in cases:
        for system in ("vidmesh", "ffmpeg"):
            runs = case.of(system)
            cpu = med([r.cpu for r in runs])
            lines.append(
                f"{case.ladder}, {system}: {cpu:.0f} CPU-seconds, {cpu / med([r.wall for r in runs]):.2f} "
                f"cores busy on average; peak RSS every round: "
                + ", ".join(f"{mb(r.peak_kib):.0f}" for r in sorted(runs, key=lambda r: r.round))
                + " MB"
            )
    runs = [r for c in cases for r in c.runs]
    others = max(r.others_cpu for r in runs)
    disturbed = [f"round {r.round} {r.ladder} {r.system}: {r.others_cpu:.1f} CPU-s" for r in runs if r.others_cpu >= 1.0]
    lines.append(
        f"the rest of the machine used at most {others:.1f} CPU-seconds during any one run "
        f"(from /proc/stat, minus the measured process and the benchmark itself)"
        + (f"; 1 CPU-second or more in {'; '.join(disturbed)}" if disturbed else "")
        + f"; child processes started by either side: {max(r.child_processes for r in runs)}"
    )
    if busy:
        lines.append("the machine was NOT quiet when measuring started: " + "; ".join(busy))
    return lines


RENDITION_HEADERS = [
    "ladder",
    "rendition",
    "planned size",
    "target kb/s",
    "vidmesh kb/s",
    "ffmpeg kb/s",
    "segments (vidmesh / ffmpeg)",
    "longest segment s (vidmesh / ffmpeg)",
]


def rendition_rows(cases: list[Case], audio_kbps: int) -> list[list[str]]:
    body = []
    for case in cases:
        vm = {r.name: r for r in case.median_run("vidmesh").renditions}
        ff = {r.name: r for r in case.median_run("ffmpeg").renditions}
        targets = [(p.name, f"{p.width}x{p.height}", p.bitrate // 1000) for p in case.plan] + [("audio", "AAC stereo", audio_kbps)]
        for name, size, target in targets:
            v, f = vm[name], ff[name]
            body.append(
                [
                    case.ladder,
                    name,
                    size,
                    str(target),
                    f"{v.kbps:.0f}",
                    f"{f.kbps:.0f}",
                    f"{v.segments} / {f.segments}",
                    f"{v.longest_segment:.3f} / {f.longest_segment:.3f}",
                ]
            )
    return body


def machine_info(cases: list[Case]) -> dict[str, str]:
    import av

    ffmpeg_version = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
        ffmpeg_version = first.split(" Copyright")[0].removeprefix("ffmpeg version ").strip()
    libav = av.library_versions.get("libavcodec", ())
    x264 = {system: next((r.x264 for c in cases for r in c.of(system) if r.x264), "unknown") for system in ("vidmesh", "ffmpeg")}
    return machine(
        # An untracked file in the transcode pipeline changes what is measured, too.
        untracked_in=("services/vidmesh_services/transcode",),
        pyav=f"PyAV {av.__version__} (its own FFmpeg build, libavcodec {'.'.join(map(str, libav))}, x264 {x264['vidmesh']})",
        ffmpeg=f"Debian's ffmpeg {ffmpeg_version or 'unknown'} (x264 {x264['ffmpeg']})",
    )


def section_markdown(
    cases: list[Case], src: SourceInfo, source: Path, rounds: int, config, info: dict[str, str], busy: list[str], example_cmd: str
) -> str:
    d = src.duration
    lines = [
        f"<!-- bench:{SECTION} -->",
        "## Transcode: a 1080p 60 s source to an HLS ladder, vidmesh's pipeline vs the ffmpeg CLI",
        "",
        f"One source, generated with PyAV and cached: {d:.2f} s of FFmpeg's `testsrc2` pattern at {src.width}x{src.height}, "
        f"{float(src.frame_rate):g} fps, with temporal noise on every frame (H.264, x264 veryfast CRF {SOURCE['crf']}, "
        f"{src.video_bitrate / 1e6:.1f} Mb/s) and a stereo {src.audio_rate // 1000} kHz AAC track, in MP4 "
        f"({source.stat().st_size / 1e6:.0f} MB). Two ladders, both planned by vidmesh's `plan_ladder` from the probed "
        f"source: the default one, topped by the source's 1080p ("
        + ", ".join(p.name for p in cases[0].plan)
        + "), and a 720p-topped one (the default `LadderConfig` "
        "without the rungs above 720p). Both systems encode exactly these renditions with the same settings, taken "
        f"from `LadderConfig` and the plan: x264 preset `{config.x264_preset}`, capped VBR at the planned bit rate "
        f"(maxrate {config.peak_bitrate_ratio:g}x, bufsize {config.buffer_seconds:g} s of the target), an IDR frame forced "
        f"every {config.keyframe_seconds:g} s (so every {config.segment_seconds:g} s segment starts with one) with `keyint` "
        f"one interval long, scene cuts off and closed GOPs, AAC-LC stereo at {config.audio_bitrate // 1000} kb/s, HLS with fMP4 segments of {config.segment_seconds:g} s:",
        "",
        "- **vidmesh**: `encode_ladder` (probe, `plan_ladder`, `transcode`), as a transcode worker calls it, in a child "
        "Python process: decode once, one thread per rendition that scales, encodes and segments, one shared AAC "
        "track. It also writes a poster and a storyboard (sprite sheets + WebVTT), which the ffmpeg command does not.",
        "- **ffmpeg**: Debian's `ffmpeg` in one command with arguments derived from the same plan: decode once, `split`, "
        "`scale` (to the planned size, limited range, yuv420p, as vidmesh's FrameShaper does), libx264 per rendition, "
        f"`-force_key_frames expr:gte(t,n_forced*{config.keyframe_seconds:g})` with `-forced-idr 1`, the `hls` muxer with `var_stream_map` "
        "(audio as its own group, like vidmesh) and a master playlist.",
        "",
        f"Each ladder ran {rounds} times on each system, the two systems alternating which goes first. Wall time is "
        "the median over the rounds: for vidmesh the `encode_ladder` call (what a worker pays per job; the child's "
        "start-up and imports are listed below), for ffmpeg the process. *x real time* is the source's duration over "
        f"the wall time; the ratio is vidmesh/ffmpeg (target <= {TARGET_RATIO}). CPU s is user + system time of the "
        "process (wait4). Peak RSS is of the process (neither starts another): the larger of its VmHWM, read from "
        "/proc/<pid>/status every 100 ms, and wait4's ru_maxrss, in MB (10^6 bytes), median over the rounds. Before "
        "measuring, the benchmark waits until no other process uses the CPU.",
        "",
        "Command: `make bench-transcode`",
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, Linux {info['kernel']}, Python {info['python']}, "
        f"{info['pyav']}, {info['ffmpeg']}; commit {info['commit']}; run {info['date']}.",
        "",
        md_table(HEADERS, rows(cases, d)),
        "",
        *[f"- {c}" for c in checks(cases, d)],
        *[f"- {line}" for line in details(cases, d, busy)],
        "",
        "What each side wrote, in its median round (average bit rate of the media files over the playlist's duration; "
        "segments and their longest duration from the media playlists):",
        "",
        md_table(RENDITION_HEADERS, rendition_rows(cases, config.audio_bitrate // 1000)),
        "",
        "The ffmpeg command for the 720p-topped ladder (the other adds the 1080p rendition), `OUT` standing for its output folder:",
        "",
        "```",
        example_cmd,
        "```",
        f"<!-- /bench:{SECTION} -->",
    ]
    return "\n".join(lines) + "\n"


# -- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs per system and ladder; the median is reported (default 3)")
    parser.add_argument("--seconds", type=int, default=SOURCE["seconds"], help="source duration (default 60; shorter for a smoke test)")
    parser.add_argument("--wait-minutes", type=float, default=15.0, help="how long to wait for a quiet machine (default 15)")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true", help="keep the last output of each system and ladder")
    parser.add_argument("--vidmesh-child", nargs=3, metavar=("SOURCE", "OUT", "RESULT"), help=argparse.SUPPRESS)
    parser.add_argument("--top", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.vidmesh_child:
        source, out_dir, result = map(Path, args.vidmesh_child)
        return vidmesh_child(source, out_dir, result, args.top)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if shutil.which("ffmpeg") is None:
        say("ffmpeg is not installed: run `make bench-transcode`, which installs Debian's ffmpeg package")
        return 2
    stop_on_sigterm()

    say(f"source: {args.seconds} s of {SOURCE['width']}x{SOURCE['height']} at {SOURCE['fps']} fps in {CACHE.relative_to(ROOT)}")
    source = source_video(args.seconds)
    src = describe_source(source)
    cases = []
    for ladder, top in LADDER_TOPS.items():
        config, plan = plan_for(source, top)
        cases.append(Case(ladder, plan, []))
        say(f"{ladder}: " + ", ".join(f"{p.name} {p.width}x{p.height} {p.bitrate // 1000} kb/s" for p in plan))
    source.read_bytes()  # into the page cache, for whichever system runs first

    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="transcode-", dir=OUT))
    try:
        busy = wait_for_quiet_machine(args.wait_minutes)
        for rnd in range(1, args.rounds + 1):
            for index, case in enumerate(cases):
                # Alternate who goes first, across rounds and across the ladders within a round.
                order = ("vidmesh", "ffmpeg") if (rnd + index) % 2 else ("ffmpeg", "vidmesh")
                top = LADDER_TOPS[case.ladder]
                config = ladder_config(top)
                for position, system in enumerate(order, 1):
                    out_dir = work / f"{system}-{case.ladder}"
                    shutil.rmtree(out_dir, ignore_errors=True)
                    if system == "vidmesh":
                        run = run_vidmesh(source, out_dir, case.ladder, top, rnd, position)
                    else:
                        run = run_ffmpeg(source, out_dir, case.ladder, case.plan, config, src, rnd, position)
                    run.renditions, run.x264 = inspect_output(out_dir, case.plan)
                    case.runs.append(run)
                    extra = f" (process {run.wall:.1f}s)" if run.inner_wall is not None else ""
                    say(
                        f"round {rnd}/{args.rounds}, {case.ladder}, {system}: {run.timed:.1f}s{extra}, "
                        f"{src.duration / run.timed:.2f}x real time, CPU {run.cpu:.0f}s, peak RSS {mb(run.peak_kib):.0f} MB, "
                        f"others' CPU {run.others_cpu:.1f}s"
                    )

        config = ladder_config(None)
        info = machine_info(cases)
        example = ffmpeg_command(source, Path("OUT"), cases[-1].plan, ladder_config(LADDER_TOPS[cases[-1].ladder]), src)
        example_cmd = " ".join(_quote(a) for a in example).replace(str(source), source.relative_to(ROOT).as_posix())
        say("")
        say(f"median of {args.rounds} rounds ({src.duration:.2f} s source):")
        say(text_table(HEADERS, rows(cases, src.duration)))
        say("")
        for line in [*checks(cases, src.duration), *details(cases, src.duration, busy)]:
            say(line)
        say("")
        say(text_table(RENDITION_HEADERS, rendition_rows(cases, config.audio_bitrate // 1000)))
        say(f"\nmachine: {json.dumps(info)}")
        raw = OUT / "transcode-results.json"
        raw.write_text(
            json.dumps(
                {
                    "machine": info,
                    "source": str(source),
                    "duration": src.duration,
                    "runs": [
                        {k: v for k, v in vars(r).items() if k != "renditions"} | {"renditions": [vars(x) for x in r.renditions]}
                        for c in cases
                        for r in c.runs
                    ],
                },
                indent=1,
            )
        )
        say(f"every run: {raw.relative_to(ROOT)}")
        if not args.no_docs:
            write_section(DOCS, SECTION, section_markdown(cases, src, source, args.rounds, config, info, busy, example_cmd))
            say(f"wrote the '{SECTION}' section of {DOCS.relative_to(ROOT)}")
        return 0
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
