"""The packager of one live stream: a worker process the ingest starts when the stream first goes
live, which lives until the stream ends, across reconnects of its encoder.

It reads framed FLV from stdin (session.py's frames: a session starts, its bytes, it ends; the
stream ends), packages each session into the live ladder's CMAF parts and LL-HLS playlists, and
writes them to Valkey (segments.py) as they are cut. A new session continues the same playlists
after an EXT-X-DISCONTINUITY, so viewers keep their place. It reports to the ingest on stdout, one
JSON object per line (events below). Media work happens here, never in the ingest: a bad stream
or a crash takes down this process only.

Exit codes: 0 after the stream ended (ENDLIST written); 3 when stdin closed without the stream
ending (the ingest went away: nothing is ended, a new packager may continue later).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any, BinaryIO, cast

import redis

from ..runtime.config import load_config
from ..runtime.logs import setup_logging
from . import llhls, remux
from .segments import MediaWriter, PlaylistState
from .session import Frame, SessionInput, read_frame

log = logging.getLogger("vidmesh.live.packager")
EXIT_ORPHANED = 3


def emit(event: str, **fields: Any) -> None:
    """One event to the ingest (stdout is the pipe it reads)."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class StreamPackager:
    """The playlists of every rendition of one stream, kept in step and written together."""

    def __init__(self, writer: MediaWriter, config: llhls.PlaylistConfig):
        self._writer = writer
        self._config = config
        self._playlists: dict[str, llhls.LivePlaylist] = {}
        self._renditions: dict[str, llhls.Rendition] = {}
        self._inits: dict[str, bytes] = {}
        self._lock = threading.Lock()  # encoded renditions deliver their parts from their own threads

    def resume(self) -> None:
        """Continues the playlists an earlier packager of this stream left, if it died."""
        for rendition, state in self._writer.earlier().items():
            if not state.ended:
                playlist = self._playlists.setdefault(rendition, llhls.LivePlaylist(self._config))
                playlist.resume(state.msn + 1, state.dseq, state.init)
                log.info("resuming %s after segment %d", rendition, state.msn)

    def begin(self, rendition: str, init: bytes) -> None:
        with self._lock:
            playlist = self._playlists.setdefault(rendition, llhls.LivePlaylist(self._config))
            version = playlist.begin_session(init)
            self._inits[rendition] = init
            self._writer.put({(rendition, llhls.init_uri(version)): init}, {})

    def part(self, rendition: str, live_part: remux.LivePart, data: bytes) -> None:
        with self._lock:
            playlist = self._playlists[rendition]
            info = live_part.fragment
            part = playlist.add_part(
                data, info.duration, info.independent, ends_segment=live_part.ends_segment, wall_clock=datetime.now(UTC)
            )
            if part is None:
                return  # before the session's first keyframe
            objects = {(rendition, part.uri): data}
            master = None
            if live_part.ends_segment:
                objects[(rendition, llhls.segment_uri(part.msn))] = playlist.segment(part.msn) or b""
                master = self._master_once(rendition, playlist)
            self._writer.put(objects, self._states(), master=master)

    def _master_once(self, rendition: str, playlist: llhls.LivePlaylist) -> str | None:
        """The master playlist, once the first segment of a session tells the bit rate."""
        if rendition in self._renditions:
            return None
        closed = [s for s in playlist.segments if s.closed and s.duration > 0]
        rates = [len(s.data) * 8 / s.duration for s in closed]
        width, height, codecs = init_info(self._inits[rendition])
        self._renditions[rendition] = llhls.Rendition(
            f"{rendition}/index.m3u8", int(max(rates)), int(sum(rates) / len(rates)), width, height, codecs, 30
        )
        return llhls.master_playlist(list(self._renditions.values()))

    def end(self) -> None:
        with self._lock:
            for playlist in self._playlists.values():
                playlist.end()
            self._writer.put({}, self._states())

    def _states(self) -> dict[str, PlaylistState]:
        """Every rendition's playlist, each with the others' rendition reports."""
        states = {}
        for name, playlist in self._playlists.items():
            reports = [r for other, p in self._playlists.items() if other != name and (r := p.report(f"../{other}/index.m3u8"))]
            edge = playlist.last_part
            states[name] = PlaylistState(playlist.render(reports), edge.msn if edge else 0, edge.index if edge else -1, playlist.ended)
        return states


def init_info(init: bytes) -> tuple[int, int, str]:
    """Width, height and RFC 6381 codecs of an fMP4 init segment's avc1 (and mp4a) sample entries."""
    entry = init.find(b"avc1", max(init.find(b"stsd"), 0))  # the sample entry: ftyp may name the brand avc1 too
    config = init.find(b"avcC")
    if entry < 0 or config < 0:
        return 0, 0, "avc1.64001f,mp4a.40.2"
    width = int.from_bytes(init[entry + 28 : entry + 30], "big")
    height = int.from_bytes(init[entry + 30 : entry + 32], "big")
    profile, compat, level = init[config + 5], init[config + 6], init[config + 7]
    codecs = f"avc1.{profile:02x}{compat:02x}{level:02x}"
    return width, height, codecs + (",mp4a.40.2" if b"mp4a" in init else "")


def run(stream_id: str, stdin: BinaryIO, packager: StreamPackager) -> int:
    """Packages sessions from stdin until the stream ends (0) or stdin closes first (3)."""
    session = 0
    while True:
        frame = read_frame(stdin)
        if frame is None:
            return EXIT_ORPHANED
        if frame.kind == Frame.STREAM_END:
            packager.end()
            emit("ended")
            return 0
        if frame.kind != Frame.SESSION_START:
            continue  # the tail of a session that failed: skipped up to its end
        session += 1
        source = SessionInput(stdin)
        try:
            summary = remux.remux_flv(
                cast(BinaryIO, source), lambda init: packager.begin("source", init), lambda p, d: packager.part("source", p, d)
            )
            emit("session_done", session=session, parts=summary.parts)
        except Exception as exc:  # the stream's own bad media must not end the process
            log.warning("stream %s session %d failed: %s", stream_id, session, exc)
            emit("session_failed", session=session, error="PACKAGER_FAILED", detail=str(exc)[:500])
        source.drain()
        if source.stream_ended:
            packager.end()
            emit("ended")
            return 0
        if source.pipe_closed:
            return EXIT_ORPHANED


def main() -> None:
    stream_id = sys.argv[1]
    config = load_config()
    setup_logging("live-packager", config.log_level)
    client = redis.Redis.from_url(config.effective_redis_url)
    packager = StreamPackager(MediaWriter(client, stream_id), llhls.PlaylistConfig())
    packager.resume()
    sys.exit(run(stream_id, sys.stdin.buffer, packager))


if __name__ == "__main__":
    main()
