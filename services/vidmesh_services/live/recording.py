"""The recording of a broadcast: each encoder session's source is recorded untouched (fragmented
mp4, so a crash loses at most the fragment being written), and when the stream ends the sessions
are joined into one progressive mp4, the source of the stream's video.

Sessions are joined when their encoder settings match the first session's (same codecs, picture
size and parameter sets): a decoder cannot switch them mid-file. A session that differs (the
streamer changed resolution after a reconnect) is left out, and the join says which.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from vidmesh.type.v1 import media_pb2

from .remux import finish_recording

log = logging.getLogger("vidmesh.live.recording")


@dataclass(frozen=True)
class Joined:
    path: Path
    duration: float  # seconds
    sessions: int  # joined
    left_out: tuple[Path, ...]  # sessions whose settings differ from the first's


def session_path(folder: Path, session: int) -> Path:
    return folder / f"session-{session}.mp4"


def recorded_sessions(folder: Path) -> list[int]:
    """The numbers of the sessions recorded in folder so far."""
    found = []
    for path in folder.glob("session-*.mp4"):
        number = path.stem.removeprefix("session-")
        if number.isdigit():
            found.append(int(number))
    return found


def _settings(path: Path) -> tuple[object, ...]:
    """What a decoder needs to stay the same across joined sessions."""
    with av.open(str(path)) as media:
        context = [s.codec_context for s in (*media.streams.video, *media.streams.audio)]
        return tuple((c.type, c.name, c.extradata, getattr(c, "width", 0), getattr(c, "height", 0)) for c in context)


def media_info(path: Path) -> media_pb2.MediaInfo:
    """What the catalog records about the joined recording (as a probe of an upload would)."""
    with av.open(str(path)) as media:
        video = media.streams.video[0]
        audio = media.streams.audio[0] if media.streams.audio else None
        seconds = float(media.duration or 0) / av.time_base
        info = media_pb2.MediaInfo(
            width=video.codec_context.width,
            height=video.codec_context.height,
            container=media.format.name,
            video_codec=video.codec_context.name,
            audio_codec=audio.codec_context.name if audio else "",
            frame_rate=float(video.average_rate or 0),
            size_bytes=path.stat().st_size,
            bit_rate=int(media.bit_rate or 0),
            pixel_format=video.codec_context.pix_fmt or "",
        )
        info.duration.FromNanoseconds(int(seconds * 1e9))
    return info


def join(sessions: list[Path], out_path: Path) -> Joined | None:
    """Joins the recorded sessions into out_path; None if none holds a picture."""
    clean: list[tuple[Path, Path, float]] = []  # (session, its progressive copy, seconds)
    for session in sessions:
        target = session.with_suffix(".clean.mp4")
        try:
            summary = finish_recording(session, target)
        except (av.FFmpegError, OSError, ValueError) as exc:
            log.warning("recording %s is unreadable (%s): left out", session, exc)
            continue
        if summary.video_frames:
            clean.append((session, target, summary.duration))
    if not clean:
        return None
    first = _settings(clean[0][1])
    kept = [entry for entry in clean if _settings(entry[1]) == first]
    left_out = tuple(session for session, _, _ in clean if all(session != k[0] for k in kept))
    if len(kept) == 1:
        os.replace(kept[0][1], out_path)
    else:
        _concatenate([copy for _, copy, _ in kept], out_path)
    for _, copy, _ in clean:
        with contextlib.suppress(FileNotFoundError):
            copy.unlink()
    return Joined(out_path, sum(seconds for _, _, seconds in kept), len(kept), left_out)


def _concatenate(parts: list[Path], out_path: Path) -> None:
    """Appends progressive mp4s with the same settings, each one's timestamps after the last's."""
    with av.open(str(out_path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        streams: list[av.stream.Stream] = []
        offset = Fraction(0)
        for part in parts:
            with av.open(str(part)) as media:
                inputs = [*media.streams.video, *media.streams.audio]
                if not streams:
                    streams = [out.add_stream_from_template(s) for s in inputs]
                end = offset
                for packet in media.demux(inputs):
                    if packet.dts is None:
                        continue  # the demuxer's end-of-stream marker
                    target = streams[inputs.index(packet.stream)]
                    shift = int(offset / packet.time_base)
                    packet.pts = (packet.pts if packet.pts is not None else packet.dts) + shift
                    packet.dts += shift
                    end = max(end, (packet.pts + (packet.duration or 0)) * packet.time_base)
                    packet.stream = target
                    out.mux(packet)
                offset = end
