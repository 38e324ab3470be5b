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

import argparse
import base64
import json
import logging
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

import redis

from ..runtime.config import load_config
from ..runtime.logs import setup_logging
from . import ladder, llhls, remux
from .recording import join, media_info, recorded_sessions
from .recording import session_path as recording_session_path
from .segments import MediaWriter, PlaylistState
from .session import Frame, SessionInput, read_frame

log = logging.getLogger("vidmesh.live.packager")
EXIT_ORPHANED = 3
HEALTH_EVERY_SECONDS = 1.0
# config live.ladder: the renditions encoded below the source (which is passed through).
LADDERS: dict[str, tuple[ladder.RenditionSpec, ...]] = {
    "none": (),
    "360p": ladder.LADDER_360P,
    "480p+360p": ladder.LADDER_480P_360P,
}


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
            if live_part.ends_segment:
                objects[(rendition, llhls.segment_uri(part.msn))] = playlist.segment(part.msn) or b""
            self._writer.put(objects, self._states())

    def set_ladder(self, renditions: Sequence[ladder.RenditionInfo]) -> None:
        """The master playlist of a session's ladder (best first), written before its first part."""
        entries = [r.playlist_entry(f"{r.name}/index.m3u8") for r in renditions]
        with self._lock:
            self._writer.put({}, {}, master=llhls.master_playlist(entries))

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


@dataclass(frozen=True)
class Settings:
    ladder: tuple[ladder.RenditionSpec, ...]
    recordings: Path | None  # the stream's recording folder; None: not recorded


def run(stream_id: str, stdin: BinaryIO, packager: StreamPackager, settings: Settings) -> int:
    """Packages sessions from stdin until the stream ends (0) or stdin closes first (3)."""
    # Numbered after the sessions an earlier packager of this stream recorded (if it crashed).
    session = max(recorded_sessions(settings.recordings), default=0) if settings.recordings else 0
    while True:
        frame = read_frame(stdin)
        if frame is None:
            return EXIT_ORPHANED
        if frame.kind == Frame.STREAM_END:
            return _ended(packager, settings, session)
        if frame.kind != Frame.SESSION_START:
            continue  # the tail of a session that failed: skipped up to its end
        session += 1
        source = SessionInput(stdin)
        _package(stream_id, session, source, packager, settings)
        source.drain()
        if source.stream_ended:
            return _ended(packager, settings, session)
        if source.pipe_closed:
            return EXIT_ORPHANED


def _package(stream_id: str, session: int, source: SessionInput, packager: StreamPackager, settings: Settings) -> None:
    recording = recording_session_path(settings.recordings, session) if settings.recordings else None
    reporter: threading.Thread | None = None
    done = threading.Event()

    def ready(running: ladder.LivePackager) -> None:
        nonlocal reporter
        packager.set_ladder(running.renditions)
        emit(
            "ladder",
            renditions=[{"name": r.name, "width": r.width, "height": r.height, "bandwidth": r.bandwidth} for r in running.renditions],
        )

        def report() -> None:  # the ingest shows dropped frames in the stream's health
            while not done.wait(HEALTH_EVERY_SECONDS):
                emit("health", dropped_frames=running.dropped_frames)

        reporter = threading.Thread(target=report, daemon=True)
        reporter.start()

    try:
        ladder.package_flv(cast(BinaryIO, source), settings.ladder, packager.begin, packager.part, recording_path=recording, on_ready=ready)
        emit("session_done", session=session)
    except ladder.NoVideo as exc:
        emit("session_failed", session=session, error="NO_VIDEO", detail=str(exc)[:500])
    except ladder.UnsupportedCodec as exc:
        emit("session_failed", session=session, error="UNSUPPORTED_CODEC", detail=str(exc)[:500])
    except Exception as exc:  # the stream's own bad media must not end the process
        log.warning("stream %s session %d failed: %s", stream_id, session, exc)
        emit("session_failed", session=session, error="PACKAGER_FAILED", detail=str(exc)[:500])
    finally:
        done.set()
        if reporter is not None:
            reporter.join()


def _ended(packager: StreamPackager, settings: Settings, sessions: int) -> int:
    """The stream is over: ENDLIST for every playlist, then the recording joined into one file."""
    packager.end()
    if settings.recordings is not None and sessions:
        recorded = [recording_session_path(settings.recordings, n) for n in sorted(recorded_sessions(settings.recordings))]
        joined = join(recorded, settings.recordings / "recording.mp4")
        for path in recorded:
            path.unlink(missing_ok=True)
        if joined is not None:
            info = base64.b64encode(media_info(joined.path).SerializeToString()).decode()
            emit("recording", path=str(joined.path), media=info, sessions=joined.sessions, left_out=len(joined.left_out))
    emit("ended")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="package one live stream (started by the ingest)")
    parser.add_argument("stream")
    parser.add_argument("--record", action="store_true", help="record the source and join it into a file at the end")
    args = parser.parse_args()
    config = load_config()
    setup_logging("live-packager", config.log_level)
    folder = config.data_dir / "live" / args.stream
    if args.record:
        folder.mkdir(parents=True, exist_ok=True)
    if config.live.ladder not in LADDERS:
        raise SystemExit(f"live.ladder must be one of {sorted(LADDERS)}, not {config.live.ladder!r}")
    settings = Settings(LADDERS[config.live.ladder], folder if args.record else None)
    client = redis.Redis.from_url(config.effective_redis_url)
    packager = StreamPackager(MediaWriter(client, args.stream), llhls.PlaylistConfig())
    packager.resume()
    # Unbuffered: a buffered read would wait for whole blocks while the encoder's bytes trickle in.
    with open(sys.stdin.fileno(), "rb", buffering=0, closefd=False) as stdin:
        sys.exit(run(args.stream, stdin, packager, settings))


if __name__ == "__main__":
    main()
