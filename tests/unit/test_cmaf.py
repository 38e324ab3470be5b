"""The CMAF sink and the FLV remuxer on real PyAV output: synthetic x264+AAC FLV in, LL-HLS parts out."""

from __future__ import annotations

import io
import itertools
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from vidmesh_services.live.cmaf import CmafSink, FragmentInfo
from vidmesh_services.live.llhls import LivePlaylist
from vidmesh_services.live.remux import FLV_INPUT_OPTIONS, LivePart, RemuxSummary, _PartAssembler, remux_flv

FPS = 30
SECONDS = 4
FRAMES = FPS * SECONDS
TARGET = 0.334  # PART-TARGET: 10 frames at 30 fps, whose millisecond timestamps span 333 or 334 ms


def make_flv(gop: int, b_frames: int) -> bytes:
    """4 s of 640x360 30 fps H.264 (fixed GOP) and 48 kHz stereo AAC, muxed into FLV in memory."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flv") as flv:
        video = flv.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 640, 360, "yuv420p"
        video.options = {"preset": "ultrafast", "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": str(b_frames)}
        audio = flv.add_stream("aac", rate=48000, layout="stereo")
        picture = np.zeros((360, 640, 3), np.uint8)
        for index in range(FRAMES):
            picture[:] = index * 2
            picture[index * 3 % 360] = 255  # a moving line, so P-frames carry something
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            flv.mux(video.encode(frame))
        flv.mux(video.encode(None))
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(48000 * SECONDS) / 48000)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            samples = np.ascontiguousarray(np.stack([tone[start : start + 1024]] * 2))
            chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
            chunk.sample_rate, chunk.pts = 48000, start
            flv.mux(audio.encode(chunk))
        flv.mux(audio.encode(None))
    return buffer.getvalue()


@dataclass(frozen=True)
class Remuxed:
    init: bytes
    parts: list[tuple[LivePart, bytes]]
    summary: RemuxSummary

    @property
    def infos(self) -> list[FragmentInfo]:
        return [part.fragment for part, _ in self.parts]

    @property
    def media(self) -> bytes:
        return self.init + b"".join(data for _, data in self.parts)


def remux(source: bytes | Path, **options: Any) -> Remuxed:
    inits: list[bytes] = []
    parts: list[tuple[LivePart, bytes]] = []
    flv = str(source) if isinstance(source, Path) else io.BytesIO(source)
    summary = remux_flv(flv, inits.append, lambda part, data: parts.append((part, data)), **options)
    assert len(inits) == 1
    return Remuxed(inits[0], parts, summary)


@pytest.fixture(scope="module")
def gop_2s() -> bytes:
    return make_flv(gop=60, b_frames=0)


@pytest.fixture(scope="module")
def gop_1s() -> bytes:
    return make_flv(gop=30, b_frames=0)


@pytest.fixture(scope="module")
def b_frames() -> bytes:
    return make_flv(gop=60, b_frames=3)


def boxes(data: bytes) -> list[bytes]:
    kinds, position = [], 0
    while position < len(data):
        size, kind = struct.unpack_from(">I4s", data, position)
        kinds.append(kind)
        position += size
    return kinds


def decoded_frames(media: bytes) -> tuple[int, list[tuple[int, int]]]:
    """How many pictures the file decodes to, and its video packets' (dts, pts)."""
    with av.open(io.BytesIO(media), "r") as mp4:
        timestamps = [(packet.dts, packet.pts) for packet in mp4.demux(video=0) if packet.dts is not None and packet.pts is not None]
    with av.open(io.BytesIO(media), "r") as mp4:
        frames = len(list(mp4.decode(video=0)))
    return frames, timestamps


def test_the_init_segment_is_ftyp_and_moov(gop_2s: bytes) -> None:
    result = remux(gop_2s)
    assert boxes(result.init) == [b"ftyp", b"moov"]
    for _, data in result.parts:
        assert boxes(data) == [b"moof", b"mdat"]


def test_two_second_gops_make_six_whole_frame_parts_per_two_second_segment(gop_2s: bytes) -> None:
    result = remux(gop_2s, part_target=TARGET)
    infos = result.infos
    assert len(infos) == 12 and all(info.samples == 10 for info in infos)
    assert all(info.duration <= TARGET and info.duration == pytest.approx(1 / 3, abs=0.001) for info in infos)
    assert [index for index, info in enumerate(infos) if info.independent] == [0, 6]
    assert [index for index, (part, _) in enumerate(result.parts) if part.ends_segment] == [5, 11]
    assert result.summary.frag_duration_us == 333_000
    starts = [info.start for info in infos]
    assert starts[0] == 0 and starts[6] == pytest.approx(2.0)
    for info, following in itertools.pairwise(infos):  # tfdt grows by exactly the part's duration
        assert following.decode_time == info.decode_time + round(info.duration * info.timescale)


def test_the_parts_concatenate_into_a_file_that_decodes_every_frame(gop_2s: bytes) -> None:
    result = remux(gop_2s)
    frames, _ = decoded_frames(result.media)
    assert frames == FRAMES == result.summary.video_packets
    with av.open(io.BytesIO(result.media), "r") as mp4:
        assert [stream.type for stream in mp4.streams] == ["video", "audio"]
        assert len(list(mp4.decode(audio=0))) == result.summary.audio_packets


def test_the_playlist_built_from_the_parts_has_two_second_segments(gop_2s: bytes) -> None:
    playlist = LivePlaylist()
    result = remux(gop_2s)
    playlist.begin_session(result.init)
    for part, data in result.parts:
        playlist.add_part(data, part.fragment.duration, part.fragment.independent, ends_segment=part.ends_segment)
    playlist.end()
    assert [segment.duration for segment in playlist.segments] == [pytest.approx(2.0), pytest.approx(2.0)]
    text = playlist.render()
    assert "#EXTINF:2.00000," in text and "#EXT-X-PART-INF:PART-TARGET=0.33400" in text
    assert playlist.part_target == TARGET  # no part made it raise the declared target
    frames, _ = decoded_frames(result.init + (playlist.segment(0) or b"") + (playlist.segment(1) or b""))
    assert frames == FRAMES


def test_one_second_gops_make_three_parts_per_segment(gop_1s: bytes) -> None:
    infos = remux(gop_1s).infos
    assert [info.independent for info in infos] == [True, False, False] * 4
    assert [round(info.start, 3) for info in infos if info.independent] == [0.0, 1.0, 2.0, 3.0]
    assert all(info.duration <= TARGET for info in infos)


def test_b_frames_keep_durations_and_independence_and_bring_composition_offsets(b_frames: bytes) -> None:
    result = remux(b_frames)
    infos = result.infos
    assert [index for index, info in enumerate(infos) if info.independent] == [0, 6]
    assert all(info.samples == 10 and info.duration <= TARGET for info in infos)
    assert sum(info.duration for info in infos) == pytest.approx(SECONDS, abs=0.002)
    frames, timestamps = decoded_frames(result.media)
    assert frames == FRAMES
    assert any(pts != dts for dts, pts in timestamps)  # presentation order differs: trun has composition offsets
    assert [dts for dts, _ in timestamps] == sorted(dts for dts, _ in timestamps)


def test_a_part_target_of_a_third_of_a_second_gets_nine_frame_parts(gop_2s: bytes) -> None:
    # 10 frames can span 334 ms > 1/3 s, so an honest cut takes 9 (and a 6-frame remainder before the keyframe).
    infos = remux(gop_2s, part_target=1 / 3).infos
    assert [info.samples for info in infos[:7]] == [9, 9, 9, 9, 9, 9, 6]
    assert max(info.duration for info in infos) <= 1 / 3


def test_a_file_path_works_too(gop_1s: bytes, tmp_path: Path) -> None:
    path = tmp_path / "in.flv"
    path.write_bytes(gop_1s)
    assert len(remux(path).parts) == 12


def test_nobuffer_loses_the_probed_first_keyframe_and_the_remuxer_waits_for_the_next(gop_2s: bytes) -> None:
    result = remux(gop_2s, input_options={**FLV_INPUT_OPTIONS, "fflags": "nobuffer"})
    assert result.summary.skipped > 0
    assert result.infos[0].independent and result.infos[0].start == 0
    assert result.summary.video_packets == FRAMES - 60  # only the second GOP is left


@pytest.mark.parametrize("chunk", [1, 7, 4096, None])
def test_the_sink_parses_boxes_whatever_the_write_sizes(gop_2s: bytes, chunk: int | None) -> None:
    expected = remux(gop_2s)
    inits: list[bytes] = []
    fragments: list[tuple[FragmentInfo, bytes]] = []
    sink = CmafSink(inits.append, lambda info, data: fragments.append((info, data)))
    media = expected.media + b"\x00\x00\x00\x08mfra"  # the index the muxer appends on close is dropped
    step = chunk or len(media)
    for start in range(0, len(media), step):
        sink.write(media[start : start + step])
    assert inits == [expected.init]
    assert fragments == [(part.fragment, data) for part, data in expected.parts]
    assert sink.leftover == 0
    assert [track.handler for track in sink.tracks] == ["vide", "soun"]


# --- hand-built boxes: defaults from tfhd and trex, and a video track that is not the first --------


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", version << 24 | flags), *payload)


def trak(track_id: int, handler: bytes, timescale: int) -> bytes:
    tkhd = full(b"tkhd", 0, 3, struct.pack(">III", 0, 0, track_id), bytes(68))
    mdhd = full(b"mdhd", 0, 0, struct.pack(">IIII", 0, 0, timescale, 0), bytes(4))
    hdlr = full(b"hdlr", 0, 0, bytes(4), handler, bytes(13))
    return box(b"trak", tkhd, box(b"mdia", mdhd, hdlr))


NON_SYNC = 0x10000


def init_segment(video_trex_duration: int, video_trex_flags: int) -> bytes:
    trex_audio = full(b"trex", 0, 0, struct.pack(">5I", 1, 1, 1024, 0, 0))
    trex_video = full(b"trex", 0, 0, struct.pack(">5I", 2, 1, video_trex_duration, 0, video_trex_flags))
    moov = box(b"moov", trak(1, b"soun", 48000), trak(2, b"vide", 90000), box(b"mvex", trex_audio, trex_video))
    return box(b"ftyp", b"iso6", bytes(4)) + moov


def traf(track_id: int, tfhd_flags: int, tfhd_fields: bytes, decode_time: int, trun_flags: int, count: int, rows: bytes) -> bytes:
    tfhd = full(b"tfhd", 0, tfhd_flags, struct.pack(">I", track_id), tfhd_fields)
    tfdt = full(b"tfdt", 1, 0, struct.pack(">Q", decode_time))
    trun = full(b"trun", 0, trun_flags, struct.pack(">I", count), rows)
    return box(b"traf", tfhd, tfdt, trun)


def one_fragment(init: bytes, *trafs: bytes) -> FragmentInfo:
    fragments: list[FragmentInfo] = []
    sink = CmafSink(lambda _: None, lambda info, _: fragments.append(info))
    sink.write(init + box(b"moof", full(b"mfhd", 0, 0, struct.pack(">I", 7)), *trafs) + box(b"mdat", bytes(10)))
    assert len(fragments) == 1
    return fragments[0]


def test_durations_and_sync_come_from_trex_when_the_fragment_says_nothing() -> None:
    audio = traf(1, 0x20000, b"", 0, 0x100, 2, struct.pack(">II", 1024, 1024))
    video = traf(2, 0x20000, b"", 180000, 0x200, 3, struct.pack(">III", 10, 10, 10))  # sizes only
    info = one_fragment(init_segment(3000, 0), audio, video)
    assert (info.sequence, info.samples, info.duration, info.independent, info.start) == (7, 3, 0.1, True, 2.0)


def test_tfhd_defaults_override_trex_and_first_sample_flags_override_both() -> None:
    tfhd_fields = struct.pack(">II", 1500, NON_SYNC)  # default duration and flags
    video = traf(2, 0x20000 | 0x08 | 0x20, tfhd_fields, 0, 0x200, 4, struct.pack(">IIII", 1, 1, 1, 1))
    info = one_fragment(init_segment(3000, 0), video)
    assert (info.duration, info.independent) == (4 * 1500 / 90000, False)
    first_is_sync = traf(2, 0x20000 | 0x08 | 0x20, tfhd_fields, 0, 0x004, 2, struct.pack(">I", 0x02000000))  # first_sample_flags
    assert one_fragment(init_segment(3000, NON_SYNC), first_is_sync).independent


def test_per_sample_flags_and_durations_win() -> None:
    rows = struct.pack(">IIII", 3003, NON_SYNC, 3003, NON_SYNC)  # duration and flags per sample: not a sync sample
    video = traf(2, 0x20000, b"", 0, 0x100 | 0x400, 2, rows)
    info = one_fragment(init_segment(1, 0), video)
    assert (info.duration, info.independent) == (6006 / 90000, False)


# --- when a part learns that it ends its segment ----------------------------------------------------


def info(samples: int, independent: bool = False) -> FragmentInfo:
    return FragmentInfo(1, samples / 30, independent, 0, 30, samples)


def test_a_part_is_handed_on_as_soon_as_the_next_video_packet_is_known() -> None:
    seen: list[tuple[int, bool]] = []
    assembler = _PartAssembler(lambda part, data: seen.append((part.fragment.samples, part.ends_segment)))
    for key in (True, False, False):
        assembler.video_packet(key)
    assembler.video_packet(True)  # muxing this keyframe is what makes the muxer write the fragment
    assembler.fragment(info(3, True), b"a")
    assert seen == [(3, True)]
    assembler.fragment(info(1, True), b"b")  # cut on an audio packet: the next video packet is not muxed yet
    assert seen == [(3, True)]
    assembler.video_packet(False)
    assert seen == [(3, True), (1, False)]
    assembler.fragment(info(0), b"audio only")  # travels with the next part
    assembler.fragment(info(1), b"c")
    assembler.finish()
    assert seen == [(3, True), (1, False), (1, True)]
