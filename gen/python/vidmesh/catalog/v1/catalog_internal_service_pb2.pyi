from google.api import field_behavior_pb2 as _field_behavior_pb2
from vidmesh.catalog.v1 import resources_pb2 as _resources_pb2
from vidmesh.type.v1 import media_pb2 as _media_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateVideoRequest(_message.Message):
    __slots__ = ("video_id", "video", "owner", "source")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    video: _resources_pb2.Video
    owner: str
    source: _media_pb2.MediaInfo
    def __init__(self, video_id: _Optional[str] = ..., video: _Optional[_Union[_resources_pb2.Video, _Mapping]] = ..., owner: _Optional[str] = ..., source: _Optional[_Union[_media_pb2.MediaInfo, _Mapping]] = ...) -> None: ...

class CreateVideoResponse(_message.Message):
    __slots__ = ("video",)
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    video: _resources_pb2.Video
    def __init__(self, video: _Optional[_Union[_resources_pb2.Video, _Mapping]] = ...) -> None: ...

class SetProcessingResultRequest(_message.Message):
    __slots__ = ("name", "status", "failure_reason", "renditions", "master_playlist_path")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    RENDITIONS_FIELD_NUMBER: _ClassVar[int]
    MASTER_PLAYLIST_PATH_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: _resources_pb2.VideoStatus
    failure_reason: str
    renditions: _containers.RepeatedCompositeFieldContainer[_media_pb2.Rendition]
    master_playlist_path: str
    def __init__(self, name: _Optional[str] = ..., status: _Optional[_Union[_resources_pb2.VideoStatus, str]] = ..., failure_reason: _Optional[str] = ..., renditions: _Optional[_Iterable[_Union[_media_pb2.Rendition, _Mapping]]] = ..., master_playlist_path: _Optional[str] = ...) -> None: ...

class SetProcessingResultResponse(_message.Message):
    __slots__ = ("video",)
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    video: _resources_pb2.Video
    def __init__(self, video: _Optional[_Union[_resources_pb2.Video, _Mapping]] = ...) -> None: ...
