"""The analytics benchmark's load generator: synthetic playback sessions, cut into batches the way
a collector in front of many players would send them, and the senders that push the batches
through the gateway (gRPC SendEvents streams, REST POST /v1/events:send) or straight into the
event log (XADD of entries packed as ingest packs them).

Each sender process builds all its batches before the clock starts (serialized protobuf, JSON
or stream entries), so that during a measured phase it spends its CPU on sending only. It
tallies what the platform must count from the batches that were answered (stored), by the
contract's rules, independently of the aggregator's code: bench/analytics.py sums the tallies
and compares them with the counters.
"""

from __future__ import annotations

import bisect
import datetime as dt
import http.client
import json
import queue
import random
import secrets
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

# PlayerEventKind values (proto/vidmesh/analytics/v1/analytics_service.proto)
PLAY, PAUSE, SEEK, HEARTBEAT, BUFFER_START, BUFFER_END, QUALITY_CHANGE, ENDED, ERROR, PLAY_REQUEST = range(1, 11)
KIND_NAMES = {
    PLAY: "PLAYER_EVENT_KIND_PLAY",
    PAUSE: "PLAYER_EVENT_KIND_PAUSE",
    HEARTBEAT: "PLAYER_EVENT_KIND_HEARTBEAT",
    BUFFER_START: "PLAYER_EVENT_KIND_BUFFER_START",
    BUFFER_END: "PLAYER_EVENT_KIND_BUFFER_END",
    QUALITY_CHANGE: "PLAYER_EVENT_KIND_QUALITY_CHANGE",
    ENDED: "PLAYER_EVENT_KIND_ENDED",
    ERROR: "PLAYER_EVENT_KIND_ERROR",
    PLAY_REQUEST: "PLAYER_EVENT_KIND_PLAY_REQUEST",
}
RENDITIONS = ("1080p", "720p", "480p", "360p")
HEARTBEAT_MS = 10_000
ACTIVE_SESSIONS = 2000  # sessions in flight per sender: a batch interleaves many players
VIEWERS = 200_000
ZIPF_S = 1.0
SHARDS = 2
VIEW_PLAYED_MS = 30_000  # the contract's view rule (VideoMetrics.views)
SHORT_VIDEO_MS = 60_000
# What the tally counts per video, in this order (the aggregator's counter names, and the sum of
# the retention hash's values).
TALLY_FIELDS = ("sessions", "started", "views", "watch_ms", "stall_ms", "failed", "rebuffered_views", "retention")


@dataclass(frozen=True)
class Ev:
    """One player event of a synthetic session."""

    kind: int
    at_ms: int
    position: int = 0
    played: int = 0
    startup: int = 0
    stall: int = 0
    rendition: str = ""
    previous: str = ""
    error_code: str = ""


@dataclass
class Session:
    sid: str
    video: int  # index into the catalog
    viewer: str
    events: list[Ev]
    cursor: int = 0


@dataclass(frozen=True)
class Videos:
    """The READY videos the generator may name: ids, durations, their owner."""

    ids: Sequence[str]
    durations: Sequence[int]
    owner: str

    def facts(self, index: int) -> list[Any]:
        return [self.durations[index], self.owner]


# -- sessions ---------------------------------------------------------------------------------


def play_session(rng: random.Random, duration: int) -> list[Ev]:
    """Asks to play; 3% leave before the first frame; the rest start after a log-normal startup
    (about 0.5 s) and play a share of the video from its start with a heartbeat every 10 s,
    stalls (5% of stretches), a rendition switch (5% of sessions), and end paused, at the end or,
    for 1%, in an error. Times are relative to the session's start."""
    events = [Ev(PLAY_REQUEST, 0)]
    if rng.random() < 0.03:
        return events
    startup = max(50, min(20_000, int(rng.lognormvariate(6.2, 0.6))))
    rendition = rng.choice(RENDITIONS)
    at = startup
    events.append(Ev(PLAY, at, 0, startup=startup, rendition=rendition))
    watched = max(1000, min(duration, int(duration * rng.random() ** 0.8)))
    failing = rng.random() < 0.01
    position = 0
    while position < watched:
        step = min(HEARTBEAT_MS, watched - position)
        if rng.random() < 0.05:
            stall = rng.randint(200, 3000)
            events.append(Ev(BUFFER_START, at, position, rendition=rendition))
            at += stall
            events.append(Ev(BUFFER_END, at, position, stall=stall, rendition=rendition))
        if rng.random() < 0.005:
            switched = rng.choice([r for r in RENDITIONS if r != rendition])
            events.append(Ev(QUALITY_CHANGE, at, position, rendition=switched, previous=rendition))
            rendition = switched
        position += step
        at += step
        if position < watched:
            events.append(Ev(HEARTBEAT, at, position, step, rendition=rendition))
        elif failing:
            events.append(Ev(ERROR, at, position, step, rendition=rendition, error_code="MEDIA_ERR_DECODE"))
        else:
            events.append(Ev(ENDED if position >= duration else PAUSE, at, position, step, rendition=rendition))
    return events


class Generator:
    """Batches of events of interleaved sessions: Zipf popularity over the videos."""

    def __init__(self, videos: Videos, seed: int, prefix: str):
        self.videos = videos
        self.rng = random.Random(seed)
        self.prefix = prefix
        weights = [1 / (rank + 1) ** ZIPF_S for rank in range(len(videos.ids))]
        self.cumulative = _cumulative(weights)
        self.sessions_made = 0
        self.event_seq = 0
        self.active = [self._new_session() for _ in range(ACTIVE_SESSIONS)]

    def _new_session(self) -> Session:
        video = bisect.bisect_left(self.cumulative, self.rng.random() * self.cumulative[-1])
        video = min(video, len(self.videos.ids) - 1)
        events = play_session(self.rng, self.videos.durations[video])
        length = events[-1].at_ms
        # Started within the last half hour and over by now: event times stay in ingest's window.
        start = int(time.time() * 1000) - length - self.rng.randint(5_000, 1_800_000)
        events = [Ev(**{**vars(e), "at_ms": e.at_ms + start}) for e in events]
        self.sessions_made += 1
        viewer = f"viewer-{self.rng.randrange(VIEWERS)}"
        return Session(f"{self.prefix}s{self.sessions_made}", video, viewer, events)

    def batch(self, size: int) -> list[tuple[Session, Ev, str]]:
        """size events, each the next of a random in-flight session, with its event id."""
        out = []
        for _ in range(size):
            slot = self.rng.randrange(ACTIVE_SESSIONS)
            session = self.active[slot]
            event = session.events[session.cursor]
            session.cursor += 1
            if session.cursor == len(session.events):
                self.active[slot] = self._new_session()
            self.event_seq += 1
            out.append((session, event, f"{self.prefix}e{self.event_seq}"))
        return out


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


# -- encodings --------------------------------------------------------------------------------


def _pb_event(pb2: Any, videos: Videos, session: Session, e: Ev, event_id: str) -> Any:
    event = pb2.PlayerEvent(
        event_id=event_id,
        session_id=session.sid,
        video=f"videos/{videos.ids[session.video]}",
        viewer_id=session.viewer,
        kind=e.kind,
        rendition=e.rendition,
        previous_rendition=e.previous,
        error_code=e.error_code,
    )
    event.event_time.FromMilliseconds(e.at_ms)
    event.position.FromMilliseconds(e.position)
    if e.played:
        event.played.FromMilliseconds(e.played)
    if e.startup:
        event.startup_time.FromMilliseconds(e.startup)
    if e.stall:
        event.stall_duration.FromMilliseconds(e.stall)
    return event


def proto_batch(videos: Videos, batch: Sequence[tuple[Session, Ev, str]]) -> bytes:
    from vidmesh.analytics.v1 import analytics_service_pb2 as pb2

    return bytes(pb2.SendEventsRequest(events=[_pb_event(pb2, videos, s, e, i) for s, e, i in batch]).SerializeToString())


def _json_duration(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}s"


def _json_time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def json_batch(videos: Videos, batch: Sequence[tuple[Session, Ev, str]]) -> bytes:
    """The batch as the REST mapping's JSON (what a browser's sendBeacon posts)."""
    events = []
    for s, e, event_id in batch:
        fields: dict[str, Any] = {
            "eventId": event_id,
            "sessionId": s.sid,
            "video": f"videos/{videos.ids[s.video]}",
            "viewerId": s.viewer,
            "kind": KIND_NAMES[e.kind],
            "eventTime": _json_time(e.at_ms),
            "position": _json_duration(e.position),
        }
        if e.rendition:
            fields["rendition"] = e.rendition
        if e.previous:
            fields["previousRendition"] = e.previous
        if e.played:
            fields["played"] = _json_duration(e.played)
        if e.startup:
            fields["startupTime"] = _json_duration(e.startup)
        if e.stall:
            fields["stallDuration"] = _json_duration(e.stall)
        if e.error_code:
            fields["errorCode"] = e.error_code
        events.append(fields)
    return json.dumps({"events": events}, separators=(",", ":")).encode()


def shard_of(session_id: str) -> int:
    """As vidmesh_services.analytics.keys.shard_of (crc32 of the session id)."""
    return zlib.crc32(session_id.encode()) % SHARDS


def log_entries(videos: Videos, batch: Sequence[tuple[Session, Ev, str]]) -> list[tuple[int, dict[str, bytes]]]:
    """The batch as ingest stores it: one entry per shard, fields b (the events), v (facts of their
    videos), d (no duplicates). Viewer ids stay as sent (ingest would hash them)."""
    from vidmesh.analytics.v1 import analytics_service_pb2 as pb2

    parts: defaultdict[int, list[tuple[Session, Ev, str]]] = defaultdict(list)
    for item in batch:
        parts[shard_of(item[0].sid)].append(item)
    entries = []
    for shard, part in sorted(parts.items()):
        request = pb2.SendEventsRequest(events=[_pb_event(pb2, videos, s, e, i) for s, e, i in part])
        facts = {videos.ids[s.video]: videos.facts(s.video) for s, _, _ in part}
        fields = {"b": request.SerializeToString(), "v": json.dumps(facts, separators=(",", ":")).encode(), "d": b""}
        entries.append((shard, fields))
    return entries


# -- the tally --------------------------------------------------------------------------------


def retention_bucket(position: int, duration: int) -> int:
    """The contract's stretches: 100 of equal width, or one per whole second under 100 s."""
    count = max(1, min(100, -(-duration // 1000)))
    bucket = position // 1000 if duration < 100_000 else 100 * position // duration
    return max(0, min(count - 1, bucket))


@dataclass
class _State:
    requested: bool = False
    started: bool = False
    failed: bool = False
    view: bool = False
    stalled: bool = False
    rebuffered: bool = False
    played: int = 0
    covered: set[int] = field(default_factory=set)


class Tally:
    """What the counters of each video must say after the given events, by the contract's rules."""

    def __init__(self, durations: Sequence[int]):
        self.durations = durations
        self.states: dict[str, _State] = {}
        self.per_video: defaultdict[int, list[int]] = defaultdict(lambda: [0] * len(TALLY_FIELDS))
        self.events = 0

    def add(self, session_id: str, video: int, e: Ev) -> None:
        self.events += 1
        s = self.states.setdefault(session_id, _State())
        c = self.per_video[video]
        duration = self.durations[video]
        if e.kind in (PLAY_REQUEST, PLAY) and not s.requested:
            s.requested = True
            c[0] += 1
        if e.kind == PLAY and not s.started:
            s.started = True
            c[1] += 1
        if e.played > 0:
            s.played += e.played
            c[3] += e.played
            start, end = max(0, e.position - e.played), min(duration, e.position)
            newly = set()
            if end > start:
                newly = set(range(retention_bucket(start, duration), retention_bucket(end - 1, duration) + 1)) - s.covered
                s.covered |= newly
            if not s.view and (s.played >= VIEW_PLAYED_MS or (duration < SHORT_VIDEO_MS and 2 * s.played >= duration)):
                s.view = True
                c[2] += 1
                c[7] += len(s.covered)
            elif s.view:
                c[7] += len(newly)
        if e.kind == BUFFER_END and e.stall > 0:
            s.stalled = True
            c[4] += e.stall
        if e.kind == ERROR and not s.failed:
            s.failed = True
            c[5] += 1
        if s.view and s.stalled and not s.rebuffered:
            s.rebuffered = True
            c[6] += 1


@dataclass
class Built:
    """A sender's batches, prepared before the clock starts."""

    payloads: list[Any]  # bytes (proto, JSON) or a list of (shard, entry fields)
    contents: list[list[tuple[str, int, Ev]]]  # per batch: (session id, video index, event)


def build(videos: Videos, kind: str, batches: int, batch_size: int, seed: int) -> Built:
    generator = Generator(videos, seed, secrets.token_hex(4))
    encode = {"grpc": proto_batch, "rest": json_batch, "raw": log_entries}[kind]
    payloads, contents = [], []
    for _ in range(batches):
        batch = generator.batch(batch_size)
        payloads.append(encode(videos, batch))
        contents.append([(s.sid, s.video, e) for s, e, _ in batch])
    return Built(payloads, contents)


# -- senders ----------------------------------------------------------------------------------


@dataclass
class SenderResult:
    answered: dict[int, set[int]] = field(default_factory=dict)  # batch index -> rejected indexes
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (wall time, events stored)
    resent: int = 0
    resent_duplicates: int = 0  # events the re-sent batches were answered with as duplicates
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


class GrpcSender:
    """Batches over one SendEvents stream (reopened after a failure, resending what was not
    answered), up to `window` unanswered; every resend_every-th answered batch is sent again."""

    def __init__(self, payloads: Sequence[bytes], deadline: float, window: int, resend_every: int):
        self.payloads = payloads
        self.deadline = deadline
        self.window = window
        self.resend_every = resend_every
        self.result = SenderResult()
        self.todo: list[tuple[int, bool]] = []  # unanswered when a stream failed: (index, is_resend)
        self.next_index = 0
        self.requests: queue.Queue[bytes | None] = queue.Queue()
        self.outstanding: list[tuple[int, bool]] = []

    def _feed(self, item: tuple[int, bool]) -> None:
        self.outstanding.append(item)
        self.requests.put(self.payloads[item[0]])

    def _more(self) -> bool:
        if self.todo:
            self._feed(self.todo.pop(0))
            return True
        if time.monotonic() < self.deadline and self.next_index < len(self.payloads):
            self._feed((self.next_index, False))
            self.next_index += 1
            return True
        return False

    def _answered(self, answer: Any) -> None:
        index, resend = self.outstanding.pop(0)
        result = self.result
        if resend:
            result.resent += 1
            result.resent_duplicates += answer.duplicate_count
        elif index not in result.answered:
            result.answered[index] = {r.index for r in answer.rejected_events}
            result.rejected += len(answer.rejected_events)
            result.timeline.append((time.time(), answer.accepted_count))
            if self.resend_every and index % self.resend_every == self.resend_every - 1:
                self._feed((index, True))

    def run(self, gateway: str) -> SenderResult:
        import grpc
        from vidmesh.analytics.v1 import analytics_service_pb2 as pb2

        with grpc.insecure_channel(gateway) as channel:
            call = channel.stream_stream(
                "/vidmesh.analytics.v1.AnalyticsService/SendEvents",
                request_serializer=None,  # the payloads are serialized already
                response_deserializer=pb2.SendEventsResponse.FromString,
            )
            while True:
                self.requests, self.outstanding = queue.Queue(), []
                for _ in range(self.window):
                    if not self._more():
                        break
                if not self.outstanding:
                    return self.result
                stream = call(iter(self.requests.get, None), timeout=max(60.0, self.deadline - time.monotonic() + 60))
                try:
                    for answer in stream:
                        self._answered(answer)
                        if not self._more() and not self.outstanding:
                            self.requests.put(None)
                except grpc.RpcError as error:
                    self.result.errors.append(f"{error.code().name}: {error.details()}")
                    self.todo[:0] = self.outstanding
                    if len(self.result.errors) > 20:
                        return self.result
                    time.sleep(0.5)


def send_rest(gateway: str, payloads: Sequence[bytes], deadline: float) -> SenderResult:
    """Batches as POST /v1/events:send on one keep-alive connection, one at a time; a failed
    request is sent again (deduplication makes that safe)."""
    host, port = gateway.rsplit(":", 1)
    result = SenderResult()
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    index = 0
    try:
        while index < len(payloads) and time.monotonic() < deadline:
            try:
                connection.request("POST", "/v1/events:send", payloads[index], {"content-type": "application/json"})
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as error:
                result.errors.append(f"{type(error).__name__}: {error}")
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=60)
                if len(result.errors) > 20:
                    return result
                continue
            if response.status != 200:
                result.errors.append(f"HTTP {response.status}: {body[:200]!r}")
                if len(result.errors) > 20:
                    return result
                time.sleep(0.2)
                continue
            answer = json.loads(body)
            rejected = answer.get("rejectedEvents", answer.get("rejected_events", []))
            result.answered[index] = {int(r.get("index", 0)) for r in rejected}
            result.rejected += len(rejected)
            result.timeline.append((time.time(), int(answer.get("acceptedCount", answer.get("accepted_count", 0)))))
            index += 1
    finally:
        connection.close()
    return result


def send_raw(
    redis_port: int, payloads: Sequence[list[tuple[int, dict[str, bytes]]]], deadline: float, stream_prefix: str, cycle: bool
) -> SenderResult:
    """XADDs of the packed entries, 20 batches per pipeline, to stream_prefix + shard; with cycle,
    round and round the batches until the deadline (MAXLEN ~ keeps the stream bounded), else each once."""
    import redis

    result = SenderResult()
    client = redis.Redis(port=redis_port)
    index, per_pipe = 0, 20
    try:
        while time.monotonic() < deadline and (cycle or index < len(payloads)):
            chunk = [payloads[(index + i) % len(payloads)] for i in range(per_pipe if cycle else min(per_pipe, len(payloads) - index))]
            with client.pipeline(transaction=False) as pipe:
                for entries in chunk:
                    for shard, fields in entries:
                        pipe.xadd(f"{stream_prefix}{shard}", fields, maxlen=20_000 if cycle else None, approximate=True)  # type: ignore[arg-type]
                pipe.execute()
            now = time.time()
            for i in range(len(chunk)):
                position = (index + i) % len(payloads)
                if not cycle:
                    result.answered[position] = set()
                result.timeline.append((now, position))  # summarize turns positions into event counts
            index += len(chunk)
    finally:
        client.close()
    return result


# -- one sender process -----------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    kind: str  # grpc, rest, raw (into the event log), ceiling (raw into a throwaway stream)
    gateway: str
    redis_port: int
    videos: Videos
    batches: int
    batch_size: int
    seed: int
    threads: int = 2
    window: int = 4
    resend_every: int = 0
    seconds: float = 10.0


def sender_process(job: Job, ready: Any, start: Any, results: Any) -> None:
    """Entry point of a spawned sender process: builds, reports ready, waits for start, sends
    with job.threads threads until the deadline, then reports what to count."""
    from vidmesh_services.platform.pids import die_with_parent

    die_with_parent()
    encoding = "raw" if job.kind in ("raw", "ceiling") else job.kind
    per_thread = [build(job.videos, encoding, job.batches, job.batch_size, job.seed * 100 + t) for t in range(job.threads)]
    ready.put(sum(len(b.payloads) for b in per_thread))
    start.wait()
    deadline = time.monotonic() + job.seconds
    outcomes: list[SenderResult] = [SenderResult() for _ in per_thread]

    def run(t: int) -> None:
        payloads = per_thread[t].payloads
        if job.kind == "grpc":
            outcomes[t] = GrpcSender(payloads, deadline, job.window, job.resend_every).run(job.gateway)
        elif job.kind == "rest":
            outcomes[t] = send_rest(job.gateway, payloads, deadline)
        else:
            prefix = "vidmesh:analytics:log:" if job.kind == "raw" else f"vidmesh:analytics:bench-ceiling:{job.seed}:"
            outcomes[t] = send_raw(job.redis_port, payloads, deadline, prefix, cycle=job.kind == "ceiling")

    threads = [threading.Thread(target=run, args=(t,)) for t in range(job.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(summarize(job, per_thread, outcomes))


def summarize(job: Job, built: Sequence[Built], outcomes: Sequence[SenderResult]) -> dict[str, Any]:
    """What the parent needs: events stored over time, and the tally of what they must count."""
    tally = Tally(job.videos.durations)
    timeline: list[tuple[float, int]] = []
    summary: dict[str, Any] = {"resent": 0, "resent_duplicates": 0, "rejected": 0, "errors": [], "events_offered": 0}
    for b, outcome in zip(built, outcomes, strict=True):
        for index in sorted(outcome.answered):
            rejected = outcome.answered[index]
            for position, (sid, video, e) in enumerate(b.contents[index]):
                if position not in rejected:
                    tally.add(sid, video, e)
        if job.kind in ("raw", "ceiling"):
            timeline += [(t, len(b.contents[position])) for t, position in outcome.timeline]
        else:
            timeline += outcome.timeline
        summary["resent"] += outcome.resent
        summary["resent_duplicates"] += outcome.resent_duplicates
        summary["rejected"] += outcome.rejected
        summary["errors"] += outcome.errors
    summary["timeline"] = timeline
    summary["tally"] = dict(tally.per_video) if job.kind != "ceiling" else {}
    summary["tally_events"] = tally.events if job.kind != "ceiling" else 0
    return summary


def iter_rate(timeline: Sequence[tuple[float, int]], start: float, end: float) -> Iterator[int]:
    for at, events in timeline:
        if start <= at < end:
            yield events
