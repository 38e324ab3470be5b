import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vidmesh.live.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChatRejectionReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHAT_REJECTION_REASON_UNSPECIFIED: _ClassVar[ChatRejectionReason]
    CHAT_REJECTION_REASON_INVALID_TEXT: _ClassVar[ChatRejectionReason]
    CHAT_REJECTION_REASON_RATE_LIMITED: _ClassVar[ChatRejectionReason]
    CHAT_REJECTION_REASON_UNAUTHENTICATED: _ClassVar[ChatRejectionReason]
    CHAT_REJECTION_REASON_STREAM_ENDED: _ClassVar[ChatRejectionReason]
    CHAT_REJECTION_REASON_MUTED: _ClassVar[ChatRejectionReason]
CHAT_REJECTION_REASON_UNSPECIFIED: ChatRejectionReason
CHAT_REJECTION_REASON_INVALID_TEXT: ChatRejectionReason
CHAT_REJECTION_REASON_RATE_LIMITED: ChatRejectionReason
CHAT_REJECTION_REASON_UNAUTHENTICATED: ChatRejectionReason
CHAT_REJECTION_REASON_STREAM_ENDED: ChatRejectionReason
CHAT_REJECTION_REASON_MUTED: ChatRejectionReason

class CreateStreamRequest(_message.Message):
    __slots__ = ("stream", "request_id")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    stream: _resources_pb2.LiveStream
    request_id: str
    def __init__(self, stream: _Optional[_Union[_resources_pb2.LiveStream, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateStreamResponse(_message.Message):
    __slots__ = ("stream",)
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stream: _resources_pb2.LiveStream
    def __init__(self, stream: _Optional[_Union[_resources_pb2.LiveStream, _Mapping]] = ...) -> None: ...

class GetStreamRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetStreamResponse(_message.Message):
    __slots__ = ("stream",)
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stream: _resources_pb2.LiveStream
    def __init__(self, stream: _Optional[_Union[_resources_pb2.LiveStream, _Mapping]] = ...) -> None: ...

class ListStreamsRequest(_message.Message):
    __slots__ = ("owner", "state", "page_size", "page_token")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    owner: str
    state: _resources_pb2.LiveStreamState
    page_size: int
    page_token: str
    def __init__(self, owner: _Optional[str] = ..., state: _Optional[_Union[_resources_pb2.LiveStreamState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListStreamsResponse(_message.Message):
    __slots__ = ("streams", "next_page_token")
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    streams: _containers.RepeatedCompositeFieldContainer[_resources_pb2.LiveStream]
    next_page_token: str
    def __init__(self, streams: _Optional[_Iterable[_Union[_resources_pb2.LiveStream, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class EndStreamRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class EndStreamResponse(_message.Message):
    __slots__ = ("stream",)
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stream: _resources_pb2.LiveStream
    def __init__(self, stream: _Optional[_Union[_resources_pb2.LiveStream, _Mapping]] = ...) -> None: ...

class RotateStreamKeyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RotateStreamKeyResponse(_message.Message):
    __slots__ = ("stream",)
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stream: _resources_pb2.LiveStream
    def __init__(self, stream: _Optional[_Union[_resources_pb2.LiveStream, _Mapping]] = ...) -> None: ...

class DeleteStreamRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteStreamResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ChatRequest(_message.Message):
    __slots__ = ("parent", "text", "request_id", "history_size")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    HISTORY_SIZE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    text: str
    request_id: str
    history_size: int
    def __init__(self, parent: _Optional[str] = ..., text: _Optional[str] = ..., request_id: _Optional[str] = ..., history_size: _Optional[int] = ...) -> None: ...

class ChatResponse(_message.Message):
    __slots__ = ("message", "rejection", "deleted_message", "stream_ended", "request_id", "viewer_count")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    DELETED_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STREAM_ENDED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_COUNT_FIELD_NUMBER: _ClassVar[int]
    message: _resources_pb2.ChatMessage
    rejection: ChatRejectionReason
    deleted_message: str
    stream_ended: bool
    request_id: str
    viewer_count: int
    def __init__(self, message: _Optional[_Union[_resources_pb2.ChatMessage, _Mapping]] = ..., rejection: _Optional[_Union[ChatRejectionReason, str]] = ..., deleted_message: _Optional[str] = ..., stream_ended: _Optional[bool] = ..., request_id: _Optional[str] = ..., viewer_count: _Optional[int] = ...) -> None: ...

class WatchChatRequest(_message.Message):
    __slots__ = ("parent", "history_size")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    HISTORY_SIZE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    history_size: int
    def __init__(self, parent: _Optional[str] = ..., history_size: _Optional[int] = ...) -> None: ...

class WatchChatResponse(_message.Message):
    __slots__ = ("message", "deleted_message", "stream_ended", "viewer_count")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DELETED_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STREAM_ENDED_FIELD_NUMBER: _ClassVar[int]
    VIEWER_COUNT_FIELD_NUMBER: _ClassVar[int]
    message: _resources_pb2.ChatMessage
    deleted_message: str
    stream_ended: bool
    viewer_count: int
    def __init__(self, message: _Optional[_Union[_resources_pb2.ChatMessage, _Mapping]] = ..., deleted_message: _Optional[str] = ..., stream_ended: _Optional[bool] = ..., viewer_count: _Optional[int] = ...) -> None: ...

class PostChatMessageRequest(_message.Message):
    __slots__ = ("parent", "text", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    text: str
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., text: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class PostChatMessageResponse(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: _resources_pb2.ChatMessage
    def __init__(self, message: _Optional[_Union[_resources_pb2.ChatMessage, _Mapping]] = ...) -> None: ...

class DeleteChatMessageRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteChatMessageResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MuteChatAuthorRequest(_message.Message):
    __slots__ = ("parent", "author", "duration")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    parent: str
    author: str
    duration: _duration_pb2.Duration
    def __init__(self, parent: _Optional[str] = ..., author: _Optional[str] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class MuteChatAuthorResponse(_message.Message):
    __slots__ = ("mute_expire_time",)
    MUTE_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    mute_expire_time: _timestamp_pb2.Timestamp
    def __init__(self, mute_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
