"""Playback's pure rules: tokens, names, and how a token is carried into playlists and tracks."""

from __future__ import annotations

import m3u8
import pytest

from vidmesh_services.playback.objects import content_type_of, plain_name, sign_playlist, sign_storyboard, with_token
from vidmesh_services.playback.tokens import InvalidToken, PlaybackTokens
from vidmesh_services.runtime.errors import InvalidArgument

TOKENS = PlaybackTokens(b"k" * 32)


def test_a_token_verifies_for_its_resource_until_it_expires() -> None:
    token, expires = TOKENS.sign("videos/abc", 600, now=1000)
    assert expires == 1600
    TOKENS.verify(token, "videos/abc", now=1599)
    with pytest.raises(InvalidToken, match="expired"):
        TOKENS.verify(token, "videos/abc", now=1600)
    with pytest.raises(InvalidToken, match="another resource"):
        TOKENS.verify(token, "videos/abd", now=1000)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: t.split(".")[0],  # no signature
        lambda t: "",
        lambda t: "!!!.???",
        lambda t: t.replace(".", ".."),
    ],
)
def test_tampered_tokens_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    token, _ = TOKENS.sign("videos/abc", 600)
    with pytest.raises(InvalidToken):
        TOKENS.verify(mangle(token), "videos/abc")


def test_a_token_from_another_key_is_refused() -> None:
    token, _ = PlaybackTokens(b"other").sign("videos/abc", 600)
    assert not TOKENS.is_valid(token, "videos/abc")


@pytest.mark.parametrize("name", ["master.m3u8", "00042.m4s", "720p", "init.mp4", "sprite-000.jpg", "a_b-c.d"])
def test_plain_names_pass(name: str) -> None:
    assert plain_name(name, "segment") == name


@pytest.mark.parametrize("name", ["", ".", "..", ".staging-x", "a/b", "a\\b", "..m4s", "a..b", "x" * 200, "é.m4s", "a b"])
def test_other_names_are_invalid_arguments(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        plain_name(name, "segment")
    assert caught.value.violations[0].field == "segment"


def test_every_uri_of_a_playlist_carries_the_token() -> None:
    master = (
        "#EXTM3U\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Main",URI="audio/index.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=800000,AUDIO="audio"\n360p/index.m3u8\n'
    )
    signed = m3u8.loads(sign_playlist(master, "T"))
    assert signed.playlists[0].uri == "360p/index.m3u8?token=T"
    assert signed.media[0].uri == "audio/index.m3u8?token=T"
    media = '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:6.0,\n00000.m4s\n#EXT-X-ENDLIST\n'
    signed_media = m3u8.loads(sign_playlist(media, "T"))
    assert signed_media.segment_map[0].uri == "init.mp4?token=T"
    assert signed_media.segments[0].uri == "00000.m4s?token=T"


def test_storyboard_cues_keep_their_fragment_after_the_token() -> None:
    track = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nsprite-000.jpg#xywh=0,0,160,90\n"
    assert "sprite-000.jpg?token=T#xywh=0,0,160,90" in sign_storyboard(track, "T")
    assert with_token("a.m4s?x=1", "T") == "a.m4s?x=1&token=T"


def test_media_types_follow_the_track() -> None:
    assert content_type_of("audio/00001.m4s") == content_type_of("audio/init.mp4") == "audio/mp4"
    assert content_type_of("720p/00001.m4s") == content_type_of("720p/init.mp4") == "video/mp4"
    assert content_type_of("audio/index.m3u8") == "application/vnd.apple.mpegurl"
    assert content_type_of("storyboard/index.vtt") == "text/vtt; charset=utf-8"
    assert content_type_of("notes") == "application/octet-stream"
