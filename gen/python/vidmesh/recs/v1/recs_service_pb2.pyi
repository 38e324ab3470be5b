from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
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

class Reaction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REACTION_UNSPECIFIED: _ClassVar[Reaction]
    REACTION_NONE: _ClassVar[Reaction]
    REACTION_LIKE: _ClassVar[Reaction]
    REACTION_DISLIKE: _ClassVar[Reaction]
RECOMMENDATION_REASON_UNSPECIFIED: RecommendationReason
RECOMMENDATION_REASON_PERSONALIZED: RecommendationReason
RECOMMENDATION_REASON_SIMILAR: RecommendationReason
RECOMMENDATION_REASON_TRENDING: RecommendationReason
REACTION_UNSPECIFIED: Reaction
REACTION_NONE: Reaction
REACTION_LIKE: Reaction
REACTION_DISLIKE: Reaction

class GetRecommendationsRequest(_message.Message):
    __slots__ = ("viewer_id", "seed_video", "page_size", "trending_only")
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    SEED_VIDEO_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    TRENDING_ONLY_FIELD_NUMBER: _ClassVar[int]
    viewer_id: str
    seed_video: str
    page_size: int
    trending_only: bool
    def __init__(self, viewer_id: _Optional[str] = ..., seed_video: _Optional[str] = ..., page_size: _Optional[int] = ..., trending_only: _Optional[bool] = ...) -> None: ...

class GetRecommendationsResponse(_message.Message):
    __slots__ = ("recommendations", "model_version")
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    recommendations: _containers.RepeatedCompositeFieldContainer[Recommendation]
    model_version: str
    def __init__(self, recommendations: _Optional[_Iterable[_Union[Recommendation, _Mapping]]] = ..., model_version: _Optional[str] = ...) -> None: ...

class Recommendation(_message.Message):
    __slots__ = ("video", "reason", "score", "token")
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    video: _resources_pb2.Video
    reason: RecommendationReason
    score: float
    token: str
    def __init__(self, video: _Optional[_Union[_resources_pb2.Video, _Mapping]] = ..., reason: _Optional[_Union[RecommendationReason, str]] = ..., score: _Optional[float] = ..., token: _Optional[str] = ...) -> None: ...

class SetReactionRequest(_message.Message):
    __slots__ = ("video", "reaction", "viewer_id")
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    REACTION_FIELD_NUMBER: _ClassVar[int]
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    video: str
    reaction: Reaction
    viewer_id: str
    def __init__(self, video: _Optional[str] = ..., reaction: _Optional[_Union[Reaction, str]] = ..., viewer_id: _Optional[str] = ...) -> None: ...

class GetReactionsRequest(_message.Message):
    __slots__ = ("video", "viewer_id")
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    video: str
    viewer_id: str
    def __init__(self, video: _Optional[str] = ..., viewer_id: _Optional[str] = ...) -> None: ...

class RecordShareRequest(_message.Message):
    __slots__ = ("video", "request_id", "viewer_id")
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    video: str
    request_id: str
    viewer_id: str
    def __init__(self, video: _Optional[str] = ..., request_id: _Optional[str] = ..., viewer_id: _Optional[str] = ...) -> None: ...

class SetReactionResponse(_message.Message):
    __slots__ = ("reactions",)
    REACTIONS_FIELD_NUMBER: _ClassVar[int]
    reactions: VideoReactions
    def __init__(self, reactions: _Optional[_Union[VideoReactions, _Mapping]] = ...) -> None: ...

class GetReactionsResponse(_message.Message):
    __slots__ = ("reactions",)
    REACTIONS_FIELD_NUMBER: _ClassVar[int]
    reactions: VideoReactions
    def __init__(self, reactions: _Optional[_Union[VideoReactions, _Mapping]] = ...) -> None: ...

class RecordShareResponse(_message.Message):
    __slots__ = ("reactions",)
    REACTIONS_FIELD_NUMBER: _ClassVar[int]
    reactions: VideoReactions
    def __init__(self, reactions: _Optional[_Union[VideoReactions, _Mapping]] = ...) -> None: ...

class VideoReactions(_message.Message):
    __slots__ = ("video", "like_count", "dislike_count", "share_count", "viewer_reaction")
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    LIKE_COUNT_FIELD_NUMBER: _ClassVar[int]
    DISLIKE_COUNT_FIELD_NUMBER: _ClassVar[int]
    SHARE_COUNT_FIELD_NUMBER: _ClassVar[int]
    VIEWER_REACTION_FIELD_NUMBER: _ClassVar[int]
    video: str
    like_count: int
    dislike_count: int
    share_count: int
    viewer_reaction: Reaction
    def __init__(self, video: _Optional[str] = ..., like_count: _Optional[int] = ..., dislike_count: _Optional[int] = ..., share_count: _Optional[int] = ..., viewer_reaction: _Optional[_Union[Reaction, str]] = ...) -> None: ...

class RecordRecommendationEventsRequest(_message.Message):
    __slots__ = ("impression_tokens", "click_tokens")
    IMPRESSION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CLICK_TOKENS_FIELD_NUMBER: _ClassVar[int]
    impression_tokens: _containers.RepeatedScalarFieldContainer[str]
    click_tokens: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, impression_tokens: _Optional[_Iterable[str]] = ..., click_tokens: _Optional[_Iterable[str]] = ...) -> None: ...

class RecordRecommendationEventsResponse(_message.Message):
    __slots__ = ("recorded_count", "ignored_count")
    RECORDED_COUNT_FIELD_NUMBER: _ClassVar[int]
    IGNORED_COUNT_FIELD_NUMBER: _ClassVar[int]
    recorded_count: int
    ignored_count: int
    def __init__(self, recorded_count: _Optional[int] = ..., ignored_count: _Optional[int] = ...) -> None: ...
