import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetMasterPlaylistRequest(_message.Message):
    __slots__ = ("video_id", "version", "token")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    version: str
    token: str
    def __init__(self, video_id: _Optional[str] = ..., version: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class GetMasterPlaylistResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class GetMediaPlaylistRequest(_message.Message):
    __slots__ = ("video_id", "version", "rendition", "token")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    version: str
    rendition: str
    token: str
    def __init__(self, video_id: _Optional[str] = ..., version: _Optional[str] = ..., rendition: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class GetMediaPlaylistResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class GetSegmentRequest(_message.Message):
    __slots__ = ("video_id", "version", "rendition", "segment", "token")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    version: str
    rendition: str
    segment: str
    token: str
    def __init__(self, video_id: _Optional[str] = ..., version: _Optional[str] = ..., rendition: _Optional[str] = ..., segment: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class GetSegmentResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class GetPosterRequest(_message.Message):
    __slots__ = ("video_id", "version", "token")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    version: str
    token: str
    def __init__(self, video_id: _Optional[str] = ..., version: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class GetPosterResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class GetStoryboardRequest(_message.Message):
    __slots__ = ("video_id", "version", "file", "token")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    version: str
    file: str
    token: str
    def __init__(self, video_id: _Optional[str] = ..., version: _Optional[str] = ..., file: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class GetStoryboardResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class GetLiveMasterPlaylistRequest(_message.Message):
    __slots__ = ("stream_id", "token")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    token: str
    def __init__(self, stream_id: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class GetLiveMasterPlaylistResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class GetLiveMediaPlaylistRequest(_message.Message):
    __slots__ = ("stream_id", "rendition", "token", "hls_msn", "hls_part", "hls_skip")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    HLS_MSN_FIELD_NUMBER: _ClassVar[int]
    HLS_PART_FIELD_NUMBER: _ClassVar[int]
    HLS_SKIP_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    rendition: str
    token: str
    hls_msn: int
    hls_part: int
    hls_skip: str
    def __init__(self, stream_id: _Optional[str] = ..., rendition: _Optional[str] = ..., token: _Optional[str] = ..., hls_msn: _Optional[int] = ..., hls_part: _Optional[int] = ..., hls_skip: _Optional[str] = ...) -> None: ...

class GetLiveMediaPlaylistResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class GetLiveSegmentRequest(_message.Message):
    __slots__ = ("stream_id", "rendition", "segment", "token")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    rendition: str
    segment: str
    token: str
    def __init__(self, stream_id: _Optional[str] = ..., rendition: _Optional[str] = ..., segment: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class GetLiveSegmentResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class CreatePlaybackUrlRequest(_message.Message):
    __slots__ = ("name", "ttl")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    name: str
    ttl: _duration_pb2.Duration
    def __init__(self, name: _Optional[str] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class CreatePlaybackUrlResponse(_message.Message):
    __slots__ = ("url", "token", "expire_time")
    URL_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    url: str
    token: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, url: _Optional[str] = ..., token: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
