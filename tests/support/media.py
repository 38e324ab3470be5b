"""Test media made by PyAV: small real videos, no fixtures checked in."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
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
            for plane, value in zip(frame.planes, (16 + (i * 7) % 200, 128, 128), strict=True):
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


def make_rotated_video(path: Path, seconds: float = 2.0) -> Path:
    """A phone-style portrait video: stored as 320x240 with a display matrix that turns it 90 degrees
    clockwise. Upright it is 240x320, bright in its top half and dark in its bottom half."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.set_display_rotation(-90)  # counterclockwise degrees, as VideoFrame.rotation reads them
        sound = out.add_stream("aac", rate=44100)  # every stream before the first packet
        frames = (_picture(320, 240, lambda x: 235 if x < 160 else 16) for _ in range(int(seconds * 25)))
        _encode(out, video, enumerate(frames), Fraction(1, 25))
        _write_silence(out, sound, seconds)
    return path


def make_odd_sized_video(path: Path, width: int = 321, height: int = 241, seconds: float = 2.0) -> Path:
    """MPEG-4 Part 2 at an odd size, which H.264 in 4:2:0 cannot even store."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        frames = (_picture(width, height, 16 + (i * 7) % 200) for i in range(int(seconds * 25)))
        _encode(out, video, enumerate(frames), Fraction(1, 25))
    return path


def make_ten_bit_video(path: Path, seconds: float = 2.0) -> Path:
    """10-bit 4:2:0 (FFV1 in Matroska), like the HDR clips phones record."""
    return _make_pixel_format_video(path, "ffv1", "yuv420p10le", seconds)


def make_full_chroma_video(path: Path, seconds: float = 2.0) -> Path:
    """4:4:4 H.264 (High 4:4:4 Predictive), like screen recorders write."""
    return _make_pixel_format_video(path, "libx264", "yuv444p", seconds)


def make_ntsc_rate_video(path: Path, seconds: float = 14.0) -> Path:
    """29.97 fps (30000/1001), the rate of broadcast and much phone video, with sound."""
    rate = Fraction(30000, 1001)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.options = {"preset": "ultrafast"}
        sound = out.add_stream("aac", rate=44100)
        frames = (_picture(320, 240, 16 + (i * 7) % 200) for i in range(round(seconds * rate)))
        _encode(out, video, enumerate(frames), 1 / rate)
        _write_silence(out, sound, seconds)
    return path


def make_variable_rate_video(path: Path, seconds: float = 3.0) -> Path:
    """Frames alternately 20 and 50 ms apart (about 28.6 fps on average), like a phone under load."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.codec_context.time_base = Fraction(1, 1000)
        sound = out.add_stream("aac", rate=44100)
        times = [0]
        while times[-1] < seconds * 1000 - 50:
            times.append(times[-1] + (20 if len(times) % 2 else 50))
        frames = (_picture(320, 240, 16 + (i * 7) % 200) for i in range(len(times)))
        _encode(out, video, zip(times, frames, strict=True), Fraction(1, 1000))
        _write_silence(out, sound, seconds)
    return path


def make_video_with_empty_audio_track(path: Path, seconds: float = 1.0) -> Path:
    """Matroska whose audio track is declared but holds no sound."""
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        out.add_stream("aac", rate=44100)
        _encode(out, video, enumerate(_picture(320, 240, 100) for _ in range(int(seconds * 25))), Fraction(1, 25))
    return path


def make_sound_with_empty_video_track(path: Path, seconds: float = 1.0) -> Path:
    """Matroska whose video track is declared but holds no frame; only the sound plays."""
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        _write_silence(out, out.add_stream("aac", rate=44100), seconds)
    return path


def remux(source: Path, target: Path, **options: str) -> Path:
    """Copies the packets of `source` into `target` unchanged, e.g. with movflags="faststart"."""
    with av.open(str(source)) as inp, av.open(str(target), "w", options=options) as out:
        streams = {stream.index: out.add_stream_from_template(stream) for stream in inp.streams}
        for packet in inp.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    return target


def _make_pixel_format_video(path: Path, codec: str, pix_fmt: str, seconds: float) -> Path:
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=25)
        video.width, video.height, video.pix_fmt = 320, 240, pix_fmt
        frames = (_picture(320, 240, 16 + (i * 7) % 200).reformat(format=pix_fmt) for i in range(int(seconds * 25)))
        _encode(out, video, enumerate(frames), Fraction(1, 25))
    return path


def _picture(width: int, height: int, luma: int | Callable[[int], int]) -> av.VideoFrame:
    """A grey picture whose brightness is `luma`, or `luma(x)` for column x."""
    frame = av.VideoFrame(width, height, "yuv420p")
    y_plane, *chroma = frame.planes
    row = bytes([luma] * width if isinstance(luma, int) else [luma(x) for x in range(width)])
    y_plane.update((row + bytes(y_plane.line_size - width)) * height)
    for plane in chroma:
        plane.update(bytes([128]) * plane.buffer_size)
    return frame


def _encode(
    out: av.container.OutputContainer, video: av.video.stream.VideoStream, frames: Iterable[tuple[int, av.VideoFrame]], time_base: Fraction
) -> None:
    """Encodes (pts, frame) pairs, then flushes the encoder."""
    for pts, frame in frames:
        frame.pts, frame.time_base = pts, time_base
        out.mux(video.encode(frame))
    out.mux(video.encode(None))


def make_noisy_video(path: Path, *, seconds: float = 40.0, width: int = 640, height: int = 360, fps: int = 24) -> Path:
    """Fresh noise every frame: every rendition of it runs at its bit-rate cap, as ABR tests need."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = 4_000_000  # keeps the source small; the ladder's rungs still saturate
        video.options = {"preset": "ultrafast"}
        sound = out.add_stream("aac", rate=44100)
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame(width, height, "yuv420p")
            frame.planes[0].update(os.urandom(frame.planes[0].buffer_size))
            for plane in frame.planes[1:]:
                plane.update(bytes([128]) * plane.buffer_size)
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        _write_silence(out, sound, seconds)
    return path
