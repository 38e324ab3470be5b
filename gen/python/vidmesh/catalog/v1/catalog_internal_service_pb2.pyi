from google.api import field_behavior_pb2 as _field_behavior_pb2
from vidmesh.catalog.v1 import resources_pb2 as _resources_pb2
from vidmesh.type.v1 import media_pb2 as _media_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListVideoChangesRequest(_message.Message):
    __slots__ = ("cursor", "page_size")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    page_size: int
    def __init__(self, cursor: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListVideoChangesResponse(_message.Message):
    __slots__ = ("changes", "next_cursor")
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[VideoChange]
    next_cursor: str
    def __init__(self, changes: _Optional[_Iterable[_Union[VideoChange, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class VideoChange(_message.Message):
    __slots__ = ("video_id", "revision")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    revision: int
    def __init__(self, video_id: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class ScanVideosRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ScanVideosResponse(_message.Message):
    __slots__ = ("videos", "next_page_token", "changes_cursor")
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CHANGES_CURSOR_FIELD_NUMBER: _ClassVar[int]
    videos: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Video]
    next_page_token: str
    changes_cursor: str
    def __init__(self, videos: _Optional[_Iterable[_Union[_resources_pb2.Video, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., changes_cursor: _Optional[str] = ...) -> None: ...

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
