"""`vidmesh stats`: a video's analytics as a terminal summary (the creator dashboard in text)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf import duration_pb2
from vidmesh.analytics.v1 import analytics_service_pb2 as pb2

from ._client import VidmeshClient

INTERVALS = {"hour": pb2.METRICS_INTERVAL_HOUR, "day": pb2.METRICS_INTERVAL_DAY}
SPARKS = "▁▂▃▄▅▆▇█"
BAR_WIDTH = 30
RETENTION_ROWS = 10
HOURLY_UP_TO = dt.timedelta(hours=72)  # --since without --interval: hourly points up to this span, else daily
_SPAN = re.compile(r"^(\d+)\s*(m|h|d|w)$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """'90m', '24h', '7d', '2w' before now, or an ISO date or time (UTC unless it names a zone)."""
    span = _SPAN.match(text.strip().lower())
    if span:
        return now - dt.timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
    try:
        at = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since {text!r}: give a span such as 24h or 7d, or an ISO date such as 2026-12-01") from None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Query:
    """What one refresh asks: lifetime (since None) or a range from since to now."""

    video_id: str
    since: str | None
    interval: str | None

    def fetch(self, client: VidmeshClient, now: dt.datetime) -> Stats:
        if self.since is None and self.interval is None:
            # The headline numbers are lifetime; the trend is the last day, hour by hour.
            totals = client.video_metrics(self.video_id)
            trend = client.video_metrics(self.video_id, interval=pb2.METRICS_INTERVAL_HOUR)
            return Stats(self, "lifetime", totals, trend.series, "hour", client.retention(self.video_id))
        start = parse_since(self.since, now) if self.since else None
        width = self.interval or ("hour" if start is None or now - start <= HOURLY_UP_TO else "day")
        metrics = client.video_metrics(self.video_id, start=start, interval=INTERVALS[width])
        first = metrics.series[0].start_time.ToDatetime(dt.UTC) if metrics.series else start
        label = f"sessions started since {_when(first)}" if first else "range"
        # A ranged curve comes from the warehouse (the live counters keep lifetime buckets only).
        retention = client.retention(self.video_id, start=start) if start else client.retention(self.video_id)
        return Stats(self, label, metrics, metrics.series, width, retention)


@dataclass(frozen=True)
class Stats:
    query: Query
    label: str
    metrics: pb2.GetVideoMetricsResponse
    series: Sequence[pb2.VideoMetricsPoint]
    width: str  # 'hour' or 'day'
    retention: pb2.GetRetentionResponse

    def render(self, now: dt.datetime, table: bool) -> str:
        """The summary; with table, the series as a table, else as sparklines."""
        totals = self.metrics.totals
        lag = (now - self.metrics.as_of_time.ToDatetime(dt.UTC)).total_seconds()
        lines = [
            f"videos/{self.query.video_id}: {self.label} (counted to {_when(self.metrics.as_of_time.ToDatetime(dt.UTC))}, {lag:.1f} s ago)"
        ]
        lines += _fields(
            ("views", f"{totals.views:,}"),
            ("unique viewers", f"{totals.unique_viewers:,} (estimated)"),
            ("watch time", human_duration(totals.watch_time)),
            ("avg view duration", human_duration(totals.average_view_duration)),
            ("sessions", f"{totals.sessions:,}"),
        )
        lines += ["", "quality of experience", *_qoe(totals.qoe)]
        lines += ["", *retention_lines(self.retention, ranged=self.query.since is not None)]
        lines += ["", *(series_table(self.series, self.width) if table else series_sparklines(self.series, self.width))]
        return "\n".join(lines)


def _fields(*pairs: tuple[str, str]) -> list[str]:
    return [f"  {label + ':':<20} {value}" for label, value in pairs]


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.1f}%"


def _qoe(qoe: pb2.QoeMetrics) -> list[str]:
    startup = " / ".join(human_duration(d) for d in (qoe.startup_time_p50, qoe.startup_time_p95, qoe.startup_time_p99))
    shares = ", ".join(f"{r.rendition} {_percent(r.watch_time_ratio)}" for r in qoe.rendition_shares) or "none yet"
    return _fields(
        ("startup p50/p95/p99", startup),
        ("rebuffering", f"{_percent(qoe.rebuffering_ratio)} of session time, {qoe.rebuffered_views:,} views stalled"),
        ("playback failures", f"{_percent(qoe.playback_failure_ratio)} of sessions ({qoe.failed_sessions:,})"),
        ("exits before start", f"{qoe.exits_before_start:,}"),
        ("renditions", shares),
    )


def human_duration(span: duration_pb2.Duration | float) -> str:
    """'350 ms', '35 s', '12 min 5 s', '3 h 12 min' (a float is seconds)."""
    seconds = span if isinstance(span, float | int) else span.ToMilliseconds() / 1000
    if 0 < seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{round(seconds, 1):g} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def _position(span: duration_pb2.Duration) -> str:
    whole = span.ToMilliseconds() // 1000
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def sparkline(values: Sequence[float]) -> str:
    """One character per value, its height relative to the largest."""
    top = max(values, default=0)
    return "".join(SPARKS[round(v / top * (len(SPARKS) - 1))] if top else SPARKS[0] for v in values)


def _bar(ratio: float) -> str:
    filled = round(max(0.0, min(1.0, ratio)) * BAR_WIDTH)
    return "█" * filled + "·" * (BAR_WIDTH - filled)


def retention_lines(curve: pb2.GetRetentionResponse, ranged: bool = False) -> list[str]:
    """The curve as a sparkline over every stretch, then RETENTION_ROWS rows of bars, each the
    mean audience of its stretches. A ranged curve comes from the warehouse, which lags."""
    buckets = list(curve.buckets)
    head = f"audience retention over {curve.views:,} views of {human_duration(curve.video_duration)}"
    if ranged:
        head += f" (warehouse, events to {_when(curve.as_of_time.ToDatetime(dt.UTC))})"
    if not buckets or not curve.views:
        return [head, "  no views yet"]
    lines = [head, "  " + sparkline([b.audience_ratio for b in buckets])]
    rows = min(RETENTION_ROWS, len(buckets))
    for row in range(rows):
        part = buckets[row * len(buckets) // rows : (row + 1) * len(buckets) // rows]
        ratio = sum(b.audience_ratio for b in part) / len(part)
        lines.append(f"  {_position(part[0].start_offset):>8}  {_bar(ratio)} {ratio * 100:5.1f}%")
    return lines


def _when(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _point_label(point: pb2.VideoMetricsPoint, width: str) -> str:
    at = point.start_time.ToDatetime(dt.UTC)
    return at.strftime("%Y-%m-%d %H:00" if width == "hour" else "%Y-%m-%d")


def series_table(series: Sequence[pb2.VideoMetricsPoint], width: str) -> list[str]:
    if not series:
        return [f"per {width}: no points"]
    header = f"  {'START (UTC)':<16} {'VIEWS':>8} {'VIEWERS':>8} {'SESSIONS':>8}  {'WATCH TIME':>14}"
    lines = [f"per {width}, by when sessions started", header]
    for point in series:
        m = point.metrics
        lines.append(
            f"  {_point_label(point, width):<16} {m.views:>8,} {m.unique_viewers:>8,} {m.sessions:>8,}  {human_duration(m.watch_time):>14}"
        )
    return lines


def series_sparklines(series: Sequence[pb2.VideoMetricsPoint], width: str) -> list[str]:
    if not series:
        return [f"per {width}: no points"]
    first, last = _point_label(series[0], width), _point_label(series[-1], width)
    views = [float(p.metrics.views) for p in series]
    watch = [p.metrics.watch_time.ToMilliseconds() / 1000 for p in series]
    total_watch = human_duration(sum(watch))
    return [
        f"last {len(series)} {width}s ({first} to {last} UTC; --interval {width} for the table)",
        f"  {'views':<11} {sparkline(views)}  {int(sum(views)):,}",
        f"  {'watch time':<11} {sparkline(watch)}  {total_watch}",
    ]


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
