"""The transcoding pipeline on generated media, every rendition read back with PyAV and m3u8."""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import m3u8
import pytest

from tests.support.media import (
    make_audio_only,
    make_full_chroma_video,
    make_ntsc_rate_video,
    make_odd_sized_video,
    make_rotated_video,
    make_sound_with_empty_video_track,
    make_ten_bit_video,
    make_variable_rate_video,
    make_video,
    make_video_with_empty_audio_track,
    remux,
)
from vidmesh_services.media import BadMediaError
from vidmesh_services.transcode.ladder import LadderConfig, SourceFacts, plan_ladder
from vidmesh_services.transcode.pipeline import TranscodeConfig, TranscodeResult, transcode
from vidmesh_services.transcode.playlists import avc_codecs
from vidmesh_services.transcode.previews import PreviewConfig
from vidmesh_services.transcode.source import probe_source

# One-second segments and thumbnails, so clips of a few seconds have several of each.
CONFIG = TranscodeConfig(
    ladder=LadderConfig(segment_seconds=1.0, keyframe_seconds=1.0), previews=PreviewConfig(storyboard_interval_seconds=1.0)
)
PROFILE_IDC = {"High": 0x64, "Main": 0x4D, "Constrained Baseline": 0x42}


def run(source: Path, out: Path, config: TranscodeConfig = CONFIG) -> TranscodeResult:
    return transcode(source, out, plan_ladder(probe_source(source), config.ladder), config)


@dataclass(frozen=True)
class Track:
    """One rendition or the audio track, as a player would fetch it."""

    playlist: m3u8.M3U8
    segment_starts: list[float]  # presentation time of each segment's first frame
    segments_open_on_keyframes: bool
    keyframe_ticks: list[int]  # packet numbers (in presentation order) of the keyframes
    start: float
    end: float
    packet_durations: set[Fraction]
    codec: av.codec.context.CodecContext
    first_frame: av.VideoFrame | av.AudioFrame

    @property
    def duration(self) -> float:
        return self.end - self.start


def read_track(folder: Path) -> Track:
    playlist = m3u8.load(str(folder / "index.m3u8"))
    init = (folder / playlist.segment_map[0].uri).read_bytes()
    segments = [(folder / segment.uri).read_bytes() for segment in playlist.segments]
    starts, keyframes = [], True
    for segment in segments:
        with av.open(io.BytesIO(init + segment)) as container:
            first = next(packet for packet in container.demux() if packet.pts is not None)
            starts.append(float(first.pts * first.time_base))
            keyframes = keyframes and first.is_keyframe
    with av.open(io.BytesIO(init + b"".join(segments))) as container:
        stream = container.streams[0]
        packets = [packet for packet in container.demux(stream) if packet.pts is not None]
        in_order = sorted(packets, key=lambda packet: packet.pts)
        container.seek(0)
        first_frame = next(container.decode(stream))
        return Track(
            playlist=playlist,
            segment_starts=starts,
            segments_open_on_keyframes=keyframes,
            keyframe_ticks=[tick for tick, packet in enumerate(in_order) if packet.is_keyframe],
            start=float(min(p.pts for p in packets) * stream.time_base),
            end=float(max(p.pts + p.duration for p in packets) * stream.time_base),
            packet_durations={p.duration * stream.time_base for p in packets},
            codec=stream.codec_context,
            first_frame=first_frame,
        )


def video_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return float((frames[-1].pts + frames[-1].duration - frames[0].pts) * frames[0].time_base)


def check_ladder(source: Path, out: Path, result: TranscodeResult) -> dict[str, Track]:
    """Everything every ladder must satisfy; returns the tracks read back, by rendition name."""
    master = m3u8.load(str(out / result.master_playlist))
    assert [p.uri for p in master.playlists] == [r.playlist_path for r in result.renditions]
    audio = read_track(out / "audio") if result.has_audio else None
    assert [media.uri for media in master.media] == (["audio/index.m3u8"] if audio else [])
    tracks = {}
    for variant, rendition in zip(master.playlists, result.renditions, strict=True):
        plan, info = rendition.plan, variant.stream_info
        frame_time = float(1 / plan.frame_rate)
        track = tracks[plan.name] = read_track(out / plan.name)

        assert info.resolution == (plan.width, plan.height)
        assert info.frame_rate == round(float(plan.frame_rate), 3)
        assert info.bandwidth == rendition.bandwidth >= info.average_bandwidth == rendition.average_bandwidth > 0
        assert info.audio == ("audio" if audio else None)

        assert track.playlist.is_endlist and track.playlist.playlist_type == "vod"
        assert all(segment.duration <= track.playlist.target_duration for segment in track.playlist.segments)
        assert track.segments_open_on_keyframes
        assert track.packet_durations == {1 / plan.frame_rate}  # a constant frame rate
        assert track.duration == pytest.approx(video_seconds(source), abs=frame_time)
        assert (track.first_frame.width, track.first_frame.height) == (plan.width, plan.height)
        assert track.first_frame.format.name == "yuv420p"

        video_codecs, *audio_codecs = info.codecs.split(",")
        assert video_codecs == avc_codecs(bytes(track.codec.extradata))
        assert int(video_codecs[5:7], 16) == PROFILE_IDC[track.codec.profile]
        assert int(video_codecs[9:11], 16) == track.codec.level
        if audio:
            assert audio_codecs == ["mp4a.40.2"] and audio.codec.profile == "LC"
            assert audio.duration == pytest.approx(track.duration, abs=frame_time)
            priming = 1024 / audio.codec.sample_rate  # AAC's encoder delay, before the first real sample
            assert audio.start + priming == pytest.approx(track.start, abs=0.005)  # in sync
        else:
            assert audio_codecs == []
    # Keyframes aligned across the ladder: every rendition cuts its segments at the same instants.
    assert len({tuple(track.segment_starts) for track in tracks.values()}) == 1
    if audio:
        assert all(segment.duration <= audio.playlist.target_duration for segment in audio.playlist.segments)
    # Apple's HLS authoring specification: one target duration across the playlists of a master.
    playlists = [track.playlist for track in tracks.values()] + ([audio.playlist] if audio else [])
    assert len({playlist.target_duration for playlist in playlists}) == 1
    return tracks


def test_a_video_becomes_a_full_ladder(tmp_path: Path) -> None:
    source = make_video(tmp_path / "source.mp4", seconds=3.0)
    result = run(source, tmp_path / "out")
    tracks = check_ladder(source, tmp_path / "out", result)
    assert [r.plan.name for r in result.renditions] == ["240p", "144p"]
    assert len(tracks["240p"].segment_starts) == 3
    assert result.duration_seconds == 3.0 and result.has_audio
    proto = result.renditions[0].to_proto()
    assert (proto.name, proto.width, proto.height, proto.playlist_path) == ("240p", 320, 240, "240p/index.m3u8")
    assert proto.codecs == result.renditions[0].codecs and proto.frame_rate == 25.0


def test_poster_and_storyboard(tmp_path: Path) -> None:
    source = make_video(tmp_path / "source.mp4", seconds=3.0)
    result = run(source, tmp_path / "out")
    with av.open(str(tmp_path / "out" / result.poster)) as poster:
        assert (poster.streams.video[0].width, poster.streams.video[0].height) == (320, 240)
    track = (tmp_path / "out" / result.storyboard).read_text()
    cues = [block.splitlines() for block in track.split("\n\n")[1:] if block.strip()]
    assert track.startswith("WEBVTT\n")
    assert [cue[0] for cue in cues] == [
        "00:00:00.000 --> 00:00:01.000",
        "00:00:01.000 --> 00:00:02.000",
        "00:00:02.000 --> 00:00:03.000",
    ]
    assert [cue[1] for cue in cues] == [f"sprite-000.jpg#xywh={x},0,160,120" for x in (0, 160, 320)]
    with av.open(str(tmp_path / "out" / "storyboard" / "sprite-000.jpg")) as sprite:
        assert (sprite.streams.video[0].width, sprite.streams.video[0].height) == (480, 120)


def test_a_video_shorter_than_a_segment_gets_one_segment(tmp_path: Path) -> None:
    source = make_video(tmp_path / "source.mp4", seconds=0.6)
    result = run(source, tmp_path / "out", TranscodeConfig())  # 6 s segments
    tracks = check_ladder(source, tmp_path / "out", result)
    assert all(len(track.playlist.segments) == 1 and track.playlist.target_duration == 1 for track in tracks.values())


def test_a_longer_ntsc_video_with_default_settings(tmp_path: Path) -> None:
    source = make_ntsc_rate_video(tmp_path / "source.mp4", seconds=14.0)
    result = run(source, tmp_path / "out", TranscodeConfig())
    tracks = check_ladder(source, tmp_path / "out", result)
    # 6 s boundaries fall between frames at 29.97 fps: segments of 6.006 s need a target of 7.
    playlist = tracks["240p"].playlist
    assert [segment.duration for segment in playlist.segments][:2] == [6.006, 6.006]
    assert playlist.target_duration == 7
    assert result.renditions[0].plan.frame_rate == Fraction(30000, 1001)
    # An IDR frame on the first frame at or after every 2 s, as the authoring specification
    # recommends, not only where a segment starts: frames 0, 60 (2.002 s), 120, 180, ...
    rate = Fraction(30000, 1001)
    expected = [math.ceil(k * 2 * rate) for k in range(math.ceil(len(playlist.segments) * 3))]
    for track in tracks.values():
        assert track.keyframe_ticks == [tick for tick in expected if tick < track.duration * rate - 0.5]


def test_a_video_without_sound_gets_a_video_only_ladder(tmp_path: Path) -> None:
    source = make_video(tmp_path / "source.mp4", audio=False)
    result = run(source, tmp_path / "out")
    check_ladder(source, tmp_path / "out", result)
    assert not result.has_audio and not (tmp_path / "out" / "audio").exists()


def test_an_audio_track_without_sound_is_left_out(tmp_path: Path) -> None:
    source = make_video_with_empty_audio_track(tmp_path / "source.mkv")
    result = run(source, tmp_path / "out")
    check_ladder(source, tmp_path / "out", result)
    assert not result.has_audio and not (tmp_path / "out" / "audio").exists()


def test_a_rotated_phone_video_comes_out_upright(tmp_path: Path) -> None:
    source = make_rotated_video(tmp_path / "source.mp4")
    result = run(source, tmp_path / "out")
    tracks = check_ladder(source, tmp_path / "out", result)
    assert [(r.plan.width, r.plan.height) for r in result.renditions] == [(240, 320), (144, 192)]
    picture = tracks["240p"].first_frame.planes[0]
    rows = [bytes(picture)[row * picture.line_size : row * picture.line_size + 240] for row in (10, 310)]
    top, bottom = (sum(row) / len(row) for row in rows)
    assert top > 200 > 50 > bottom  # the bright half is on top, as the display matrix says


def test_variable_frame_rate_becomes_constant(tmp_path: Path) -> None:
    source = make_variable_rate_video(tmp_path / "source.mp4")
    result = run(source, tmp_path / "out")
    check_ladder(source, tmp_path / "out", result)  # which checks every frame lasts as long
    assert result.renditions[0].plan.frame_rate == Fraction(29)


def test_odd_dimensions_become_even(tmp_path: Path) -> None:
    source = make_odd_sized_video(tmp_path / "source.mp4", 321, 241)
    result = run(source, tmp_path / "out")
    check_ladder(source, tmp_path / "out", result)
    assert [(r.plan.width, r.plan.height) for r in result.renditions] == [(320, 240), (192, 144)]


@pytest.mark.parametrize("make", [make_ten_bit_video, make_full_chroma_video], ids=["10-bit", "4:4:4"])
def test_deep_colour_becomes_8_bit_4_2_0_high_profile(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    source = make(tmp_path / "source.mkv")
    result = run(source, tmp_path / "out")
    tracks = check_ladder(source, tmp_path / "out", result)  # which checks yuv420p and the profile
    assert {track.codec.profile for track in tracks.values()} == {"High"}


# ---- bad media: a clear BadMediaError, quickly, and no encoder thread left behind ----

PLAN_320x240 = plan_ladder(SourceFacts(320, 240, frame_rate=25))


def zero_length(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def not_media(path: Path) -> Path:
    path.write_bytes(bytes(range(256)) * 400)
    return path


def cut_short(path: Path) -> Path:
    """An MP4 with its index first (as phones and web uploads write it) that ends 40% early."""
    streamable = remux(make_video(path.with_name("whole.mp4"), seconds=3.0), path.with_name("fast.mp4"), movflags="faststart")
    data = streamable.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    return path


def damaged(path: Path) -> Path:
    data = bytearray(make_video(path.with_name("whole.mp4"), seconds=3.0).read_bytes())
    data[len(data) * 4 // 10 : len(data) * 6 // 10] = b"\xff" * (len(data) * 6 // 10 - len(data) * 4 // 10)
    path.write_bytes(bytes(data))
    return path


def undecodable_codec(path: Path) -> Path:
    path.write_bytes(make_video(path.with_name("whole.mp4")).read_bytes().replace(b"avc1", b"zzz1"))
    return path


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (zero_length, "UNREADABLE_MEDIA"),
        (not_media, "UNREADABLE_MEDIA"),
        (cut_short, "CORRUPT_MEDIA"),
        (damaged, "CORRUPT_MEDIA"),
        (undecodable_codec, "UNDECODABLE_VIDEO"),
        (make_sound_with_empty_video_track, "UNDECODABLE_VIDEO"),
        (make_audio_only, "NO_VIDEO_STREAM"),
    ],
)
def test_bad_media_fails_with_a_reason(tmp_path: Path, make: Callable[[Path], Path], reason: str) -> None:
    source = make(tmp_path / "source.mp4")
    with pytest.raises(BadMediaError) as raised:
        transcode(source, tmp_path / "out", PLAN_320x240, CONFIG)
    assert raised.value.reason == reason and str(raised.value)
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("encode-")]


def test_absurd_dimensions_are_refused_before_encoding(tmp_path: Path) -> None:
    source = make_video(tmp_path / "source.mp4", width=8194, height=32, seconds=0.2, audio=False)
    with pytest.raises(BadMediaError) as raised:
        plan_ladder(probe_source(source))
    assert raised.value.reason == "DIMENSIONS_TOO_LARGE"


def test_a_folder_with_earlier_output_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "master.m3u8").write_text("#EXTM3U\n")
    with pytest.raises(ValueError, match="not empty"):
        transcode(make_video(tmp_path / "source.mp4"), tmp_path / "out", PLAN_320x240, CONFIG)


def test_a_progress_callback_can_cancel(tmp_path: Path) -> None:
    class Cancelled(Exception):
        pass

    def cancel_halfway(stage: str, percent: float) -> None:
        if percent >= 50:
            raise Cancelled()

    source = make_video(tmp_path / "source.mp4", seconds=2.0)
    with pytest.raises(Cancelled):
        transcode(source, tmp_path / "out", PLAN_320x240, CONFIG, cancel_halfway)
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("encode-")]


def test_progress_runs_through_encoding_then_packaging(tmp_path: Path) -> None:
    reports: list[tuple[str, float]] = []
    source = make_video(tmp_path / "source.mp4", seconds=2.0)
    transcode(source, tmp_path / "out", PLAN_320x240, CONFIG, lambda stage, percent: reports.append((stage, percent)))
    encoding = [percent for stage, percent in reports if stage == "encoding"]
    assert encoding == sorted(encoding) and encoding[-1] >= 95
    assert reports[-2:] == [("packaging", 0.0), ("packaging", 100.0)]
