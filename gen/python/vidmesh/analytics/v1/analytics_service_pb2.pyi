import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vidmesh.type.v1 import error_reason_pb2 as _error_reason_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PlayerEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLAYER_EVENT_KIND_UNSPECIFIED: _ClassVar[PlayerEventKind]
    PLAYER_EVENT_KIND_PLAY: _ClassVar[PlayerEventKind]
    PLAYER_EVENT_KIND_PAUSE: _ClassVar[PlayerEventKind]
    PLAYER_EVENT_KIND_SEEK: _ClassVar[PlayerEventKind]
    PLAYER_EVENT_KIND_HEARTBEAT: _ClassVar[PlayerEventKind]
    PLAYER_EVENT_KIND_BUFFER_START: _ClassVar[PlayerEventKind]
    PLAYER_EVENT_KIND_BUFFER_END: _ClassVar[PlayerEventKind]
    PLAYER_EVENT_KIND_QUALITY_CHANGE: _ClassVar[PlayerEventKind]
    PLAYER_EVENT_KIND_ENDED: _ClassVar[PlayerEventKind]
    PLAYER_EVENT_KIND_ERROR: _ClassVar[PlayerEventKind]
    PLAYER_EVENT_KIND_PLAY_REQUEST: _ClassVar[PlayerEventKind]

class MetricsInterval(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METRICS_INTERVAL_UNSPECIFIED: _ClassVar[MetricsInterval]
    METRICS_INTERVAL_HOUR: _ClassVar[MetricsInterval]
    METRICS_INTERVAL_DAY: _ClassVar[MetricsInterval]

class TopVideosOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOP_VIDEOS_ORDER_UNSPECIFIED: _ClassVar[TopVideosOrder]
    TOP_VIDEOS_ORDER_WATCH_TIME: _ClassVar[TopVideosOrder]
    TOP_VIDEOS_ORDER_VIEWS: _ClassVar[TopVideosOrder]
PLAYER_EVENT_KIND_UNSPECIFIED: PlayerEventKind
PLAYER_EVENT_KIND_PLAY: PlayerEventKind
PLAYER_EVENT_KIND_PAUSE: PlayerEventKind
PLAYER_EVENT_KIND_SEEK: PlayerEventKind
PLAYER_EVENT_KIND_HEARTBEAT: PlayerEventKind
PLAYER_EVENT_KIND_BUFFER_START: PlayerEventKind
PLAYER_EVENT_KIND_BUFFER_END: PlayerEventKind
PLAYER_EVENT_KIND_QUALITY_CHANGE: PlayerEventKind
PLAYER_EVENT_KIND_ENDED: PlayerEventKind
PLAYER_EVENT_KIND_ERROR: PlayerEventKind
PLAYER_EVENT_KIND_PLAY_REQUEST: PlayerEventKind
METRICS_INTERVAL_UNSPECIFIED: MetricsInterval
METRICS_INTERVAL_HOUR: MetricsInterval
METRICS_INTERVAL_DAY: MetricsInterval
TOP_VIDEOS_ORDER_UNSPECIFIED: TopVideosOrder
TOP_VIDEOS_ORDER_WATCH_TIME: TopVideosOrder
TOP_VIDEOS_ORDER_VIEWS: TopVideosOrder

class PlayerEvent(_message.Message):
    __slots__ = ("event_id", "session_id", "video", "viewer_id", "kind", "event_time", "position", "rendition", "played", "startup_time", "stall_duration", "seek_from", "previous_rendition", "bandwidth_estimate", "error_code", "error_message")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    PLAYED_FIELD_NUMBER: _ClassVar[int]
    STARTUP_TIME_FIELD_NUMBER: _ClassVar[int]
    STALL_DURATION_FIELD_NUMBER: _ClassVar[int]
    SEEK_FROM_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_RENDITION_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    session_id: str
    video: str
    viewer_id: str
    kind: PlayerEventKind
    event_time: _timestamp_pb2.Timestamp
    position: _duration_pb2.Duration
    rendition: str
    played: _duration_pb2.Duration
    startup_time: _duration_pb2.Duration
    stall_duration: _duration_pb2.Duration
    seek_from: _duration_pb2.Duration
    previous_rendition: str
    bandwidth_estimate: int
    error_code: str
    error_message: str
    def __init__(self, event_id: _Optional[str] = ..., session_id: _Optional[str] = ..., video: _Optional[str] = ..., viewer_id: _Optional[str] = ..., kind: _Optional[_Union[PlayerEventKind, str]] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., position: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., rendition: _Optional[str] = ..., played: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., startup_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., stall_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., seek_from: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., previous_rendition: _Optional[str] = ..., bandwidth_estimate: _Optional[int] = ..., error_code: _Optional[str] = ..., error_message: _Optional[str] = ...) -> None: ...

class RejectedEvent(_message.Message):
    __slots__ = ("event_id", "index", "reason", "field", "description")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    index: int
    reason: _error_reason_pb2.ErrorReason
    field: str
    description: str
    def __init__(self, event_id: _Optional[str] = ..., index: _Optional[int] = ..., reason: _Optional[_Union[_error_reason_pb2.ErrorReason, str]] = ..., field: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class SendEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[PlayerEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[PlayerEvent, _Mapping]]] = ...) -> None: ...

class SendEventsResponse(_message.Message):
    __slots__ = ("accepted_count", "duplicate_count", "rejected_events")
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    accepted_count: int
    duplicate_count: int
    rejected_events: _containers.RepeatedCompositeFieldContainer[RejectedEvent]
    def __init__(self, accepted_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ..., rejected_events: _Optional[_Iterable[_Union[RejectedEvent, _Mapping]]] = ...) -> None: ...

class SendEventBatchRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[PlayerEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[PlayerEvent, _Mapping]]] = ...) -> None: ...

class SendEventBatchResponse(_message.Message):
    __slots__ = ("accepted_count", "duplicate_count", "rejected_events")
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    accepted_count: int
    duplicate_count: int
    rejected_events: _containers.RepeatedCompositeFieldContainer[RejectedEvent]
    def __init__(self, accepted_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ..., rejected_events: _Optional[_Iterable[_Union[RejectedEvent, _Mapping]]] = ...) -> None: ...

class GetVideoMetricsRequest(_message.Message):
    __slots__ = ("video", "start_time", "end_time", "interval")
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    video: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    interval: MetricsInterval
    def __init__(self, video: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., interval: _Optional[_Union[MetricsInterval, str]] = ...) -> None: ...

class GetVideoMetricsResponse(_message.Message):
    __slots__ = ("totals", "series", "as_of_time")
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    totals: VideoMetrics
    series: _containers.RepeatedCompositeFieldContainer[VideoMetricsPoint]
    as_of_time: _timestamp_pb2.Timestamp
    def __init__(self, totals: _Optional[_Union[VideoMetrics, _Mapping]] = ..., series: _Optional[_Iterable[_Union[VideoMetricsPoint, _Mapping]]] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class VideoMetricsPoint(_message.Message):
    __slots__ = ("start_time", "metrics")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    metrics: VideoMetrics
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metrics: _Optional[_Union[VideoMetrics, _Mapping]] = ...) -> None: ...

class VideoMetrics(_message.Message):
    __slots__ = ("views", "unique_viewers", "watch_time", "average_view_duration", "qoe", "sessions")
    VIEWS_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_VIEWERS_FIELD_NUMBER: _ClassVar[int]
    WATCH_TIME_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_VIEW_DURATION_FIELD_NUMBER: _ClassVar[int]
    QOE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    views: int
    unique_viewers: int
    watch_time: _duration_pb2.Duration
    average_view_duration: _duration_pb2.Duration
    qoe: QoeMetrics
    sessions: int
    def __init__(self, views: _Optional[int] = ..., unique_viewers: _Optional[int] = ..., watch_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., average_view_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., qoe: _Optional[_Union[QoeMetrics, _Mapping]] = ..., sessions: _Optional[int] = ...) -> None: ...

class RenditionShare(_message.Message):
    __slots__ = ("rendition", "watch_time_ratio")
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    WATCH_TIME_RATIO_FIELD_NUMBER: _ClassVar[int]
    rendition: str
    watch_time_ratio: float
    def __init__(self, rendition: _Optional[str] = ..., watch_time_ratio: _Optional[float] = ...) -> None: ...

class QoeMetrics(_message.Message):
    __slots__ = ("startup_time_p50", "startup_time_p95", "startup_time_p99", "rebuffering_ratio", "rebuffered_views", "failed_sessions", "playback_failure_ratio", "exits_before_start", "rendition_shares")
    STARTUP_TIME_P50_FIELD_NUMBER: _ClassVar[int]
    STARTUP_TIME_P95_FIELD_NUMBER: _ClassVar[int]
    STARTUP_TIME_P99_FIELD_NUMBER: _ClassVar[int]
    REBUFFERING_RATIO_FIELD_NUMBER: _ClassVar[int]
    REBUFFERED_VIEWS_FIELD_NUMBER: _ClassVar[int]
    FAILED_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    PLAYBACK_FAILURE_RATIO_FIELD_NUMBER: _ClassVar[int]
    EXITS_BEFORE_START_FIELD_NUMBER: _ClassVar[int]
    RENDITION_SHARES_FIELD_NUMBER: _ClassVar[int]
    startup_time_p50: _duration_pb2.Duration
    startup_time_p95: _duration_pb2.Duration
    startup_time_p99: _duration_pb2.Duration
    rebuffering_ratio: float
    rebuffered_views: int
    failed_sessions: int
    playback_failure_ratio: float
    exits_before_start: int
    rendition_shares: _containers.RepeatedCompositeFieldContainer[RenditionShare]
    def __init__(self, startup_time_p50: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., startup_time_p95: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., startup_time_p99: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., rebuffering_ratio: _Optional[float] = ..., rebuffered_views: _Optional[int] = ..., failed_sessions: _Optional[int] = ..., playback_failure_ratio: _Optional[float] = ..., exits_before_start: _Optional[int] = ..., rendition_shares: _Optional[_Iterable[_Union[RenditionShare, _Mapping]]] = ...) -> None: ...

class GetRetentionRequest(_message.Message):
    __slots__ = ("video", "start_time", "end_time")
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    video: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, video: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetRetentionResponse(_message.Message):
    __slots__ = ("buckets", "views", "video_duration", "as_of_time")
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    VIEWS_FIELD_NUMBER: _ClassVar[int]
    VIDEO_DURATION_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    buckets: _containers.RepeatedCompositeFieldContainer[RetentionBucket]
    views: int
    video_duration: _duration_pb2.Duration
    as_of_time: _timestamp_pb2.Timestamp
    def __init__(self, buckets: _Optional[_Iterable[_Union[RetentionBucket, _Mapping]]] = ..., views: _Optional[int] = ..., video_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RetentionBucket(_message.Message):
    __slots__ = ("start_offset", "end_offset", "views", "audience_ratio")
    START_OFFSET_FIELD_NUMBER: _ClassVar[int]
    END_OFFSET_FIELD_NUMBER: _ClassVar[int]
    VIEWS_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_RATIO_FIELD_NUMBER: _ClassVar[int]
    start_offset: _duration_pb2.Duration
    end_offset: _duration_pb2.Duration
    views: int
    audience_ratio: float
    def __init__(self, start_offset: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., end_offset: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., views: _Optional[int] = ..., audience_ratio: _Optional[float] = ...) -> None: ...

class ListTopVideosRequest(_message.Message):
    __slots__ = ("owner", "order_by", "start_time", "end_time", "page_size")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    owner: str
    order_by: TopVideosOrder
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    def __init__(self, owner: _Optional[str] = ..., order_by: _Optional[_Union[TopVideosOrder, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListTopVideosResponse(_message.Message):
    __slots__ = ("videos", "as_of_time")
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    videos: _containers.RepeatedCompositeFieldContainer[TopVideo]
    as_of_time: _timestamp_pb2.Timestamp
    def __init__(self, videos: _Optional[_Iterable[_Union[TopVideo, _Mapping]]] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TopVideo(_message.Message):
    __slots__ = ("video", "views", "watch_time")
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    VIEWS_FIELD_NUMBER: _ClassVar[int]
    WATCH_TIME_FIELD_NUMBER: _ClassVar[int]
    video: str
    views: int
    watch_time: _duration_pb2.Duration
    def __init__(self, video: _Optional[str] = ..., views: _Optional[int] = ..., watch_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class BatchGetViewCountsRequest(_message.Message):
    __slots__ = ("videos",)
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    videos: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, videos: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchGetViewCountsResponse(_message.Message):
    __slots__ = ("view_counts",)
    VIEW_COUNTS_FIELD_NUMBER: _ClassVar[int]
    view_counts: _containers.RepeatedCompositeFieldContainer[ViewCount]
    def __init__(self, view_counts: _Optional[_Iterable[_Union[ViewCount, _Mapping]]] = ...) -> None: ...

class ViewCount(_message.Message):
    __slots__ = ("video", "views", "as_of_time")
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    VIEWS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    video: str
    views: int
    as_of_time: _timestamp_pb2.Timestamp
    def __init__(self, video: _Optional[str] = ..., views: _Optional[int] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
