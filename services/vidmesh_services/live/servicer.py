"""gRPC adapter of live streams and their chat: proto in, Streams / ChatRoom call, proto out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from vidmesh.live.v1 import live_service_pb2 as pb2
from vidmesh.live.v1 import live_service_pb2_grpc as pb2_grpc

from ..runtime.auth import Identity, current_caller, require_caller
from ..runtime.errors import FieldViolation, InvalidArgument, VidmeshError
from ..runtime.interceptors import Context
from .chat import ChatEvent
from .chatroom import ChatRoom, KeepAlive
from .streams import Streams

Rejection = pb2.ChatRejectionReason
# Why a post on the bidirectional Chat was refused, by the ErrorInfo reason PostChatMessage gives.
REJECTIONS = {
    "INVALID_ARGUMENT": pb2.CHAT_REJECTION_REASON_INVALID_TEXT,
    "CHAT_RATE_LIMITED": pb2.CHAT_REJECTION_REASON_RATE_LIMITED,
    "API_KEY_REQUIRED": pb2.CHAT_REJECTION_REASON_UNAUTHENTICATED,
    "STREAM_ENDED": pb2.CHAT_REJECTION_REASON_STREAM_ENDED,
    "CHAT_MUTED": pb2.CHAT_REJECTION_REASON_MUTED,
}


def _watch_response(item: ChatEvent | KeepAlive) -> pb2.WatchChatResponse:
    if isinstance(item, KeepAlive):
        return pb2.WatchChatResponse(viewer_count=item.viewers)
    if item.message is not None:
        return pb2.WatchChatResponse(message=item.message)
    if item.deleted:
        return pb2.WatchChatResponse(deleted_message=item.deleted)
    return pb2.WatchChatResponse(stream_ended=True)


SERVICE = "vidmesh.live.v1.LiveService"


class LiveServicer(pb2_grpc.LiveServiceServicer):
    """Streams as resources, and their chat."""

    def __init__(self, streams: Streams, room: ChatRoom):
        self._streams = streams
        self._room = room

    async def CreateStream(self, request: pb2.CreateStreamRequest, context: Context) -> pb2.CreateStreamResponse:
        return pb2.CreateStreamResponse(stream=await self._streams.create(request.stream, request.request_id, require_caller()))

    async def GetStream(self, request: pb2.GetStreamRequest, context: Context) -> pb2.GetStreamResponse:
        return pb2.GetStreamResponse(stream=await self._streams.get(request.name, current_caller()))

    async def ListStreams(self, request: pb2.ListStreamsRequest, context: Context) -> pb2.ListStreamsResponse:
        streams, token = await self._streams.list_streams(
            request.owner, request.state, request.page_size, request.page_token, current_caller()
        )
        return pb2.ListStreamsResponse(streams=streams, next_page_token=token)

    async def EndStream(self, request: pb2.EndStreamRequest, context: Context) -> pb2.EndStreamResponse:
        return pb2.EndStreamResponse(stream=await self._streams.end(request.name, require_caller()))

    async def RotateStreamKey(self, request: pb2.RotateStreamKeyRequest, context: Context) -> pb2.RotateStreamKeyResponse:
        return pb2.RotateStreamKeyResponse(stream=await self._streams.rotate_key(request.name, require_caller()))

    async def DeleteStream(self, request: pb2.DeleteStreamRequest, context: Context) -> pb2.DeleteStreamResponse:
        await self._streams.delete(request.name, require_caller())
        return pb2.DeleteStreamResponse()

    async def PostChatMessage(self, request: pb2.PostChatMessageRequest, context: Context) -> pb2.PostChatMessageResponse:
        message = await self._room.post(request.parent, request.text, request.request_id, require_caller())
        return pb2.PostChatMessageResponse(message=message)

    async def WatchChat(self, request: pb2.WatchChatRequest, context: Context) -> AsyncIterator[pb2.WatchChatResponse]:
        async for item in self._room.watch(request.parent, request.history_size, current_caller()):
            yield _watch_response(item)

    async def DeleteChatMessage(self, request: pb2.DeleteChatMessageRequest, context: Context) -> pb2.DeleteChatMessageResponse:
        await self._room.delete(request.name, require_caller())
        return pb2.DeleteChatMessageResponse()

    async def MuteChatAuthor(self, request: pb2.MuteChatAuthorRequest, context: Context) -> pb2.MuteChatAuthorResponse:
        seconds = request.duration.ToTimedelta().total_seconds() if request.HasField("duration") else None
        until = await self._room.mute(request.parent, request.author, seconds, require_caller())
        reply = pb2.MuteChatAuthorResponse()
        if until:
            reply.mute_expire_time.FromMilliseconds(until)
        return reply

    async def Chat(self, request_iterator: AsyncIterator[pb2.ChatRequest], context: Context) -> AsyncIterator[pb2.ChatResponse]:
        first = await anext(aiter(request_iterator), None)
        if first is None:
            return
        if not first.parent:
            raise InvalidArgument(FieldViolation("parent", "the first request names the stream"))
        caller = current_caller()
        out: asyncio.Queue[pb2.ChatResponse | BaseException | None] = asyncio.Queue()
        posted: dict[str, str] = {}  # message name -> the request id that posted it on this call
        # Held while a post of this call runs: its own message may come back before the post
        # returns its name, and must wait for it to carry the request id.
        posting = asyncio.Lock()

        async def events() -> None:
            try:
                async for item in self._room.watch(first.parent, first.history_size, caller):
                    watched = _watch_response(item)
                    reply = pb2.ChatResponse(viewer_count=watched.viewer_count)
                    if watched.HasField("message"):
                        reply.message.CopyFrom(watched.message)
                        if caller is not None and watched.message.author == caller.owner:
                            async with posting:
                                reply.request_id = posted.pop(watched.message.name, "")
                    elif watched.deleted_message:
                        reply.deleted_message = watched.deleted_message
                    elif watched.stream_ended:
                        reply.stream_ended = True
                    await out.put(reply)
                await out.put(None)
            except BaseException as exc:  # the call ends with the watch's error
                await out.put(exc)

        async def posts() -> None:
            async for later in _chain(first, request_iterator):
                if later.parent and later.parent != first.parent:
                    await out.put(InvalidArgument(FieldViolation("parent", "one call follows one stream")))
                    return
                if later.text:
                    async with posting:
                        await self._post(first.parent, later, caller, posted, out)

        tasks = [asyncio.create_task(events()), asyncio.create_task(posts())]
        try:
            while True:
                item = await out.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _post(
        self,
        parent: str,
        request: pb2.ChatRequest,
        caller: Identity | None,
        posted: dict[str, str],
        out: asyncio.Queue[pb2.ChatResponse | BaseException | None],
    ) -> None:
        try:
            if caller is None:
                raise InvalidArgument(FieldViolation("text", "posting needs an API key"), reason="API_KEY_REQUIRED")
            message = await self._room.post(parent, request.text, request.request_id, caller)
            posted[message.name] = request.request_id
        except VidmeshError as refused:
            rejection = REJECTIONS.get(refused.reason, pb2.CHAT_REJECTION_REASON_INVALID_TEXT)
            await out.put(pb2.ChatResponse(rejection=rejection, request_id=request.request_id))


async def _chain(first: pb2.ChatRequest, rest: AsyncIterator[pb2.ChatRequest]) -> AsyncIterator[pb2.ChatRequest]:
    yield first
    async for request in rest:
        yield request
