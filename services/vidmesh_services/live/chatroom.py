"""Chat rules: who may read, post and moderate a stream's chat, and what a watcher receives.

Anyone who may see a stream reads its chat; posting needs an API key (the author is the key's
identity) and a stream that has not ended; deleting messages and muting authors is for the
stream's owner. A watcher gets the history, then live events; it registers before reading the
history, so nothing posted in between is lost, and skips what the history already held.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from vidmesh.live.v1 import resources_pb2

from ..runtime.auth import Identity
from ..runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument, PermissionDenied, ResourceExhausted
from ..runtime.validation import parse_name
from .chat import KEEPALIVE_SECONDS, MAX_HISTORY, MAX_TEXT, Chat, ChatEvent, Muted, RateLimited
from .streams import Streams, request_id_violations

ENDED = resources_pb2.LIVE_STREAM_STATE_ENDED
MAX_MUTE_SECONDS = 86_400
DEFAULT_MUTE_SECONDS = 600
_MESSAGE_NAME = re.compile(r"^streams/([A-Za-z0-9_-]{1,64})/chatMessages/(\d{1,20}-\d{1,20})$")


@dataclass(frozen=True)
class KeepAlive:
    viewers: int


def _entry_key(message_id: str) -> tuple[int, int]:
    ms, _, seq = message_id.partition("-")
    return int(ms), int(seq or 0)


def text_violations(text: str, field: str = "text") -> list[FieldViolation]:
    if not text.strip():
        return [FieldViolation(field, "must not be empty")]
    if len(text) > MAX_TEXT:
        return [FieldViolation(field, f"at most {MAX_TEXT} characters")]
    return []


class ChatRoom:
    def __init__(self, streams: Streams, chat: Chat):
        self._streams = streams
        self._chat = chat

    async def post(self, parent: str, text: str, request_id: str, caller: Identity) -> resources_pb2.ChatMessage:
        violations = text_violations(text) + request_id_violations(request_id)
        if violations:
            raise InvalidArgument(violations)
        stored = await self._streams.visible(parent, caller)
        if stored.stream.state == ENDED:
            raise FailedPrecondition(f"{parent} has ended; its chat is closed", reason="STREAM_ENDED", metadata={"stream": parent})
        try:
            return await self._chat.post(stored.stream.id, caller.owner, text, request_id)
        except Muted as muted:
            until = datetime.fromtimestamp(muted.until_ms / 1000, UTC).isoformat(timespec="seconds")
            refused = PermissionDenied("stream", parent, f"the stream's owner muted {caller.owner} until {until}", reason="CHAT_MUTED")
            refused.metadata["until"] = until
            raise refused from None
        except RateLimited as limited:
            raise ResourceExhausted(
                f"{caller.owner} posts faster than the chat allows; retry in {limited.retry_after_ms} ms",
                reason="CHAT_RATE_LIMITED",
                metadata={"retry_after_ms": str(limited.retry_after_ms)},
            ) from None

    async def delete(self, name: str, caller: Identity) -> None:
        matched = _MESSAGE_NAME.match(name)
        if not matched:
            raise InvalidArgument(FieldViolation("name", "must look like 'streams/{stream}/chatMessages/{message}'"))
        stored = await self._streams.owned(f"streams/{matched.group(1)}", caller)
        await self._chat.delete(stored.stream.id, matched.group(2))

    async def mute(self, parent: str, author: str, seconds: float | None, caller: Identity) -> int:
        """Mutes author for seconds (None: the default; 0: unmutes); returns until when (ms, 0)."""
        span = DEFAULT_MUTE_SECONDS if seconds is None else seconds
        violations = [] if author.strip() else [FieldViolation("author", "must not be empty")]
        if not 0 <= span <= MAX_MUTE_SECONDS:
            violations.append(FieldViolation("duration", "0 to 24 hours"))
        if violations:
            raise InvalidArgument(violations)
        stored = await self._streams.owned(parent, caller)
        until = int((datetime.now(UTC).timestamp() + span) * 1000) if span else 0
        await self._chat.mute(stored.stream.id, author, until)
        return until

    async def watch(self, parent: str, history_size: int, caller: Identity | None) -> AsyncIterator[ChatEvent | KeepAlive]:
        """The chat's history, then its events, with keep-alives; ends after the stream does."""
        if not 0 <= history_size <= MAX_HISTORY:
            raise InvalidArgument(FieldViolation("history_size", f"0 to {MAX_HISTORY}"))
        stream_id = parse_name(parent, "streams", "parent")
        await self._streams.visible(parent, caller)
        async with self._chat.watching(stream_id) as watch:
            history = await self._chat.history(stream_id, history_size or 0)
            newest = _entry_key(history[-1].name.rsplit("/", 1)[1]) if history else (0, 0)
            for message in history:
                yield ChatEvent(message=message)
            if (await self._streams.visible(parent, caller)).stream.state == ENDED:
                yield ChatEvent(ended=True)
                return
            while True:
                try:
                    event = await asyncio.wait_for(watch.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await self._chat.seen(watch)
                    counts = await self._chat.viewers([stream_id])
                    yield KeepAlive(counts.get(stream_id, 0))
                    continue
                if event is None:
                    raise ResourceExhausted("this watcher fell over 1000 events behind; watch again", reason="CHAT_TOO_FAR_BEHIND")
                if event.message is not None and _entry_key(event.message.name.rsplit("/", 1)[1]) <= newest:
                    continue  # already sent with the history
                yield event
                if event.ended:
                    return
