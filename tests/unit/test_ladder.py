"""The live ladder on real PyAV output: a synthetic 720p30 x264+AAC FLV, fed through a pipe in real time."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from av.video.stream import VideoStream

from vidmesh_services.live import ladder
from vidmesh_services.live.ladder import (
    LADDER_360P,
    LadderOptions,
    LadderSummary,
    LivePackager,
    NoVideo,
    RenditionSpec,
    UnsupportedCodec,
    aac_codec,
    avc_codec,
    package_flv,
)
from vidmesh_services.live.llhls import LivePlaylist, master_playlist
from vidmesh_services.live.remux import LivePart, complete_length, finish_recording

FPS = 30
SECONDS = 6
FRAMES = FPS * SECONDS
GOP = 2 * FPS
TARGET = 0.334
REPO = Path(__file__).resolve().parents[2]


def make_flv(
    seconds: float = SECONDS,
    *,
    size: tuple[int, int] = (1280, 720),
    codec: str = "libx264",
    video: bool = True,
    audio: bool = True,
    b_frames: int = 0,
) -> bytes:
    """H.264 (2 s GOP, ~2.5 Mbit/s) over a scrolling blocky texture, and 48 kHz stereo AAC, as FLV."""
    width, height = size
    frames = round(FPS * seconds)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flv") as flv:
        stream = flv.add_stream(codec, rate=FPS) if video else None
        assert stream is None or isinstance(stream, VideoStream)
        sound = flv.add_stream("aac", rate=48000, layout="stereo") if audio else None
        if stream is not None:
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            if codec == "libx264":
                stream.bit_rate = 2_500_000
                preset = "veryfast" if b_frames else "ultrafast"  # ultrafast makes no B-frames
                stream.options = {"preset": preset, "g": str(GOP), "keyint_min": str(GOP), "sc_threshold": "0", "bf": str(b_frames)}
        # Texture that moves: x264 has to spend bits on it, unlike a flat picture, yet it compresses.
        # Drawn in yuv420p, so no colour conversion slows the test down.
        blocks = np.random.default_rng(7).integers(0, 256, (3, height // 8 + 48, width // 8 + 48), dtype=np.uint8)
        luma, chroma = blocks[0].repeat(8, 0).repeat(8, 1), blocks[1:].repeat(4, 1).repeat(4, 2)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(48000 * frames // FPS) / 48000)).astype(np.float32)
        samples = 0
        for index in range(frames):  # interleaved as a publisher sends it: the muxer buffers only so much
            if stream is not None:
                y, x = index * 2 % 320, index * 4 % 320  # even: chroma moves with luma
                uv = chroma[:, y // 2 : (y + height) // 2, x // 2 : (x + width) // 2].reshape(height // 2, width)  # U, then V
                frame = av.VideoFrame.from_ndarray(np.concatenate([luma[y : y + height, x : x + width], uv]), format="yuv420p")
                frame.pts = index
                flv.mux(stream.encode(frame))
            while sound is not None and samples < 48000 * (index + 1) // FPS:
                chunk = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(np.stack([tone[samples : samples + 1024]] * 2)), format="fltp", layout="stereo"
                )
                chunk.sample_rate, chunk.pts = 48000, samples
                flv.mux(sound.encode(chunk))
                samples += 1024
        for flushing in (stream, sound):
            if flushing is not None:
                flv.mux(flushing.encode(None))
    return buffer.getvalue()


def flv_tags(data: bytes) -> Iterator[tuple[float, bytes]]:
    """(timestamp in s, bytes) of the FLV header, then of each tag with the PreviousTagSize after it."""
    header = struct.unpack_from(">I", data, 5)[0] + 4
    yield 0.0, data[:header]
    position = header
    while position + 11 <= len(data):
        size = int.from_bytes(data[position + 1 : position + 4], "big")
        stamp = int.from_bytes(data[position + 4 : position + 7], "big") | data[position + 7] << 24
        end = position + 11 + size + 4
        yield stamp / 1000, data[position:end]
        position = end


class PacedPipe:
    """A pipe a thread fills with the FLV at the pace of its timestamps, as a publisher would."""

    def __init__(self, data: bytes, speed: float = 1.0) -> None:
        read, self._write = os.pipe()
        self.reader = open(read, "rb", buffering=0)  # noqa: SIM115 (closed on exit; raw: read(n) returns what has arrived)
        self._data, self._speed = data, speed
        self._thread = threading.Thread(target=self._feed, daemon=True)
        self.started = time.monotonic()

    def _feed(self) -> None:
        try:
            for stamp, chunk in flv_tags(self._data):
                delay = self.started + stamp / self._speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                os.write(self._write, chunk)
        except BrokenPipeError:
            pass  # the reader gave up (a probe that refused the input)
        finally:
            os.close(self._write)

    def __enter__(self) -> PacedPipe:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.reader.close()
        self._thread.join(10)


@dataclass
class Collected:
    """What the callbacks saw, put into one LivePlaylist per rendition as a server would."""

    inits: dict[str, bytes] = field(default_factory=dict)
    parts: dict[str, list[tuple[LivePart, bytes]]] = field(default_factory=dict)
    playlists: dict[str, LivePlaylist] = field(default_factory=dict)
    arrivals: dict[str, dict[tuple[int, int], float]] = field(default_factory=dict)  # (msn, part index) → monotonic s
    threads: set[str] = field(default_factory=set)

    def on_init(self, name: str, data: bytes) -> None:
        self.inits[name] = data
        self.playlists.setdefault(name, LivePlaylist()).begin_session(data)

    def on_part(self, name: str, part: LivePart, data: bytes) -> None:
        self.threads.add(threading.current_thread().name)
        self.parts.setdefault(name, []).append((part, data))
        added = self.playlists[name].add_part(data, part.fragment.duration, part.fragment.independent, ends_segment=part.ends_segment)
        if added is not None:
            self.arrivals.setdefault(name, {})[added.msn, added.index] = time.monotonic()

    def media(self, name: str) -> bytes:
        return self.inits[name] + b"".join(data for _, data in self.parts[name])


def decode(media: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(media), "r") as mp4:
        return list(mp4.decode(video=0))


def ladder_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("ladder-")]


@dataclass(frozen=True)
class Run:
    collected: Collected
    summary: LadderSummary
    packager: LivePackager
    recording: Path
    cpu: float  # process CPU-seconds the run took


@pytest.fixture(scope="module")
def source() -> bytes:
    return make_flv()


@pytest.fixture(scope="module")
def live(source: bytes, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The whole ladder, once: the FLV arriving in real time through a pipe, a 360p rendition, a recording."""
    recording = tmp_path_factory.mktemp("ladder") / "recording.mp4"
    collected = Collected()
    ready: list[LivePackager] = []
    before = os.times()
    with PacedPipe(source) as pipe:
        summary = package_flv(
            pipe.reader, LADDER_360P, collected.on_init, collected.on_part, recording_path=str(recording), on_ready=ready.append
        )
    after = os.times()
    cpu = after.user + after.system - before.user - before.system
    return Run(collected, summary, ready[0], recording, cpu)


def test_every_rendition_cuts_parts_within_the_target_and_segments_at_the_same_msn(live: Run) -> None:
    playlists = live.collected.playlists
    assert set(playlists) == {"720p", "360p"}
    layouts = {}
    for name, playlist in playlists.items():
        assert all(part.duration <= TARGET for segment in playlist.segments for part in segment.parts)
        assert all(segment.parts[0].independent for segment in playlist.segments)
        layouts[name] = [(segment.msn, len(segment.parts)) for segment in playlist.segments]
        assert playlist.part_target == TARGET  # no part made the playlist raise its declared target
    assert layouts["720p"] == [(0, 6), (1, 6), (2, 6)]  # 2 s GOPs, 333 ms parts
    assert layouts["360p"] == layouts["720p"]
    ends = {name: [index for index, (part, _) in enumerate(parts) if part.ends_segment] for name, parts in live.collected.parts.items()}
    assert ends["360p"] == ends["720p"] == [5, 11, 17]


def test_each_rendition_decodes_at_its_resolution_and_the_drops_are_counted(live: Run) -> None:
    health = {rendition.name: rendition for rendition in live.summary.renditions}
    source = decode(live.collected.media("720p"))
    assert len(source) == FRAMES and (source[0].width, source[0].height) == (1280, 720)
    assert health["720p"].dropped_frames == 0
    encoded = decode(live.collected.media("360p"))
    assert (encoded[0].width, encoded[0].height) == (640, 360)
    # A loaded machine may drop a few; whatever was dropped is counted, and nothing is lost otherwise.
    assert len(encoded) == health["360p"].frames == FRAMES - health["360p"].dropped_frames
    assert health["360p"].dropped_frames <= FRAMES // 4
    assert live.summary.dropped_frames == health["360p"].dropped_frames
    assert {"ladder-360p", "MainThread"} <= live.collected.threads  # encoded parts come from the encoder's thread


def test_the_360p_rendition_holds_its_bitrate(live: Run) -> None:
    media = live.collected.media("360p")
    with av.open(io.BytesIO(media), "r") as mp4:
        sizes = [packet.size for packet in mp4.demux(video=0) if packet.size]
    # x264 budgets bits per frame (bitrate / fps), so frames a loaded machine dropped spend none.
    assert 0.7 * 800_000 < sum(sizes) * 8 / (len(sizes) / FPS) < 1.2 * 800_000
    health = {rendition.name: rendition for rendition in live.summary.renditions}
    info = {rendition.name: rendition for rendition in live.packager.renditions}
    assert health["360p"].peak_bandwidth <= info["360p"].bandwidth * 1.05  # VBV-capped: the declared peak holds


def test_media_info_renders_the_master_playlist(live: Run, source: bytes) -> None:
    with av.open(io.BytesIO(source), "r", format="flv") as flv:
        extradata = flv.streams.video[0].codec_context.extradata
    assert extradata is not None
    info = live.packager.source
    assert (info.width, info.height, info.frame_rate) == (1280, 720, Fraction(FPS))
    assert info.codecs == f"avc1.{extradata[1:4].hex()},mp4a.40.2"
    top, low = live.packager.renditions
    assert (top.name, top.width, top.height, top.encoded, top.codecs) == ("720p", 1280, 720, False, info.codecs)
    assert (low.name, low.width, low.height, low.encoded) == ("360p", 640, 360, True)
    assert low.codecs.startswith("avc1.64") and low.codecs.endswith(",mp4a.40.2")  # x264 veryfast: High profile
    assert low.bandwidth == round((880_000 + 128_000) * 1.1) and top.bandwidth > low.bandwidth
    text = master_playlist([rendition.playlist_entry(f"{rendition.name}/index.m3u8") for rendition in live.packager.renditions])
    assert 'RESOLUTION=640x360,CODECS="avc1.64' in text and "720p/index.m3u8" in text


def test_the_encoded_rendition_trails_the_passthrough_by_little(live: Run) -> None:
    passthrough, encoded = live.collected.arrivals["720p"], live.collected.arrivals["360p"]
    delays = [encoded[key] - passthrough[key] for key in passthrough if key in encoded]
    assert len(delays) == 18
    print(f"\n360p parts after the 720p ones: median {statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms;", end=" ")
    print(f"CPU {live.cpu / SECONDS:.2f} s per content-second")
    assert statistics.median(delays) < 1.0  # a few ms when idle; dropping keeps it near max_lag (1 s) when starved


def test_the_recording_finishes_into_a_faststart_file_with_every_frame(live: Run, tmp_path: Path) -> None:
    out = tmp_path / "vod.mp4"
    summary = finish_recording(live.recording, out)
    assert (summary.video_frames, summary.torn_bytes) == (FRAMES, 0)
    assert summary.duration == pytest.approx(SECONDS, abs=0.05)
    assert summary.audio_packets == live.summary.audio_packets
    head = out.read_bytes()[:4096]
    assert head.index(b"moov") < head.find(b"mdat") or b"mdat" not in head  # faststart: the index comes first
    assert len(decode(out.read_bytes())) == FRAMES


def test_a_torn_last_fragment_is_left_out(live: Run, tmp_path: Path) -> None:
    torn = tmp_path / "torn.mp4"
    data = live.recording.read_bytes()
    complete = list(fragment_ends(data))
    torn.write_bytes(data[: complete[-2] + 1000])  # the last fragment cut 1000 bytes in
    assert complete_length(torn) == complete[-2]
    summary = finish_recording(torn, tmp_path / "vod.mp4")
    assert summary.video_frames == 2 * GOP and summary.torn_bytes == 1000


def fragment_ends(data: bytes) -> Iterator[int]:
    position = 0
    while position < len(data):
        size, kind = struct.unpack_from(">I4s", data, position)
        position += size
        if kind in (b"moov", b"mdat"):
            yield position


CHILD = """
import sys
from vidmesh_services.live.ladder import LADDER_360P, package_flv
def show(name, part, data):
    if name == "720p":
        print(part.fragment.start + part.fragment.duration, flush=True)
package_flv(sys.stdin.buffer.raw, LADDER_360P, lambda name, data: None, show, recording_path=sys.argv[1])
"""


def test_a_recording_killed_mid_stream_reads_up_to_its_last_whole_gop(source: bytes, tmp_path: Path) -> None:
    recording = tmp_path / "killed.mp4"
    env = {**os.environ, "PYTHONPATH": str(REPO / "services")}
    command = [sys.executable, "-c", CHILD, str(recording)]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env) as child:
        assert child.stdin is not None and child.stdout is not None
        feeder = threading.Thread(target=feed_paced, args=(source, child.stdin), daemon=True)
        feeder.start()
        reached = 0.0
        while reached < 4.5:  # the passthrough's progress: past the second keyframe (4 s), into the third GOP
            reached = float(child.stdout.readline() or "inf")
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        feeder.join(10)
    assert reached != float("inf") and child.returncode == -signal.SIGKILL
    frames = decode(recording.read_bytes())
    last = frames[-1].time
    assert last is not None and reached - 2.0 - 0.1 <= last + 1 / FPS <= reached
    assert len(frames) == 2 * GOP  # the GOPs complete at the kill; the one under way is lost
    summary = finish_recording(recording, tmp_path / "vod.mp4")
    assert summary.video_frames == 2 * GOP


def feed_paced(data: bytes, pipe: Any) -> None:
    started = time.monotonic()
    try:
        for stamp, chunk in flv_tags(data):
            time.sleep(max(0.0, started + stamp - time.monotonic()))
            pipe.write(chunk)
            pipe.flush()
    except (BrokenPipeError, ValueError):
        pass  # killed
    finally:
        with contextlib.suppress(BrokenPipeError):
            pipe.close()


def test_a_slow_encoder_drops_frames_but_never_a_keyframe_or_a_part_start(monkeypatch: pytest.MonkeyPatch) -> None:
    slow_mux = ladder._Encoder._mux

    def slowly(self: ladder._Encoder, picture: av.VideoFrame | None) -> None:
        time.sleep(0.06)  # about 16 fps, half the source's rate
        slow_mux(self, picture)

    monkeypatch.setattr(ladder._Encoder, "_mux", slowly)
    collected = Collected()
    with PacedPipe(make_flv(4, size=(640, 360)), speed=1.5) as pipe:
        summary = package_flv(pipe.reader, [RenditionSpec("180p", 180, 200_000)], collected.on_init, collected.on_part)
    health = {rendition.name: rendition for rendition in summary.renditions}
    assert health["180p"].dropped_frames > 10 and health["360p"].dropped_frames == 0
    layouts = {name: [len(segment.parts) for segment in playlist.segments] for name, playlist in collected.playlists.items()}
    assert layouts["180p"] == layouts["360p"] == [6, 6]
    assert all(part.duration <= TARGET for segment in collected.playlists["180p"].segments for part in segment.parts)
    assert len(decode(collected.media("180p"))) == 4 * FPS - health["180p"].dropped_frames


def test_a_source_with_b_frames_gets_encoded_renditions_on_the_same_timeline(tmp_path: Path) -> None:
    path = tmp_path / "obs.flv"
    path.write_bytes(make_flv(4, size=(640, 360), b_frames=2))  # OBS's x264 default
    collected = Collected()
    package_flv(path, [RenditionSpec("180p", 180, 200_000)], collected.on_init, collected.on_part, options=LadderOptions(max_lag=None))
    for playlist in collected.playlists.values():
        assert [len(segment.parts) for segment in playlist.segments] == [6, 6]
        assert all(part.duration <= TARGET for segment in playlist.segments for part in segment.parts)
    source, encoded = decode(collected.media("360p")), decode(collected.media("180p"))
    assert [frame.time for frame in encoded] == [frame.time for frame in source]  # same presentation times, A/V sync kept
    assert source[0].time is not None and source[0].time > 0  # the reordering delay is really there


def test_an_audio_only_publish_is_refused_within_the_probe() -> None:
    started = time.monotonic()
    with PacedPipe(make_flv(4, video=False)) as pipe, pytest.raises(NoVideo):
        LivePackager(pipe.reader, LADDER_360P, lambda *_: None, lambda *_: None)
    assert time.monotonic() - started < 3.0  # 32 KB of 128 kbit/s audio is two seconds


def test_a_sorenson_flv_is_refused() -> None:
    with pytest.raises(UnsupportedCodec, match="'flv'"):
        LivePackager(io.BytesIO(make_flv(1, size=(320, 240), codec="flv")), LADDER_360P, lambda *_: None, lambda *_: None)


def test_a_source_under_360p_gets_the_passthrough_alone_and_offline_mode_keeps_every_frame() -> None:
    collected = Collected()
    renditions = [RenditionSpec("360p", 360, 800_000), RenditionSpec("180p", 180, 200_000)]
    options = LadderOptions(max_lag=None, source_name="source")
    summary = package_flv(io.BytesIO(make_flv(2, size=(480, 270))), renditions, collected.on_init, collected.on_part, options=options)
    assert [rendition.name for rendition in summary.renditions] == ["source", "180p"]
    assert len(decode(collected.media("180p"))) == 2 * FPS and summary.dropped_frames == 0
    assert decode(collected.media("180p"))[0].width == 320
    small = Collected()
    package_flv(io.BytesIO(make_flv(1, size=(320, 240))), LADDER_360P, small.on_init, small.on_part)
    assert set(small.parts) == {"240p"}


def test_a_reconnect_is_a_fresh_session_and_nothing_carries_over() -> None:
    data, renditions = make_flv(2, size=(640, 360)), [RenditionSpec("180p", 180, 200_000)]
    sessions = [Collected(), Collected()]
    for collected in sessions:
        package_flv(io.BytesIO(data), renditions, collected.on_init, collected.on_part, options=LadderOptions(max_lag=None))
        assert ladder_threads() == []
    first, second = (
        [[len(segment.parts) for segment in playlist.segments] for playlist in collected.playlists.values()] for collected in sessions
    )
    assert first == second == [[6], [6]]
    assert [info.fragment for info, _ in sessions[0].parts["180p"]] == [info.fragment for info, _ in sessions[1].parts["180p"]]


def test_clashing_rendition_names_are_refused_and_nothing_is_left_open() -> None:
    with pytest.raises(ValueError, match="unique"):
        LivePackager(io.BytesIO(make_flv(1, size=(640, 360))), [RenditionSpec("360p", 180, 200_000)], lambda *_: None, lambda *_: None)
    assert ladder_threads() == []


def test_a_failing_input_is_flushed_then_raised_and_every_thread_stops() -> None:
    class Failing(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = self._data.read(min(len(buffer), 4096))
            if not chunk:
                raise OSError(5, "Input/output error")  # what FFmpeg's RTMP listener ends every session with
            buffer[: len(chunk)] = chunk
            return len(chunk)

    collected = Collected()
    data = make_flv(2, size=(640, 360))
    with pytest.raises(OSError, match="Input/output"):
        package_flv(Failing(data), [RenditionSpec("180p", 180, 200_000)], collected.on_init, collected.on_part)
    assert ladder_threads() == []
    assert collected.parts["180p"][-1][0].ends_segment and len(decode(collected.media("180p"))) > FPS


def test_a_failing_callback_stops_the_session() -> None:
    def on_part(name: str, part: LivePart, data: bytes) -> None:
        if name == "180p":
            raise RuntimeError("the server went away")

    with pytest.raises(ladder.RenditionFailed, match="server went away"):
        package_flv(io.BytesIO(make_flv(2, size=(640, 360))), [RenditionSpec("180p", 180, 200_000)], lambda *_: None, on_part)
    assert ladder_threads() == []


def test_codec_strings_come_from_avcc_annex_b_and_the_audio_specific_config() -> None:
    assert avc_codec(bytes.fromhex("0164001fffe1")) == "avc1.64001f"
    assert avc_codec(bytes.fromhex("0000000167640028ac") + bytes.fromhex("0000000168ee3cb0")) == "avc1.640028"
    with pytest.raises(UnsupportedCodec):
        avc_codec(None)
    assert aac_codec(bytes.fromhex("1190")) == "mp4a.40.2"
    assert aac_codec(bytes.fromhex("2b92")) == "mp4a.40.5"
    assert aac_codec(bytes.fromhex("f8e0")) == "mp4a.40.39"  # escaped object type: 32 + 7 (ER AAC ELD)
    assert aac_codec(None, "HE-AACv2") == "mp4a.40.29"


def test_no_thread_outlives_a_session(live: Run) -> None:
    assert ladder_threads() == []
