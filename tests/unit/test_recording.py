"""Joining a broadcast's recorded sessions into one video file."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidmesh_services.live.recording import join, media_info, recorded_sessions, session_path


def record(path: Path, seconds: float, size: tuple[int, int] = (320, 240), rate: int = 30) -> None:
    """A session as the packager records it: fragmented mp4 with H.264 (2 s GOPs) and AAC."""
    with av.open(str(path), "w", format="mp4", options={"movflags": "empty_moov+default_base_moof+frag_keyframe"}) as out:
        video = out.add_stream("libx264", rate=rate, options={"g": str(2 * rate), "bf": "0", "preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        picture = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        for i in range(int(seconds * rate)):
            picture[:] = i % 255
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, rate)
            out.mux(video.encode(frame))
        samples = np.zeros((1, 1024), dtype=np.float32)
        for i in range(int(seconds * 48000 / 1024)):
            sound = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            sound.sample_rate, sound.pts = 48000, i * 1024
            out.mux(audio.encode(sound))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))


def test_sessions_with_the_same_settings_join_in_order_and_a_different_one_is_left_out(tmp_path: Path) -> None:
    record(session_path(tmp_path, 1), 2)
    record(session_path(tmp_path, 2), 3)
    record(session_path(tmp_path, 3), 2, size=(640, 360))  # the streamer changed resolution
    assert sorted(recorded_sessions(tmp_path)) == [1, 2, 3]
    joined = join([session_path(tmp_path, n) for n in (1, 2, 3)], tmp_path / "recording.mp4")
    assert joined is not None and joined.sessions == 2 and joined.left_out == (session_path(tmp_path, 3),)
    with av.open(str(joined.path)) as media:
        frames = list(media.decode(video=0))
    times = [frame.pts for frame in frames]
    assert len(frames) == 150 and all(a is not None and b is not None and b > a for a, b in itertools.pairwise(times))
    info = media_info(joined.path)
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (320, 240, "h264", "aac")
    assert 4.8 <= info.duration.ToTimedelta().total_seconds() <= 5.3
    assert not list(tmp_path.glob("*.clean.mp4"))


def test_nothing_to_join_is_none(tmp_path: Path) -> None:
    broken = session_path(tmp_path, 1)
    broken.write_bytes(b"not an mp4")
    assert join([broken], tmp_path / "recording.mp4") is None
