"""Test media made by PyAV: small real videos, no fixtures checked in."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av


def make_video(path: Path, *, seconds: float = 2.0, width: int = 320, height: int = 240, fps: int = 25, audio: bool = True) -> Path:
    """An H.264/AAC MP4 whose frames change brightness, so encoders have something to do."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast"}
        sound = out.add_stream("aac", rate=44100) if audio else None
        frames = int(seconds * fps)
        for i in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane, value in zip(frame.planes, (16 + (i * 7) % 200, 128, 128)):
                plane.update(bytes([value]) * plane.buffer_size)
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            _write_silence(out, sound, seconds)
    return path


def make_audio_only(path: Path, seconds: float = 1.0) -> Path:
    with av.open(str(path), "w", format="mp4") as out:
        _write_silence(out, out.add_stream("aac", rate=44100), seconds)
    return path


def _write_silence(out: av.container.OutputContainer, sound: av.audio.stream.AudioStream, seconds: float) -> None:
    samples = 1024
    for i in range(int(seconds * 44100 / samples)):
        chunk = av.AudioFrame(format="fltp", layout="stereo", samples=samples)
        for plane in chunk.planes:
            plane.update(bytes(plane.buffer_size))
        chunk.sample_rate = 44100
        chunk.pts = i * samples
        out.mux(sound.encode(chunk))
    out.mux(sound.encode(None))
