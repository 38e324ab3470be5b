import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vidmesh.type.v1 import media_pb2 as _media_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InitUploadRequest(_message.Message):
    __slots__ = ("filename", "size_bytes", "content_type", "sha256", "chunk_size_bytes", "title", "description", "tags", "visibility")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    filename: str
    size_bytes: int
    content_type: str
    sha256: str
    chunk_size_bytes: int
    title: str
    description: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    visibility: _media_pb2.Visibility
    def __init__(self, filename: _Optional[str] = ..., size_bytes: _Optional[int] = ..., content_type: _Optional[str] = ..., sha256: _Optional[str] = ..., chunk_size_bytes: _Optional[int] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., visibility: _Optional[_Union[_media_pb2.Visibility, str]] = ...) -> None: ...

class InitUploadResponse(_message.Message):
    __slots__ = ("name", "chunk_size_bytes", "chunk_count", "expire_time", "video_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    chunk_size_bytes: int
    chunk_count: int
    expire_time: _timestamp_pb2.Timestamp
    video_id: str
    def __init__(self, name: _Optional[str] = ..., chunk_size_bytes: _Optional[int] = ..., chunk_count: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., video_id: _Optional[str] = ...) -> None: ...

class UploadChunksRequest(_message.Message):
    __slots__ = ("name", "index", "data", "crc32c")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CRC32C_FIELD_NUMBER: _ClassVar[int]
    name: str
    index: int
    data: bytes
    crc32c: int
    def __init__(self, name: _Optional[str] = ..., index: _Optional[int] = ..., data: _Optional[bytes] = ..., crc32c: _Optional[int] = ...) -> None: ...

class UploadChunksResponse(_message.Message):
    __slots__ = ("recorded_indexes", "received_count", "chunk_count")
    RECORDED_INDEXES_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    recorded_indexes: _containers.RepeatedScalarFieldContainer[int]
    received_count: int
    chunk_count: int
    def __init__(self, recorded_indexes: _Optional[_Iterable[int]] = ..., received_count: _Optional[int] = ..., chunk_count: _Optional[int] = ...) -> None: ...

class GetUploadStatusRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetUploadStatusResponse(_message.Message):
    __slots__ = ("name", "received_indexes", "chunk_count", "chunk_size_bytes", "size_bytes", "expire_time", "video_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_INDEXES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    received_indexes: _containers.RepeatedScalarFieldContainer[int]
    chunk_count: int
    chunk_size_bytes: int
    size_bytes: int
    expire_time: _timestamp_pb2.Timestamp
    video_id: str
    def __init__(self, name: _Optional[str] = ..., received_indexes: _Optional[_Iterable[int]] = ..., chunk_count: _Optional[int] = ..., chunk_size_bytes: _Optional[int] = ..., size_bytes: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., video_id: _Optional[str] = ...) -> None: ...

class CompleteUploadRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CompleteUploadResponse(_message.Message):
    __slots__ = ("video_id", "video_name")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    VIDEO_NAME_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    video_name: str
    def __init__(self, video_id: _Optional[str] = ..., video_name: _Optional[str] = ...) -> None: ...

class AbortUploadRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class AbortUploadResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
