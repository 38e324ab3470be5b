import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vidmesh.type.v1 import media_pb2 as _media_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LiveStreamState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIVE_STREAM_STATE_UNSPECIFIED: _ClassVar[LiveStreamState]
    LIVE_STREAM_STATE_IDLE: _ClassVar[LiveStreamState]
    LIVE_STREAM_STATE_LIVE: _ClassVar[LiveStreamState]
    LIVE_STREAM_STATE_ENDED: _ClassVar[LiveStreamState]
    LIVE_STREAM_STATE_RECONNECTING: _ClassVar[LiveStreamState]

class EndReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    END_REASON_UNSPECIFIED: _ClassVar[EndReason]
    END_REASON_ENDED_BY_OWNER: _ClassVar[EndReason]
    END_REASON_ENCODER_GONE: _ClassVar[EndReason]

class IngestError(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INGEST_ERROR_UNSPECIFIED: _ClassVar[IngestError]
    INGEST_ERROR_DISCONNECTED: _ClassVar[IngestError]
    INGEST_ERROR_STALLED: _ClassVar[IngestError]
    INGEST_ERROR_NO_VIDEO: _ClassVar[IngestError]
    INGEST_ERROR_UNSUPPORTED_CODEC: _ClassVar[IngestError]
    INGEST_ERROR_PROTOCOL: _ClassVar[IngestError]
    INGEST_ERROR_PACKAGER_FAILED: _ClassVar[IngestError]
    INGEST_ERROR_ALREADY_PUBLISHING: _ClassVar[IngestError]
    INGEST_ERROR_AT_CAPACITY: _ClassVar[IngestError]
LIVE_STREAM_STATE_UNSPECIFIED: LiveStreamState
LIVE_STREAM_STATE_IDLE: LiveStreamState
LIVE_STREAM_STATE_LIVE: LiveStreamState
LIVE_STREAM_STATE_ENDED: LiveStreamState
LIVE_STREAM_STATE_RECONNECTING: LiveStreamState
END_REASON_UNSPECIFIED: EndReason
END_REASON_ENDED_BY_OWNER: EndReason
END_REASON_ENCODER_GONE: EndReason
INGEST_ERROR_UNSPECIFIED: IngestError
INGEST_ERROR_DISCONNECTED: IngestError
INGEST_ERROR_STALLED: IngestError
INGEST_ERROR_NO_VIDEO: IngestError
INGEST_ERROR_UNSUPPORTED_CODEC: IngestError
INGEST_ERROR_PROTOCOL: IngestError
INGEST_ERROR_PACKAGER_FAILED: IngestError
INGEST_ERROR_ALREADY_PUBLISHING: IngestError
INGEST_ERROR_AT_CAPACITY: IngestError

class IngestHealth(_message.Message):
    __slots__ = ("video_bit_rate", "audio_bit_rate", "frame_rate", "keyframe_interval", "dropped_frames", "last_media_time")
    VIDEO_BIT_RATE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_BIT_RATE_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    KEYFRAME_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FRAMES_FIELD_NUMBER: _ClassVar[int]
    LAST_MEDIA_TIME_FIELD_NUMBER: _ClassVar[int]
    video_bit_rate: int
    audio_bit_rate: int
    frame_rate: float
    keyframe_interval: float
    dropped_frames: int
    last_media_time: _timestamp_pb2.Timestamp
    def __init__(self, video_bit_rate: _Optional[int] = ..., audio_bit_rate: _Optional[int] = ..., frame_rate: _Optional[float] = ..., keyframe_interval: _Optional[float] = ..., dropped_frames: _Optional[int] = ..., last_media_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IngestEnd(_message.Message):
    __slots__ = ("error", "detail", "time")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    error: IngestError
    detail: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, error: _Optional[_Union[IngestError, str]] = ..., detail: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LiveStream(_message.Message):
    __slots__ = ("name", "id", "owner", "title", "description", "visibility", "record", "state", "stream_key", "ingest_url", "master_playlist_path", "renditions", "ingest", "recording_video", "create_time", "start_time", "end_time", "update_time", "end_reason", "health", "last_ingest_end", "reconnect_deadline", "viewer_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STREAM_KEY_FIELD_NUMBER: _ClassVar[int]
    INGEST_URL_FIELD_NUMBER: _ClassVar[int]
    MASTER_PLAYLIST_PATH_FIELD_NUMBER: _ClassVar[int]
    RENDITIONS_FIELD_NUMBER: _ClassVar[int]
    INGEST_FIELD_NUMBER: _ClassVar[int]
    RECORDING_VIDEO_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    LAST_INGEST_END_FIELD_NUMBER: _ClassVar[int]
    RECONNECT_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    VIEWER_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    id: str
    owner: str
    title: str
    description: str
    visibility: _media_pb2.Visibility
    record: bool
    state: LiveStreamState
    stream_key: str
    ingest_url: str
    master_playlist_path: str
    renditions: _containers.RepeatedCompositeFieldContainer[_media_pb2.Rendition]
    ingest: _media_pb2.MediaInfo
    recording_video: str
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    end_reason: EndReason
    health: IngestHealth
    last_ingest_end: IngestEnd
    reconnect_deadline: _timestamp_pb2.Timestamp
    viewer_count: int
    def __init__(self, name: _Optional[str] = ..., id: _Optional[str] = ..., owner: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., visibility: _Optional[_Union[_media_pb2.Visibility, str]] = ..., record: _Optional[bool] = ..., state: _Optional[_Union[LiveStreamState, str]] = ..., stream_key: _Optional[str] = ..., ingest_url: _Optional[str] = ..., master_playlist_path: _Optional[str] = ..., renditions: _Optional[_Iterable[_Union[_media_pb2.Rendition, _Mapping]]] = ..., ingest: _Optional[_Union[_media_pb2.MediaInfo, _Mapping]] = ..., recording_video: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_reason: _Optional[_Union[EndReason, str]] = ..., health: _Optional[_Union[IngestHealth, _Mapping]] = ..., last_ingest_end: _Optional[_Union[IngestEnd, _Mapping]] = ..., reconnect_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., viewer_count: _Optional[int] = ...) -> None: ...

class ChatMessage(_message.Message):
    __slots__ = ("name", "author", "text", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    author: str
    text: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., author: _Optional[str] = ..., text: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
