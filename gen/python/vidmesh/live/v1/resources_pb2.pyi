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

class LatencyMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LATENCY_MODE_UNSPECIFIED: _ClassVar[LatencyMode]
    LATENCY_MODE_STANDARD: _ClassVar[LatencyMode]
    LATENCY_MODE_LOW: _ClassVar[LatencyMode]
    LATENCY_MODE_REALTIME: _ClassVar[LatencyMode]
LIVE_STREAM_STATE_UNSPECIFIED: LiveStreamState
LIVE_STREAM_STATE_IDLE: LiveStreamState
LIVE_STREAM_STATE_LIVE: LiveStreamState
LIVE_STREAM_STATE_ENDED: LiveStreamState
LATENCY_MODE_UNSPECIFIED: LatencyMode
LATENCY_MODE_STANDARD: LatencyMode
LATENCY_MODE_LOW: LatencyMode
LATENCY_MODE_REALTIME: LatencyMode

class LiveStream(_message.Message):
    __slots__ = ("name", "id", "owner", "title", "description", "visibility", "latency_mode", "record", "state", "stream_key", "ingest_url", "master_playlist_path", "renditions", "ingest", "recording_video", "create_time", "start_time", "end_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MODE_FIELD_NUMBER: _ClassVar[int]
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
    name: str
    id: str
    owner: str
    title: str
    description: str
    visibility: _media_pb2.Visibility
    latency_mode: LatencyMode
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
    def __init__(self, name: _Optional[str] = ..., id: _Optional[str] = ..., owner: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., visibility: _Optional[_Union[_media_pb2.Visibility, str]] = ..., latency_mode: _Optional[_Union[LatencyMode, str]] = ..., record: _Optional[bool] = ..., state: _Optional[_Union[LiveStreamState, str]] = ..., stream_key: _Optional[str] = ..., ingest_url: _Optional[str] = ..., master_playlist_path: _Optional[str] = ..., renditions: _Optional[_Iterable[_Union[_media_pb2.Rendition, _Mapping]]] = ..., ingest: _Optional[_Union[_media_pb2.MediaInfo, _Mapping]] = ..., recording_video: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

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
