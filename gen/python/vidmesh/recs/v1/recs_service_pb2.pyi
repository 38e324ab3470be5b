import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
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

class RecommendationReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECOMMENDATION_REASON_UNSPECIFIED: _ClassVar[RecommendationReason]
    RECOMMENDATION_REASON_PERSONALIZED: _ClassVar[RecommendationReason]
    RECOMMENDATION_REASON_SIMILAR: _ClassVar[RecommendationReason]
    RECOMMENDATION_REASON_TRENDING: _ClassVar[RecommendationReason]

class InteractionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTERACTION_KIND_UNSPECIFIED: _ClassVar[InteractionKind]
    INTERACTION_KIND_VIEW: _ClassVar[InteractionKind]
    INTERACTION_KIND_LIKE: _ClassVar[InteractionKind]
    INTERACTION_KIND_DISLIKE: _ClassVar[InteractionKind]
    INTERACTION_KIND_SHARE: _ClassVar[InteractionKind]
    INTERACTION_KIND_COMPLETE: _ClassVar[InteractionKind]
RECOMMENDATION_REASON_UNSPECIFIED: RecommendationReason
RECOMMENDATION_REASON_PERSONALIZED: RecommendationReason
RECOMMENDATION_REASON_SIMILAR: RecommendationReason
RECOMMENDATION_REASON_TRENDING: RecommendationReason
INTERACTION_KIND_UNSPECIFIED: InteractionKind
INTERACTION_KIND_VIEW: InteractionKind
INTERACTION_KIND_LIKE: InteractionKind
INTERACTION_KIND_DISLIKE: InteractionKind
INTERACTION_KIND_SHARE: InteractionKind
INTERACTION_KIND_COMPLETE: InteractionKind

class GetRecommendationsRequest(_message.Message):
    __slots__ = ("user", "seed_video", "page_size", "page_token")
    USER_FIELD_NUMBER: _ClassVar[int]
    SEED_VIDEO_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user: str
    seed_video: str
    page_size: int
    page_token: str
    def __init__(self, user: _Optional[str] = ..., seed_video: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetRecommendationsResponse(_message.Message):
    __slots__ = ("recommendations", "next_page_token")
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    recommendations: _containers.RepeatedCompositeFieldContainer[Recommendation]
    next_page_token: str
    def __init__(self, recommendations: _Optional[_Iterable[_Union[Recommendation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Recommendation(_message.Message):
    __slots__ = ("video", "reason", "score")
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    video: _resources_pb2.Video
    reason: RecommendationReason
    score: float
    def __init__(self, video: _Optional[_Union[_resources_pb2.Video, _Mapping]] = ..., reason: _Optional[_Union[RecommendationReason, str]] = ..., score: _Optional[float] = ...) -> None: ...

class RecordInteractionRequest(_message.Message):
    __slots__ = ("user", "video", "kind", "watch_time", "request_id", "event_time")
    USER_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WATCH_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    user: str
    video: str
    kind: InteractionKind
    watch_time: _duration_pb2.Duration
    request_id: str
    event_time: _timestamp_pb2.Timestamp
    def __init__(self, user: _Optional[str] = ..., video: _Optional[str] = ..., kind: _Optional[_Union[InteractionKind, str]] = ..., watch_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., request_id: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordInteractionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
