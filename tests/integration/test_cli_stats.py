"""`vidmesh stats` against the real mesh: events sent through the SDK reach the aggregators, and the
command prints what they imply (views, watch time, startup, retention, the series); it refuses
non-owners, unknown videos and bad keys as the other commands do, and --watch refreshes until
Ctrl-C."""

from __future__ import annotations

import datetime as dt
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest
from google.protobuf import timestamp_pb2
from vidmesh.analytics.v1 import analytics_service_pb2 as pb2

from tests.support.catalog import catalog_video
from tests.support.event_log import duration
from tests.support.processes import Mesh
from vidmesh_client import VidmeshClient

VIDEO_SECONDS = 90
Kind = pb2.PlayerEventKind


def session_events(video_id: str, start: dt.datetime) -> list[pb2.PlayerEvent]:
    """A viewer asks to play, sees the first frame 400 ms later, plays 35 s (three heartbeats and
    a pause) from the start, in 360p."""
    session = str(uuid.uuid4())

    def event(kind: pb2.PlayerEventKind, after_ms: int, **fields: object) -> pb2.PlayerEvent:
        at = timestamp_pb2.Timestamp()
        at.FromDatetime(start + dt.timedelta(milliseconds=after_ms))
        return pb2.PlayerEvent(
            event_id=str(uuid.uuid4()),
            session_id=session,
            video=f"videos/{video_id}",
            viewer_id="stats-viewer",
            kind=kind,
            event_time=at,
            **fields,  # type: ignore[arg-type]
        )

    events = [
        event(Kind.PLAYER_EVENT_KIND_PLAY_REQUEST, 0),
        event(Kind.PLAYER_EVENT_KIND_PLAY, 400, startup_time=duration(400), rendition="360p", position=duration(0)),
    ]
    for played_to in (10_000, 20_000, 30_000):
        events.append(
            event(
                Kind.PLAYER_EVENT_KIND_HEARTBEAT, 400 + played_to, position=duration(played_to), played=duration(10_000), rendition="360p"
            )
        )
    events.append(event(Kind.PLAYER_EVENT_KIND_PAUSE, 35_400, position=duration(35_000), played=duration(5_000), rendition="360p"))
    return events


@pytest.fixture(scope="module")
def watched(mesh: Mesh, alice_key: str) -> str:
    """alice's video with one counted session (35 s watched), as the aggregators report it."""
    video_id = catalog_video(mesh, "alice", VIDEO_SECONDS)
    with VidmeshClient(mesh.gateway) as anonymous:  # players send without a key
        sent = anonymous.send_events(session_events(video_id, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    assert (sent.accepted_count, sent.duplicate_count, list(sent.rejected_events)) == (6, 0, []), sent
    with VidmeshClient(mesh.gateway, alice_key) as owner:
        deadline = time.monotonic() + 60  # generous: other tests load the machine
        while (totals := owner.video_metrics(video_id).totals).views < 1:
            assert time.monotonic() < deadline, f"the session was not counted within 60 s: {totals}"
            time.sleep(0.2)
    return video_id


def stats(mesh: Mesh, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    return mesh.cli("stats", *args, "--url", mesh.gateway, env={"VIDMESH_API_KEY": key})


def field(output: str, label: str) -> str:
    found = re.search(rf"^\s+{re.escape(label)}:\s+(.*)$", output, re.M)
    assert found, f"no {label!r} line in:\n{output}"
    return found.group(1).strip()


def test_stats_shows_the_counted_session(mesh: Mesh, alice_key: str, watched: str) -> None:
    shown = stats(mesh, alice_key, watched)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert field(out, "views") == "1" and field(out, "sessions") == "1", out
    assert field(out, "watch time") == "35 s" and field(out, "avg view duration") == "35 s", out
    assert field(out, "unique viewers").startswith("1 "), out
    p50 = re.match(r"(\d+) ms /", field(out, "startup p50/p95/p99"))
    assert p50 and 360 <= int(p50.group(1)) <= 440, out  # histogram buckets are 10% wide
    assert field(out, "renditions") == "360p 100.0%", out
    assert field(out, "exits before start") == "0" and field(out, "playback failures").startswith("0.0%"), out
    # 35 s of a 90 s video from its start: the first tenth all there, the last none.
    rows = re.findall(r"^\s+(\d+:\d\d)\s+[█·]+\s+([\d.]+)%$", out, re.M)
    assert len(rows) == 10 and rows[0] == ("0:00", "100.0") and rows[-1][1] == "0.0", out
    assert "audience retention over 1 views of 1 min 30 s" in out, out


def test_stats_since_prints_the_series_table(mesh: Mesh, alice_key: str, watched: str) -> None:
    shown = stats(mesh, alice_key, watched, "--since", "3h", "--interval", "hour")
    assert shown.returncode == 0, shown.stderr
    points = re.findall(r"^\s+\d{4}-\d\d-\d\d \d\d:00\s+(\d+)\s+(\d+)\s+(\d+)\s+(.+)$", shown.stdout, re.M)
    assert len(points) in (3, 4), shown.stdout  # the 3 hours, 4 when now is not on the hour
    assert sum(int(views) for views, *_ in points) == 1, shown.stdout
    assert field(shown.stdout, "watch time") == "35 s", shown.stdout


def test_stats_is_for_the_owner_only(mesh: Mesh, bob_key: str, watched: str) -> None:
    shown = stats(mesh, bob_key, watched)
    assert shown.returncode == 1 and "PERMISSION_DENIED" in shown.stderr and "owner" in shown.stderr, shown.stderr
    assert "views" not in shown.stdout


def test_stats_of_an_unknown_video_or_with_a_bad_key(mesh: Mesh, alice_key: str) -> None:
    unknown = stats(mesh, alice_key, "nosuchvideo1")
    assert unknown.returncode == 1 and "NOT_FOUND" in unknown.stderr, unknown.stderr
    forged = stats(mesh, "vm_not-a-real-key", "nosuchvideo1")
    assert forged.returncode == 1 and "UNAUTHENTICATED" in forged.stderr, forged.stderr
    keyless = mesh.cli("stats", "nosuchvideo1", "--url", mesh.gateway, env={"VIDMESH_API_KEY": ""})
    assert keyless.returncode != 0 and "needs an API key" in keyless.stderr, keyless.stderr


def test_stats_watch_refreshes_until_ctrl_c(mesh: Mesh, alice_key: str, watched: str) -> None:
    command = [sys.executable, "-m", "vidmesh_client", "stats", watched, "--watch", "--url", mesh.gateway]
    process = subprocess.Popen(
        command, env={**mesh.env, "VIDMESH_API_KEY": alice_key}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(7)  # start-up, then a refresh every 2 s
    finally:
        process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert out.count("refreshing every 2 s") >= 2, out
    assert out.count(f"videos/{watched}: lifetime") == out.count("refreshing every 2 s"), out
