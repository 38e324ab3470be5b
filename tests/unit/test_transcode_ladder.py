"""The rendition ladder and the numbers a master playlist advertises for it: pure logic, no media."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from vidmesh.type.v1 import media_pb2

from vidmesh_services.media import BadMediaError
from vidmesh_services.transcode.ladder import LadderConfig, SourceFacts, output_frame_rate, plan_ladder
from vidmesh_services.transcode.playlists import MediaPlaylist, Segment, avc_codecs, finalize_media_playlists

DEFAULT_LADDER = LadderConfig()


def sizes(source: SourceFacts, config: LadderConfig = DEFAULT_LADDER) -> list[tuple[str, int, int]]:
    return [(plan.name, plan.width, plan.height) for plan in plan_ladder(source, config)]


def test_a_1080p_source_gets_every_rung_up_to_1080p_with_the_reference_bitrates() -> None:
    plans = plan_ladder(SourceFacts(1920, 1080, frame_rate=30))
    assert [(p.name, p.width, p.height, p.bitrate) for p in plans] == [
        ("1080p", 1920, 1080, 8_000_000),
        ("720p", 1280, 720, 5_000_000),
        ("480p", 854, 480, 1_400_000),
        ("360p", 640, 360, 800_000),
        ("240p", 426, 240, 400_000),
        ("144p", 256, 144, 200_000),
    ]
    assert {p.frame_rate for p in plans} == {Fraction(30)}


def test_a_4k_source_adds_1440p_and_2160p() -> None:
    assert sizes(SourceFacts(3840, 2160))[:3] == [("2160p", 3840, 2160), ("1440p", 2560, 1440), ("1080p", 1920, 1080)]
    assert plan_ladder(SourceFacts(3840, 2160))[0].bitrate == 25_000_000


def test_never_upscales() -> None:
    assert sizes(SourceFacts(640, 360)) == [("360p", 640, 360), ("240p", 426, 240), ("144p", 256, 144)]


def test_a_source_just_short_of_a_rung_still_gets_it_at_its_own_size() -> None:
    assert sizes(SourceFacts(1918, 1078))[:2] == [("1080p", 1918, 1078), ("720p", 1282, 720)]


def test_a_source_below_the_smallest_rung_gets_one_rendition_at_its_own_size() -> None:
    assert sizes(SourceFacts(160, 90)) == [("90p", 160, 90)]
    assert sizes(SourceFacts(99, 75)) == [("74p", 98, 74)]
    assert plan_ladder(SourceFacts(160, 90))[0].bitrate == 200_000


def test_odd_sizes_become_even_without_growing() -> None:
    assert sizes(SourceFacts(321, 241)) == [("240p", 320, 240), ("144p", 192, 144)]


@pytest.mark.parametrize("rotation", [90, 270])
def test_a_sideways_rotation_stands_the_ladder_up(rotation: int) -> None:
    assert sizes(SourceFacts(1920, 1080, rotation=rotation))[:2] == [("1080p", 1080, 1920), ("720p", 720, 1280)]


def test_a_portrait_source_is_named_by_its_short_side() -> None:
    assert sizes(SourceFacts(1080, 1920))[:2] == [("1080p", 1080, 1920), ("720p", 720, 1280)]
    assert sizes(SourceFacts(1920, 1080, rotation=180))[0] == ("1080p", 1920, 1080)


def test_anamorphic_pixels_are_squared() -> None:
    assert sizes(SourceFacts(720, 480, sample_aspect_ratio=Fraction(32, 27))) == [
        ("480p", 852, 480),
        ("360p", 640, 360),
        ("240p", 426, 240),
        ("144p", 256, 144),
    ]


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1280, 536), (3840, 1600), (1080, 1350), (333, 777)])
def test_every_rendition_is_even_within_the_source_and_keeps_its_aspect(width: int, height: int) -> None:
    for plan in plan_ladder(SourceFacts(width, height)):
        assert plan.width % 2 == 0 and plan.height % 2 == 0
        assert plan.width <= width and plan.height <= height
        assert plan.width / plan.height == pytest.approx(width / height, rel=0.02)


def test_peak_rate_and_buffer_follow_the_target_bitrate() -> None:
    plan = plan_ladder(SourceFacts(1280, 720), LadderConfig(peak_bitrate_ratio=1.5, buffer_seconds=2))[0]
    assert (plan.bitrate, plan.max_bitrate, plan.buffer_size) == (5_000_000, 7_500_000, 10_000_000)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (30.0, Fraction(30)),
        (29.97, Fraction(30000, 1001)),
        (23.976, Fraction(24000, 1001)),
        (25.0, Fraction(25)),
        (29.87, Fraction(30000, 1001)),  # variable-rate phone videos' averages
        (30.2, Fraction(30)),
        (59.94, Fraction(60000, 1001)),
        (120.0, Fraction(60)),
        (119.88, Fraction(60000, 1001)),
        (60.05, Fraction(60)),  # a variable 60 fps average a hair above the cap is not halved
        (100.0, Fraction(50)),
        (90.0, Fraction(45)),
        (12.5, Fraction(25, 2)),
        (0.0, Fraction(30)),  # unknown
    ],
)
def test_frame_rate_is_kept_and_divided_down_to_at_most_60(source: float, expected: Fraction) -> None:
    assert output_frame_rate(source, 60) == expected


@pytest.mark.parametrize(("width", "height"), [(9000, 100), (100, 9000), (8192, 4608)])
def test_absurd_dimensions_are_refused(width: int, height: int) -> None:
    with pytest.raises(BadMediaError) as raised:
        plan_ladder(SourceFacts(width, height))
    assert raised.value.reason == "DIMENSIONS_TOO_LARGE"
    assert f"{width}x{height}" in str(raised.value)


def test_8k_is_still_accepted() -> None:
    assert plan_ladder(SourceFacts(7680, 4320))[0].name == "2160p"


def test_a_picture_without_size_is_refused() -> None:
    with pytest.raises(BadMediaError, match="0x0") as raised:
        plan_ladder(SourceFacts(0, 0))
    assert raised.value.reason == "NO_PICTURE_SIZE"


def test_source_facts_come_from_a_probe() -> None:
    info = media_pb2.MediaInfo(width=1920, height=1080, rotation=270, frame_rate=29.97)
    assert SourceFacts.from_media_info(info) == SourceFacts(1920, 1080, rotation=270, frame_rate=29.97)


def test_peak_bitrate_is_measured_over_windows_of_half_to_one_and_a_half_targets() -> None:
    playlist = MediaPlaylist(
        "init.mp4",
        (
            Segment("0.m4s", 6.0, 600_000),  # 800 kb/s
            Segment("1.m4s", 6.0, 900_000),  # 1.2 Mb/s: the peak
            Segment("2.m4s", 6.0, 600_000),
            Segment("3.m4s", 0.1, 60_000),  # a short last segment: 4.8 Mb/s alone, but no window of its own
        ),
    )
    assert playlist.target_duration == 6
    assert playlist.peak_bitrate() == 1_200_000
    assert playlist.average_bitrate() == pytest.approx(2_160_000 * 8 / 18.1, abs=1)


def test_a_playlist_shorter_than_half_a_target_is_measured_whole() -> None:
    playlist = MediaPlaylist("init.mp4", (Segment("0.m4s", 0.4, 10_000),))
    assert playlist.target_duration == 1
    assert playlist.peak_bitrate() == playlist.average_bitrate() == 200_000


def test_target_duration_is_never_below_a_segment(tmp_path: Path) -> None:
    (tmp_path / "a.m4s").write_bytes(b"x" * 100)
    muxed = tmp_path / "index.m3u8"
    muxed.write_text('#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:6.006000,\na.m4s\n#EXT-X-ENDLIST\n')
    assert finalize_media_playlists([muxed])[0].segments == (Segment("a.m4s", 6.006, 100),)
    assert "#EXT-X-TARGETDURATION:7\n" in muxed.read_text()


def test_every_playlist_of_a_version_gets_one_target_duration(tmp_path: Path) -> None:
    """Apple's HLS authoring specification: the audio and video playlists of a master share one target."""
    video, audio = tmp_path / "video.m3u8", tmp_path / "audio.m3u8"
    for path, duration in ((video, 6.0), (audio, 6.016)):  # AAC frames rarely end on a whole 6 s
        (tmp_path / f"{path.stem}.m4s").write_bytes(b"x")
        path.write_text(f'#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:{duration:.6f},\n{path.stem}.m4s\n#EXT-X-ENDLIST\n')
    finalize_media_playlists([video, audio])
    assert "#EXT-X-TARGETDURATION:7\n" in video.read_text() and "#EXT-X-TARGETDURATION:7\n" in audio.read_text()


def test_codecs_come_from_the_sps_in_either_form() -> None:
    sps = bytes.fromhex("6764001facd9")
    assert avc_codecs(b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01\x68\xeb\xe3") == "avc1.64001f"
    assert avc_codecs(bytes.fromhex("0164001fffe1") + sps) == "avc1.64001f"
    with pytest.raises(ValueError, match="no sequence parameter set"):
        avc_codecs(b"\x00\x00\x00\x01\x68\xeb\xe3")
