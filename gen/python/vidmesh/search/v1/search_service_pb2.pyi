import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vidmesh.catalog.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_ORDER_UNSPECIFIED: _ClassVar[SearchOrder]
    SEARCH_ORDER_RELEVANCE: _ClassVar[SearchOrder]
    SEARCH_ORDER_RECENT: _ClassVar[SearchOrder]
    SEARCH_ORDER_POPULAR: _ClassVar[SearchOrder]
SEARCH_ORDER_UNSPECIFIED: SearchOrder
SEARCH_ORDER_RELEVANCE: SearchOrder
SEARCH_ORDER_RECENT: SearchOrder
SEARCH_ORDER_POPULAR: SearchOrder

class SearchVideosRequest(_message.Message):
    __slots__ = ("query", "tags", "min_duration", "max_duration", "min_create_time", "owner", "order", "page_size", "page_token")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    MIN_DURATION_FIELD_NUMBER: _ClassVar[int]
    MAX_DURATION_FIELD_NUMBER: _ClassVar[int]
    MIN_CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    query: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    min_duration: _duration_pb2.Duration
    max_duration: _duration_pb2.Duration
    min_create_time: _timestamp_pb2.Timestamp
    owner: str
    order: SearchOrder
    page_size: int
    page_token: str
    def __init__(self, query: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., min_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., min_create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., owner: _Optional[str] = ..., order: _Optional[_Union[SearchOrder, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchVideosResponse(_message.Message):
    __slots__ = ("hits", "next_page_token", "total_size", "suggested_query")
    HITS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_QUERY_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    next_page_token: str
    total_size: int
    suggested_query: str
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ..., suggested_query: _Optional[str] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("video", "score", "snippets", "view_count", "fuzzy")
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SNIPPETS_FIELD_NUMBER: _ClassVar[int]
    VIEW_COUNT_FIELD_NUMBER: _ClassVar[int]
    FUZZY_FIELD_NUMBER: _ClassVar[int]
    video: _resources_pb2.Video
    score: float
    snippets: _containers.RepeatedCompositeFieldContainer[Snippet]
    view_count: int
    fuzzy: bool
    def __init__(self, video: _Optional[_Union[_resources_pb2.Video, _Mapping]] = ..., score: _Optional[float] = ..., snippets: _Optional[_Iterable[_Union[Snippet, _Mapping]]] = ..., view_count: _Optional[int] = ..., fuzzy: _Optional[bool] = ...) -> None: ...

class Snippet(_message.Message):
    __slots__ = ("field", "parts")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    field: str
    parts: _containers.RepeatedCompositeFieldContainer[SnippetPart]
    def __init__(self, field: _Optional[str] = ..., parts: _Optional[_Iterable[_Union[SnippetPart, _Mapping]]] = ...) -> None: ...

class SnippetPart(_message.Message):
    __slots__ = ("text", "highlighted")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    HIGHLIGHTED_FIELD_NUMBER: _ClassVar[int]
    text: str
    highlighted: bool
    def __init__(self, text: _Optional[str] = ..., highlighted: _Optional[bool] = ...) -> None: ...

class SuggestQueriesRequest(_message.Message):
    __slots__ = ("prefix",)
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    def __init__(self, prefix: _Optional[str] = ...) -> None: ...

class SuggestQueriesResponse(_message.Message):
    __slots__ = ("suggestions",)
    SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    suggestions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, suggestions: _Optional[_Iterable[str]] = ...) -> None: ...
