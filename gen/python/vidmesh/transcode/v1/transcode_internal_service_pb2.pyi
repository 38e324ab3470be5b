import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vidmesh.transcode.v1 import resources_pb2 as _resources_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitJobRequest(_message.Message):
    __slots__ = ("video", "owner", "source_path", "request_id")
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_PATH_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    video: str
    owner: str
    source_path: str
    request_id: str
    def __init__(self, video: _Optional[str] = ..., owner: _Optional[str] = ..., source_path: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class SubmitJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: _resources_pb2.Job
    def __init__(self, job: _Optional[_Union[_resources_pb2.Job, _Mapping]] = ...) -> None: ...

class QueuedJob(_message.Message):
    __slots__ = ("job", "video", "owner", "source_path", "source_seconds", "submit_time")
    JOB_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_PATH_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    job: str
    video: str
    owner: str
    source_path: str
    source_seconds: float
    submit_time: _timestamp_pb2.Timestamp
    def __init__(self, job: _Optional[str] = ..., video: _Optional[str] = ..., owner: _Optional[str] = ..., source_path: _Optional[str] = ..., source_seconds: _Optional[float] = ..., submit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
