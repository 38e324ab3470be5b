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
