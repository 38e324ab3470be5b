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

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class JobStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STAGE_UNSPECIFIED: _ClassVar[JobStage]
    JOB_STAGE_PROBING: _ClassVar[JobStage]
    JOB_STAGE_ENCODING: _ClassVar[JobStage]
    JOB_STAGE_PACKAGING: _ClassVar[JobStage]
    JOB_STAGE_PUBLISHING: _ClassVar[JobStage]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
JOB_STAGE_UNSPECIFIED: JobStage
JOB_STAGE_PROBING: JobStage
JOB_STAGE_ENCODING: JobStage
JOB_STAGE_PACKAGING: JobStage
JOB_STAGE_PUBLISHING: JobStage

class Job(_message.Message):
    __slots__ = ("name", "video", "owner", "state", "stage", "percent", "attempt", "max_attempts", "failure_reason", "create_time", "start_time", "end_time", "update_time", "output", "queue_position")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    name: str
    video: str
    owner: str
    state: JobState
    stage: JobStage
    percent: int
    attempt: int
    max_attempts: int
    failure_reason: str
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    output: JobOutput
    queue_position: int
    def __init__(self, name: _Optional[str] = ..., video: _Optional[str] = ..., owner: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., stage: _Optional[_Union[JobStage, str]] = ..., percent: _Optional[int] = ..., attempt: _Optional[int] = ..., max_attempts: _Optional[int] = ..., failure_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., output: _Optional[_Union[JobOutput, _Mapping]] = ..., queue_position: _Optional[int] = ...) -> None: ...

class JobOutput(_message.Message):
    __slots__ = ("version", "master_playlist_path", "renditions")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MASTER_PLAYLIST_PATH_FIELD_NUMBER: _ClassVar[int]
    RENDITIONS_FIELD_NUMBER: _ClassVar[int]
    version: str
    master_playlist_path: str
    renditions: _containers.RepeatedCompositeFieldContainer[_media_pb2.Rendition]
    def __init__(self, version: _Optional[str] = ..., master_playlist_path: _Optional[str] = ..., renditions: _Optional[_Iterable[_Union[_media_pb2.Rendition, _Mapping]]] = ...) -> None: ...
