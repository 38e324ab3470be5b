"""The LL-HLS live playlist model: rendering rules, the sliding window, restarts, the end, and blocking reloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import m3u8
import pytest

from vidmesh_services.live.llhls import (
    DirectiveError,
    LivePlaylist,
    PlaylistConfig,
    Rendition,
    RenditionReport,
    master_playlist,
    parse_directives,
    satisfies,
)

PART = 0.334
T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def feed_gop(playlist: LivePlaylist, parts: int = 6, duration: float = PART, *, tell_end: bool = True, start: datetime = T0) -> None:
    """One GOP as the remuxer delivers it: a keyframe part, then the rest, the last one flagged."""
    for index in range(parts):
        data = f"{playlist.preload_hint}".encode()
        playlist.add_part(data, duration, index == 0, ends_segment=tell_end and index == parts - 1, wall_clock=start)


def lines(playlist: LivePlaylist, *reports: RenditionReport) -> list[str]:
    return playlist.render(reports).splitlines()


def started(config: PlaylistConfig | None = None) -> LivePlaylist:
    playlist = LivePlaylist(config)
    playlist.begin_session(b"init0")
    return playlist


def test_the_header_declares_version_targets_and_blocking_reload() -> None:
    playlist = started()
    feed_gop(playlist, parts=2, tell_end=False)
    assert lines(playlist)[:7] == [
        "#EXTM3U",
        "#EXT-X-VERSION:9",
        "#EXT-X-TARGETDURATION:2",
        "#EXT-X-PART-INF:PART-TARGET=0.33400",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.00200",
        "#EXT-X-MEDIA-SEQUENCE:0",
        '#EXT-X-MAP:URI="init-0.mp4"',
    ]


def test_an_open_segment_lists_its_parts_and_hints_the_next_one() -> None:
    playlist = started()
    feed_gop(playlist, parts=2, tell_end=False)
    body = lines(playlist)[7:]
    assert body == [
        "#EXT-X-PROGRAM-DATE-TIME:2026-12-01T12:00:00.000Z",
        '#EXT-X-PART:DURATION=0.33400,URI="0.0.m4s",INDEPENDENT=YES',
        '#EXT-X-PART:DURATION=0.33400,URI="0.1.m4s"',
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="0.2.m4s"',
    ]
    assert playlist.segment(0) is None  # still growing


def test_a_keyframe_part_closes_the_open_segment_and_opens_the_next() -> None:
    playlist = started()
    feed_gop(playlist, parts=3, tell_end=False)
    playlist.add_part(b"k", 0.3, True)
    text = lines(playlist)
    assert text[text.index('#EXT-X-PART:DURATION=0.33400,URI="0.2.m4s"') + 1 :] == [
        "#EXTINF:1.00200,",
        "0.m4s",
        '#EXT-X-PART:DURATION=0.30000,URI="1.0.m4s",INDEPENDENT=YES',
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="1.1.m4s"',
    ]
    assert playlist.segment(0) == b"".join(playlist.part(0, index) or b"" for index in range(3))


def test_a_segment_known_to_be_complete_closes_with_its_last_part_and_the_hint_moves_to_the_next_segment() -> None:
    playlist = started()
    feed_gop(playlist, parts=3)
    assert lines(playlist)[-3:] == ["#EXTINF:1.00200,", "0.m4s", '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="1.0.m4s"']


def test_every_hint_names_a_part_that_then_exists() -> None:
    playlist = started()
    hints = []
    for gop in (6, 3, 6, 1, 4):
        for index in range(gop):
            hints.append(playlist.preload_hint)
            playlist.add_part(b"x", PART, index == 0, ends_segment=index == gop - 1)
    hints.append(playlist.preload_hint)
    playlist.add_part(b"x", PART, True)  # the stream then ends mid-segment
    playlist.end()
    assert playlist.preload_hint is None
    assert "PRELOAD-HINT" not in playlist.render()
    for hint in hints:
        assert hint is not None and playlist.part(*hint) is not None, hint


def test_parts_before_the_first_keyframe_are_dropped() -> None:
    playlist = started()
    assert playlist.add_part(b"p", PART, False) is None
    assert playlist.segments == ()
    assert playlist.add_part(b"k", PART, True) is not None
    assert playlist.add_part(b"p", PART, False) is not None


def test_the_window_slides_and_only_the_last_segments_list_parts() -> None:
    playlist = started(PlaylistConfig(window=3, part_segments=2))
    for gop in range(5):
        feed_gop(playlist, parts=3, start=T0 + timedelta(seconds=gop))
    feed_gop(playlist, parts=1, tell_end=False)
    text = playlist.render()
    assert "#EXT-X-MEDIA-SEQUENCE:2" in text
    assert [segment.msn for segment in playlist.segments] == [2, 3, 4, 5]
    assert [line for line in text.splitlines() if line.endswith(".m4s")] == ["2.m4s", "3.m4s", "4.m4s"]
    listed_parts = [line.split('"')[1] for line in text.splitlines() if line.startswith("#EXT-X-PART:")]
    assert listed_parts == ["4.0.m4s", "4.1.m4s", "4.2.m4s", "5.0.m4s"]  # the last 2 segments, the open one included
    assert text.count("#EXT-X-PROGRAM-DATE-TIME") == 4
    assert playlist.segment(1) is not None and playlist.part(0, 2) is not None  # still served a while after leaving


def test_segments_retire_for_one_window_then_are_gone() -> None:
    playlist = started(PlaylistConfig(window=2, part_segments=1))
    for _ in range(5):
        feed_gop(playlist, parts=2)
    assert [segment.msn for segment in playlist.segments] == [3, 4]
    assert playlist.segment(0) is None and playlist.segment(1) is not None and playlist.segment(2) is not None


def test_a_restart_brings_a_discontinuity_and_a_new_init_segment() -> None:
    playlist = started(PlaylistConfig(window=2, part_segments=1))
    feed_gop(playlist, parts=2, tell_end=False)
    assert playlist.begin_session(b"init1") == 1
    assert playlist.segments[-1].closed  # the old session's segment closes at once
    assert playlist.preload_hint == (1, 0)
    feed_gop(playlist, parts=2)
    text = lines(playlist)
    assert text[text.index("0.m4s") + 1 : text.index("0.m4s") + 3] == ["#EXT-X-DISCONTINUITY", '#EXT-X-MAP:URI="init-1.mp4"']
    assert playlist.init(0) == b"init0" and playlist.init(1) == b"init1"

    for _ in range(4):  # the discontinuity leaves the window, and then the retired segments
        feed_gop(playlist, parts=2)
    text = lines(playlist)
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1" in text
    assert "#EXT-X-DISCONTINUITY" not in text
    assert text.count('#EXT-X-MAP:URI="init-1.mp4"') == 1
    assert playlist.init(0) is None  # no segment needs it any more


def test_a_resumed_playlist_goes_on_numbering_after_a_discontinuity() -> None:
    """A packager that replaces a crashed one: no URI players or caches have seen is reused."""
    earlier = started()
    feed_gop(earlier, parts=3)
    earlier.begin_session(b"init1")
    feed_gop(earlier, parts=3)
    assert earlier.init_version == 1 and earlier.last_discontinuity_sequence == 1
    playlist = LivePlaylist()
    playlist.resume(next_msn=2, discontinuity_sequence=earlier.last_discontinuity_sequence, init_version=earlier.init_version)
    assert playlist.begin_session(b"init2") == 2
    feed_gop(playlist, parts=2)
    text = lines(playlist)
    assert "#EXT-X-MEDIA-SEQUENCE:2" in text and "#EXT-X-DISCONTINUITY-SEQUENCE:1" in text
    assert text[text.index("#EXT-X-DISCONTINUITY") + 1] == '#EXT-X-MAP:URI="init-2.mp4"'
    assert any(line.startswith("#EXT-X-PART:") and line.endswith('URI="2.0.m4s",INDEPENDENT=YES') for line in text)
    with pytest.raises(RuntimeError):
        playlist.resume(next_msn=9, discontinuity_sequence=0, init_version=0)


def test_the_end_closes_the_segment_and_adds_endlist() -> None:
    playlist = started()
    feed_gop(playlist, parts=2, tell_end=False)
    playlist.end()
    text = lines(playlist)
    assert text[-3:] == ["#EXTINF:0.66800,", "0.m4s", "#EXT-X-ENDLIST"]
    with pytest.raises(RuntimeError):
        playlist.add_part(b"x", PART, True)


def test_the_target_duration_follows_the_rounding_rule_and_never_shrinks() -> None:
    playlist = started(PlaylistConfig(target_duration=1))
    feed_gop(playlist, parts=7, duration=0.34)  # 2.38 s rounds to 2
    assert playlist.target_duration == 2
    feed_gop(playlist, parts=15, duration=0.17)  # 2.55 s rounds to 3
    assert playlist.target_duration == 3
    feed_gop(playlist, parts=1)
    assert "#EXT-X-TARGETDURATION:3" in lines(playlist)


def test_a_part_longer_than_the_target_raises_part_target_and_hold_back() -> None:
    playlist = started()
    playlist.add_part(b"k", 0.354, True)
    assert playlist.part_target == pytest.approx(0.354)
    assert "#EXT-X-PART-INF:PART-TARGET=0.35400" in lines(playlist)
    assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.06200" in lines(playlist)


@pytest.mark.parametrize("duration", [1 / 3, 0.33333, 0.333334, 0.3333349, 0.334, 0.1])
def test_no_rendered_part_duration_exceeds_the_rendered_part_target(duration: float) -> None:
    playlist = started(PlaylistConfig(part_target=1 / 3))
    feed_gop(playlist, parts=3, duration=duration)
    parsed = m3u8.loads(playlist.render())
    target = parsed.part_inf.part_target
    assert parsed.segments[0].parts and all(part.duration <= target for part in parsed.segments[0].parts)
    assert parsed.server_control.part_hold_back >= round(3 * target, 5)  # as decimals, not binary floats


def test_a_naive_wall_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        started().add_part(b"k", PART, True, wall_clock=datetime(2026, 1, 1))


def test_rendition_reports_and_an_m3u8_parser_agree_with_the_playlist() -> None:
    low = started()
    feed_gop(low, parts=4)
    feed_gop(low, parts=2, tell_end=False)
    report = low.report("../360p/index.m3u8")
    assert report == RenditionReport("../360p/index.m3u8", 1, 1)
    high = started()
    feed_gop(high, parts=3)
    assert lines(high, report)[-1] == '#EXT-X-RENDITION-REPORT:URI="../360p/index.m3u8",LAST-MSN=1,LAST-PART=1'
    parsed = m3u8.loads(high.render([report]))
    assert parsed.server_control.can_block_reload == "YES"
    assert parsed.preload_hint.uri == "1.0.m4s"
    assert parsed.rendition_reports[0].last_msn == 1
    assert [part.uri for part in parsed.segments[0].parts] == ["0.0.m4s", "0.1.m4s", "0.2.m4s"]
    assert parsed.segments[0].parts[0].independent == "YES"


def test_the_master_playlist_advertises_each_rendition() -> None:
    text = master_playlist([Rendition("720p/index.m3u8", 3_300_000, 3_000_000, 1280, 720, "avc1.64001f,mp4a.40.2", Fraction(30000, 1001))])
    assert text.splitlines() == [
        "#EXTM3U",
        "#EXT-X-VERSION:9",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-STREAM-INF:BANDWIDTH=3300000,AVERAGE-BANDWIDTH=3000000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=29.970',
        "720p/index.m3u8",
    ]
    assert m3u8.loads(text).playlists[0].stream_info.resolution == (1280, 720)
    with pytest.raises(ValueError, match="at least one"):
        master_playlist([])


def test_config_refuses_a_hold_back_under_three_part_targets() -> None:
    with pytest.raises(ValueError, match="part_hold_back"):
        PlaylistConfig(part_target=0.5, part_hold_back=1.2)
    assert LivePlaylist(PlaylistConfig(part_target=0.5, part_hold_back=2.0)).part_hold_back == 2.0


# --- delivery directives -----------------------------------------------------------------------


def live_edge_at_segment_2_part_1() -> LivePlaylist:
    playlist = started()
    feed_gop(playlist, parts=3)
    feed_gop(playlist, parts=3)
    feed_gop(playlist, parts=2, tell_end=False)
    return playlist


def test_directives_parse_to_a_typed_result() -> None:
    playlist = live_edge_at_segment_2_part_1()
    assert parse_directives({}, playlist).blocking is False
    directives = parse_directives({"_HLS_msn": "2", "_HLS_part": "2", "_HLS_skip": "YES", "other": "x"}, playlist)
    assert (directives.msn, directives.part, directives.skip, directives.blocking) == (2, 2, "YES", True)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"_HLS_msn": "abc"}, "non-negative decimal integer"),
        ({"_HLS_msn": "-1"}, "non-negative decimal integer"),
        ({"_HLS_msn": "+1"}, "non-negative decimal integer"),
        ({"_HLS_msn": " 1"}, "non-negative decimal integer"),
        ({"_HLS_msn": ""}, "non-negative decimal integer"),
        ({"_HLS_msn": "1", "_HLS_part": "1.5"}, "non-negative decimal integer"),
        ({"_HLS_msn": "99999999999999999999999"}, "non-negative decimal integer"),
        ({"_HLS_part": "1"}, "needs _HLS_msn"),
        ({"_HLS_skip": "NO"}, "_HLS_skip"),
        ({"_HLS_msn": "5"}, "more than two segments"),
        ({"_HLS_msn": "2", "_HLS_part": "11"}, "parts past"),
        ({"_HLS_msn": "4", "_HLS_part": "9"}, "parts past"),
    ],
)
def test_bad_directives_are_refused_with_400(query: dict[str, str], message: str) -> None:
    with pytest.raises(DirectiveError, match=message) as raised:
        parse_directives(query, live_edge_at_segment_2_part_1())
    assert raised.value.status == 400


def test_requests_up_to_the_limits_are_accepted() -> None:
    playlist = live_edge_at_segment_2_part_1()
    assert parse_directives({"_HLS_msn": "4"}, playlist).msn == 4  # two past the last segment
    assert parse_directives({"_HLS_msn": "2", "_HLS_part": "9"}, playlist).part == 9  # 3 / 0.334 = 8.98 parts ahead
    assert parse_directives({"_HLS_msn": "0", "_HLS_part": "40"}, playlist).part == 40  # an old segment: answered at once


def test_an_ended_playlist_ignores_how_far_ahead_a_request_is() -> None:
    playlist = live_edge_at_segment_2_part_1()
    playlist.end()
    assert parse_directives({"_HLS_msn": "50", "_HLS_part": "50"}, playlist).msn == 50
    assert satisfies(playlist, 50, 50)


def test_satisfies_tells_when_a_blocked_request_can_be_answered() -> None:
    playlist = live_edge_at_segment_2_part_1()  # segments 0, 1 closed (3 parts each), 2 open with parts 0, 1
    assert satisfies(playlist, 2, 1) and satisfies(playlist, 1, 2) and satisfies(playlist, 0, None)
    assert not satisfies(playlist, 2, 2)
    assert satisfies(playlist, 1, None) and not satisfies(playlist, 2, None)  # a whole segment waits for its end
    # Past the last part of a closed segment means the next segment's first part, which exists...
    assert satisfies(playlist, 1, 3) and satisfies(playlist, 1, 7)
    # ...but the open segment may still grow, so a part past its end waits.
    assert not satisfies(playlist, 2, 3)
    playlist.add_part(b"x", PART, False, ends_segment=True)
    assert satisfies(playlist, 2, 2) and satisfies(playlist, 2, None)
    assert not satisfies(playlist, 2, 3)  # part 0 of segment 3, not here yet
    assert playlist.block_limit == 6.0


def test_nothing_satisfies_a_request_before_the_first_part() -> None:
    playlist = started()
    assert not satisfies(playlist, 0, 0) and not satisfies(playlist, 0, None)
    assert parse_directives({"_HLS_msn": "1"}, playlist).msn == 1
    with pytest.raises(DirectiveError):
        parse_directives({"_HLS_msn": "2"}, playlist)
