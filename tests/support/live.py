"""Debian's ffmpeg CLI publishing RTMP, as OBS would (H.264 + AAC, 2 s keyframes): a test pattern,
or frames made in Python that carry the wall clock of their making (for glass-to-glass latency)."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from vidmesh.live.v1 import live_service_pb2 as pb2
from vidmesh.live.v1 import live_service_pb2_grpc as pb2_grpc
from vidmesh.live.v1 import resources_pb2

from vidmesh_services.platform.pids import die_with_parent


def publisher(
    url: str, *, seconds: float = 60, size: str = "640x360", rate: int = 30, video_codec: str = "libx264", audio: bool = True
) -> subprocess.Popen[bytes]:
    """ffmpeg pushing a test pattern (and a tone) in real time to url, 2-second keyframes."""
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    args += ["-t", str(seconds), "-c:v", video_codec]
    if video_codec == "libx264":
        args += ["-preset", "veryfast", "-tune", "zerolatency", "-g", str(2 * rate), "-keyint_min", str(2 * rate), "-b:v", "1500k"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "128k"]
    args += ["-f", "flv", url]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=die_with_parent)


@contextlib.contextmanager
def encoding(url: str, **options: object) -> Iterator[subprocess.Popen[bytes]]:
    """A publisher for the duration of the block; killed (and its pipe closed) after it."""
    encoder = publisher(url, **options)  # type: ignore[arg-type]
    try:
        yield encoder
    finally:
        encoder.kill()
        encoder.communicate()


def wait_for_state(
    live: pb2_grpc.LiveServiceStub, name: str, state: int, timeout: float = 20, metadata: tuple[tuple[str, str], ...] = ()
) -> resources_pb2.LiveStream:
    deadline = time.monotonic() + timeout
    while True:
        stream: resources_pb2.LiveStream = live.GetStream(pb2.GetStreamRequest(name=name), metadata=metadata).stream
        if stream.state == state:
            return stream
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} stayed {resources_pb2.LiveStreamState.Name(stream.state)}: {stream}")
        time.sleep(0.1)


# -- a stamped publisher: every frame says when it was made --------------------------------------
#
# For glass-to-glass latency on one clock: Python makes each frame in real time and paints the
# wall clock of that moment (time.time() in ms) into it as a row of black and white blocks; the
# page under test reads the blocks back from each frame it presents (STAMP_DECODER_JS) and
# subtracts them from Date.now(). Everything in between (ffmpeg's encoder, RTMP, the ingest and
# packager, the edge, hls.js's buffer, the decoder) is in the figure.

# The top band of the frame, STAMP_BLOCKS square blocks across the whole width: the time's low
# STAMP_TIME_BITS bits (ms mod 2^24, 4.6 hours: far more than any latency), most significant
# first, then 8 check bits. The check is the XOR of the time's three bytes with 0xA5, so an
# all-black or all-white band, or a frame caught mid-change, reads as no stamp rather than as a
# wrong one.
STAMP_TIME_BITS = 24
STAMP_BLOCKS = 32
STAMP_MODULUS = 1 << STAMP_TIME_BITS
_CHECK_SALT = 0xA5
# Video-range luma: H.264 keeps these apart however hard it quantizes a flat block.
_BLACK, _WHITE = 16, 235


def stamp_bits(ms: int) -> list[int]:
    """The band's blocks for the wall-clock time ms: 1 is white."""
    value = ms % STAMP_MODULUS
    check = (value >> 16) ^ ((value >> 8) & 0xFF) ^ (value & 0xFF) ^ _CHECK_SALT
    word = (value << 8) | check
    return [(word >> (STAMP_BLOCKS - 1 - i)) & 1 for i in range(STAMP_BLOCKS)]


def read_stamp(bits: Sequence[int]) -> int | None:
    """The time (ms mod 2^24) a band's blocks carry, or None if they fail the check."""
    word = 0
    for bit in bits:
        word = (word << 1) | bit
    value, check = word >> 8, word & 0xFF
    return value if check == (value >> 16) ^ ((value >> 8) & 0xFF) ^ (value & 0xFF) ^ _CHECK_SALT else None


class StampedFrames:
    """yuv420p frames of width x height: a scrolling pattern (so the encoder has motion to code,
    as from a camera) under the stamp band."""

    def __init__(self, width: int, height: int) -> None:
        if width % STAMP_BLOCKS or width % 2 or height % 2:
            raise ValueError(f"{width}x{height}: the width must divide into {STAMP_BLOCKS} blocks and both sides be even")
        self.width, self.height = width, height
        self.block = width // STAMP_BLOCKS
        columns = np.arange(2 * width)
        rows = np.arange(height)[:, None]
        # Diagonal stripes, twice the frame's width so each frame is a window onto them.
        self._luma = (60 + 120 * (((columns[None, :] + rows) // 40) % 2)).astype(np.uint8)
        # Blue to teal from left to right.
        half_columns = np.arange(width // 2)
        self._u = np.full((height // 2, width // 2), 150, np.uint8)
        self._v = np.broadcast_to((128 - (half_columns * 40) // (width // 2)).astype(np.uint8), (height // 2, width // 2))

    def frame(self, index: int, ms: int) -> bytes:
        shift = (index * 4) % self.width
        y = self._luma[:, shift : shift + self.width].copy()
        u, v = self._u.copy(), self._v.copy()
        band = self.block
        for i, bit in enumerate(stamp_bits(ms)):
            y[:band, i * band : (i + 1) * band] = _WHITE if bit else _BLACK
        y[band : band + band // 2, :] = _BLACK  # a dark gap keeps the pattern's edges off the blocks
        u[: (band + band // 2) // 2, :] = 128
        v[: (band + band // 2) // 2, :] = 128
        return y.tobytes() + u.tobytes() + v.tobytes()


class StampedPublisher:
    """ffmpeg publishing Python-made, time-stamped frames to url in real time: libx264 veryfast
    zerolatency, no B-frames, a keyframe every `keyframes` frames, and a sine tone (AAC), as a
    live encoder would send them. Frames are made on their schedule (frame i at start + i/rate)
    by a thread; the stamp is the wall clock when each is made. A frame made late (the machine
    was busy) is still sent, stamped when it was made, so lateness shows as latency."""

    def __init__(
        self,
        url: str,
        *,
        width: int = 640,
        height: int = 360,
        rate: int = 30,
        keyframes: int = 60,
        seconds: float = 60,
        hls_dir: Path | None = None,
    ) -> None:
        self.url, self.rate, self.seconds = url, rate, seconds
        self.frames = StampedFrames(width, height)
        self.sent = 0
        self.late = 0  # frames made more than a frame's time after their schedule
        args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}"]
        args += ["-framerate", str(rate), "-i", "pipe:0", "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
        args += ["-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"]
        args += ["-g", str(keyframes), "-keyint_min", str(keyframes), "-bf", "0", "-b:v", "1500k", "-c:a", "aac", "-b:a", "128k"]
        if hls_dir is None:
            args += ["-f", "flv", url]
        else:  # also standard HLS from ffmpeg's own muxer, from the same encode (the benchmark's baseline)
            hls = f"[f=hls:hls_time=2:hls_list_size=6:hls_flags=delete_segments]{hls_dir / 'index.m3u8'}"
            args += ["-flags", "+global_header", "-f", "tee", f"[f=flv:onfail=abort]{url}|{hls}"]
        # Started here, on the caller's thread: die_with_parent ties ffmpeg to the thread that
        # starts it, and the frame thread ends before ffmpeg does.
        self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=die_with_parent
        )
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._send, name="stamped-frames", daemon=True)
        self._thread.start()

    def _send(self) -> None:
        assert self.process.stdin is not None
        total = int(self.seconds * self.rate)
        started = 0.0  # the schedule starts once ffmpeg has taken the first frame (it starts up first)
        try:
            for index in range(total):
                due = started + index / self.rate
                if index and self._stopping.wait(max(0.0, due - time.monotonic())):
                    break
                if index and time.monotonic() - due > 1 / self.rate:
                    self.late += 1
                self.process.stdin.write(self.frames.frame(index, int(time.time() * 1000)))
                self.process.stdin.flush()
                self.sent += 1
                if not index:
                    started = time.monotonic()
        except (BrokenPipeError, ValueError):  # ffmpeg exited (disconnected by the server), or stop() closed the pipe
            pass
        finally:
            with contextlib.suppress(BrokenPipeError, ValueError):
                self.process.stdin.close()

    def stop(self) -> None:
        """Stops sending and ffmpeg (killed: a clean end of stream is not what a test waits for)."""
        self._stopping.set()
        self._thread.join(5)
        self.process.kill()
        self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()


@contextlib.contextmanager
def stamped_encoding(url: str, **options: Any) -> Iterator[StampedPublisher]:
    """A StampedPublisher for the duration of the block."""
    encoder = StampedPublisher(url, **options)
    try:
        yield encoder
    finally:
        encoder.stop()


# Installed in a page with page.evaluate(STAMP_DECODER_JS, stamp_decoder_args(video_id)): from then
# on every frame the page presents (requestVideoFrameCallback) has its top band drawn to a canvas
# and decoded, and window.vidmeshStamps.latencies collects Date.now() − stamp in ms for each
# frame whose check passes. Positions scale with the picture, so a lower rendition decodes too.
STAMP_DECODER_JS = """
({ videoId, blocks, timeBits, salt }) => {
  const modulus = 2 ** timeBits;
  const video = document.getElementById(videoId);
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const found = (window.vidmeshStamps = { latencies: [], unreadable: 0 });
  const decode = () => {
    const width = video.videoWidth;
    const block = width / blocks;
    if (!width) return null;
    canvas.width = width;
    canvas.height = Math.ceil(block);
    context.drawImage(video, 0, 0, width, canvas.height, 0, 0, width, canvas.height);
    const pixels = context.getImageData(0, 0, width, canvas.height).data;
    const row = Math.floor(block / 2);
    let value = 0;
    let check = 0;
    for (let i = 0; i < blocks; i++) {
      // The middle half of the block's row, away from the edges the encoder blurs.
      let sum = 0;
      let count = 0;
      for (let x = Math.floor((i + 0.25) * block); x < (i + 0.75) * block; x++, count++) sum += pixels[(row * width + x) * 4 + 1];
      const bit = sum / count > 127 ? 1 : 0;
      if (i < timeBits) value = value * 2 + bit;
      else check = check * 2 + bit;
    }
    return check === ((value >> 16) ^ ((value >> 8) & 255) ^ (value & 255) ^ salt) ? value : null;
  };
  const onFrame = () => {
    const now = Date.now();
    const stamp = decode();
    if (stamp === null) found.unreadable++;
    else found.latencies.push((((now % modulus) - stamp) % modulus + modulus) % modulus);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}
"""


def stamp_decoder_args(video_id: str) -> dict[str, object]:
    """STAMP_DECODER_JS's argument: the <video> element's id and the band's layout."""
    return {"videoId": video_id, "blocks": STAMP_BLOCKS, "timeBits": STAMP_TIME_BITS, "salt": _CHECK_SALT}
