from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListViewMilestonesRequest(_message.Message):
    __slots__ = ("cursor", "page_size")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    page_size: int
    def __init__(self, cursor: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListViewMilestonesResponse(_message.Message):
    __slots__ = ("milestones", "next_cursor")
    MILESTONES_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    milestones: _containers.RepeatedCompositeFieldContainer[ViewMilestone]
    next_cursor: str
    def __init__(self, milestones: _Optional[_Iterable[_Union[ViewMilestone, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class ViewMilestone(_message.Message):
    __slots__ = ("video_id", "views")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWS_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    views: int
    def __init__(self, video_id: _Optional[str] = ..., views: _Optional[int] = ...) -> None: ...

class ListViewsRequest(_message.Message):
    __slots__ = ("cursor", "page_size")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    page_size: int
    def __init__(self, cursor: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListViewsResponse(_message.Message):
    __slots__ = ("views", "next_cursor")
    VIEWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    views: _containers.RepeatedCompositeFieldContainer[View]
    next_cursor: str
    def __init__(self, views: _Optional[_Iterable[_Union[View, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class View(_message.Message):
    __slots__ = ("viewer", "video_id", "view_time_ms")
    VIEWER_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    viewer: str
    video_id: str
    view_time_ms: int
    def __init__(self, viewer: _Optional[str] = ..., video_id: _Optional[str] = ..., view_time_ms: _Optional[int] = ...) -> None: ...
