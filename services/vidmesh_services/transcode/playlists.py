"""HLS playlists: the media playlists, measured; the master playlist; the CODECS strings.

FFmpeg's HLS muxer cuts the segments, but rounds EXT-X-TARGETDURATION to the nearest second,
so a 6.006 s segment (29.97 fps) would sit under a target of 6 and players that trust the
target stall. We re-read what the muxer wrote and write the playlists again with a target no
segment exceeds, one for every playlist of a version (audio and video), as Apple's HLS
authoring specification asks of the playlists of one master; the same reading gives the
measured bit rates the master playlist needs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

HLS_VERSION = 6  # the lowest that allows EXT-X-MAP (fMP4 init segments) in a media playlist


@dataclass(frozen=True)
class Segment:
    uri: str
    duration: float  # seconds
    size: int  # bytes


@dataclass(frozen=True)
class MediaPlaylist:
    init_uri: str
    segments: tuple[Segment, ...]

    @property
    def target_duration(self) -> int:
        return max(1, math.ceil(max(round(segment.duration, 3) for segment in self.segments)))

    @property
    def duration(self) -> float:
        return sum(segment.duration for segment in self.segments)

    def average_bitrate(self) -> int:
        return math.ceil(sum(segment.size for segment in self.segments) * 8 / self.duration)

    def peak_bitrate(self) -> int:
        """RFC 8216 4.3.4.2: the highest rate over any run of segments lasting 0.5 to 1.5 target durations.

        Windows rather than single segments, so a short last segment holding one keyframe does
        not pass for the peak; a playlist shorter than any window is measured whole.
        """
        shortest, longest = self.target_duration / 2, self.target_duration * 1.5
        peak = 0.0
        for first in range(len(self.segments)):
            bits = seconds = 0.0
            for segment in self.segments[first:]:
                bits, seconds = bits + segment.size * 8, seconds + segment.duration
                if seconds > longest:
                    break
                if seconds >= shortest:
                    peak = max(peak, bits / seconds)
        return math.ceil(peak) or self.average_bitrate()


@dataclass(frozen=True)
class Variant:
    uri: str
    bandwidth: int
    average_bandwidth: int
    width: int
    height: int
    codecs: str
    frame_rate: Fraction


@dataclass(frozen=True)
class AudioRendition:
    uri: str
    channels: int


AUDIO_GROUP = "audio"


def finalize_media_playlists(paths: Sequence[Path]) -> list[MediaPlaylist]:
    """Reads the playlists the muxer wrote at `paths` and writes them again under one target
    duration that no segment of any of them exceeds."""
    playlists = [_read_media_playlist(path) for path in paths]
    target = max(playlist.target_duration for playlist in playlists)
    for path, playlist in zip(paths, playlists, strict=True):
        _write_media_playlist(path, playlist, target)
    return playlists


def _write_media_playlist(path: Path, playlist: MediaPlaylist, target_duration: int) -> None:
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{HLS_VERSION}",
        f"#EXT-X-TARGETDURATION:{target_duration}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",  # every segment starts with a keyframe
        f'#EXT-X-MAP:URI="{playlist.init_uri}"',
    ]
    for segment in playlist.segments:
        lines += [f"#EXTINF:{segment.duration:.6f},", segment.uri]
    lines.append("#EXT-X-ENDLIST")
    path.write_text("\n".join(lines) + "\n")


def write_master_playlist(path: Path, variants: Sequence[Variant], audio: AudioRendition | None) -> None:
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{HLS_VERSION}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio is not None:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="Main",DEFAULT=YES,AUTOSELECT=YES,'
            f'CHANNELS="{audio.channels}",URI="{audio.uri}"'
        )
    for variant in variants:
        attributes = (
            f"BANDWIDTH={variant.bandwidth},AVERAGE-BANDWIDTH={variant.average_bandwidth},"
            f'RESOLUTION={variant.width}x{variant.height},CODECS="{variant.codecs}",'
            f"FRAME-RATE={float(variant.frame_rate):.3f}"
        )
        if audio is not None:
            attributes += f',AUDIO="{AUDIO_GROUP}"'
        lines += [f"#EXT-X-STREAM-INF:{attributes}", variant.uri]
    path.write_text("\n".join(lines) + "\n")


def avc_codecs(extradata: bytes) -> str:
    """RFC 6381 "avc1.PPCCLL" from an H.264 SPS: profile_idc, constraint flags, level_idc, in hex.

    Takes extradata in either form: avcC (as MP4 stores it) or Annex B (as x264 emits it).
    """
    if extradata[:1] == b"\x01":  # avcC: version 1, then the SPS's three bytes
        return "avc1." + extradata[1:4].hex()
    for unit in extradata.split(b"\x00\x00\x01"):
        if unit and unit[0] & 0x1F == 7:  # NAL unit type 7: sequence parameter set
            return "avc1." + unit[1:4].hex()
    raise ValueError("the H.264 extradata holds no sequence parameter set")


def _read_media_playlist(path: Path) -> MediaPlaylist:
    init_uri, duration, segments = "", 0.0, []
    for line in path.read_text().splitlines():
        if line.startswith("#EXT-X-MAP:"):
            found = re.search(r'URI="([^"]+)"', line)
            init_uri = found.group(1) if found else ""
        elif line.startswith("#EXTINF:"):
            duration = float(line.removeprefix("#EXTINF:").split(",")[0])
        elif line and not line.startswith("#"):
            segments.append(Segment(line, duration, (path.parent / line).stat().st_size))
    if not init_uri or not segments:
        raise ValueError(f"{path}: the HLS muxer wrote no init segment or no media segment")
    return MediaPlaylist(init_uri, tuple(segments))
