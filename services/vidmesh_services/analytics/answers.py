"""Counter values into the contract's messages: shared by the live counters and the warehouse."""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf import duration_pb2, timestamp_pb2
from vidmesh.analytics.v1 import analytics_service_pb2 as pb2

from . import keys
from .fold import startup_bucket_value


def timestamp(ms: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMilliseconds(ms)
    return stamp


def duration(ms: int | float) -> duration_pb2.Duration:
    span = duration_pb2.Duration()
    span.FromMilliseconds(int(ms))
    return span


def retention_bucket_start(index: int, duration_ms: int) -> int:
    """Where bucket `index` starts (ms): whole seconds under 100 s, else ceil(index% of the video)
    (the inverse of fold.retention_bucket)."""
    return max(1000 * index, -(-index * duration_ms // 100))


def retention(counts: Mapping[int, int], views: int, duration_ms: int, as_of_ms: int) -> pb2.GetRetentionResponse:
    """The curve from views per bucket index."""
    buckets = []
    count = keys.retention_bucket_count(duration_ms)
    for i in range(count):
        played = counts.get(i, 0)
        buckets.append(
            pb2.RetentionBucket(
                start_offset=duration(retention_bucket_start(i, duration_ms)),
                end_offset=duration(min(duration_ms, retention_bucket_start(i + 1, duration_ms))),
                views=played,
                audience_ratio=min(1.0, played / views) if views else 0.0,
            )
        )
    return pb2.GetRetentionResponse(buckets=buckets, views=views, video_duration=duration(duration_ms), as_of_time=timestamp(as_of_ms))


def _percentile(histogram: Mapping[int, int], share: float) -> float:
    total = sum(histogram.values())
    if not total:
        return 0.0
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= share * total:
            return startup_bucket_value(bucket)
    return startup_bucket_value(max(histogram))


def metrics(counters: Mapping[str, int], unique_viewers: int) -> pb2.VideoMetrics:
    """VideoMetrics from a counter hash (keys.COUNTER_FIELDS and the startup:/rendition: fields)."""
    c = {name: counters.get(name, 0) for name in keys.COUNTER_FIELDS}
    startup = {int(k[len(keys.STARTUP_FIELD) :]): v for k, v in counters.items() if k.startswith(keys.STARTUP_FIELD)}
    renditions = {k[len(keys.RENDITION_FIELD) :]: v for k, v in counters.items() if k.startswith(keys.RENDITION_FIELD) and v > 0}
    rendition_total = sum(renditions.values())
    stalled_and_played = c["stall_ms"] + c["watch_ms"]
    qoe = pb2.QoeMetrics(
        startup_time_p50=duration(_percentile(startup, 0.50)),
        startup_time_p95=duration(_percentile(startup, 0.95)),
        startup_time_p99=duration(_percentile(startup, 0.99)),
        rebuffering_ratio=c["stall_ms"] / stalled_and_played if stalled_and_played else 0.0,
        rebuffered_views=c["rebuffered_views"],
        failed_sessions=c["failed"],
        playback_failure_ratio=min(1.0, c["failed"] / c["sessions"]) if c["sessions"] else 0.0,
        exits_before_start=max(0, c["sessions"] - c["started"] - c["failed_before_start"]),
        rendition_shares=[
            pb2.RenditionShare(rendition=name, watch_time_ratio=ms / rendition_total)
            for name, ms in sorted(renditions.items(), key=lambda item: (-item[1], item[0]))
        ],
    )
    return pb2.VideoMetrics(
        views=c["views"],
        unique_viewers=min(unique_viewers, c["views"]),  # an estimate never above the exact views
        watch_time=duration(c["watch_ms"]),
        average_view_duration=duration(c["watch_ms"] / c["views"] if c["views"] else 0),
        qoe=qoe,
        sessions=c["sessions"],
    )
