"""Stream rules: who sees and manages which stream, its key, and how listings are cut.

A stream key is shown once (CreateStream, RotateStreamKey) and only its sha256 is stored, as for
API keys (keys are 256-bit random, so a plain hash is as strong as a slow one). Every change is
a read-modify-write guarded by the stream's etag, retried on a fresh read when the ingest wrote
in between (it records LIVE, RECONNECTING and ENDED), so neither write is lost.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable

from google.protobuf import timestamp_pb2
from vidmesh.live.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from ..catalog.rules import metadata_violations
from ..runtime.auth import Identity, hash_key
from ..runtime.config import Config
from ..runtime.errors import Aborted, FailedPrecondition, FieldViolation, InvalidArgument, NotFound, PermissionDenied, QuotaExceeded
from ..runtime.ids import new_id
from ..runtime.pages import decode_page_token, encode_page_token, invalid_page_token, query_id
from ..runtime.validation import parse_name
from .chat import Chat
from .onair import OnAir, with_figures
from .store import StaleStream, StoredStream, StreamStore

LiveStream = resources_pb2.LiveStream
STREAM_KEY_PREFIX = "vsk_"
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
ENDED = resources_pb2.LIVE_STREAM_STATE_ENDED
# Rounds of read-modify-write before a change under constant contention gives up (ABORTED).
MAX_WRITE_ROUNDS = 8
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def request_id_violations(request_id: str) -> list[FieldViolation]:
    """Client-generated retry ids of CreateStream and PostChatMessage: empty, or URL-safe."""
    if request_id and not _REQUEST_ID.match(request_id):
        return [FieldViolation("request_id", "1 to 128 characters of A-Z, a-z, 0-9, '-' and '_'")]
    return []


def new_stream_key() -> str:
    return STREAM_KEY_PREFIX + secrets.token_urlsafe(32)


def can_see(stream: LiveStream, caller: Identity | None) -> bool:
    if stream.visibility in (media_pb2.VISIBILITY_PUBLIC, media_pb2.VISIBILITY_UNLISTED):
        return True
    return caller is not None and (caller.is_service or caller.owner == stream.owner)


def _requested_id(owner: str, request_id: str) -> str:
    """The id a creation with this request id gets, so that its retry finds the same stream."""
    digest = hashlib.sha256(f"{owner}\0{request_id}".encode()).digest()
    return "r" + base64.urlsafe_b64encode(digest[:9]).decode()


class Streams:
    def __init__(self, store: StreamStore, on_air: OnAir, chat: Chat, config: Config):
        self._store = store
        self._on_air = on_air
        self._chat = chat
        self._limits = config.live
        host = config.live.ingest_host or config.host
        self._ingest_url = f"rtmp://{host}:{config.ports.rtmp}/live"

    def _shown(self, stored: StoredStream, figures: LiveStream | None = None) -> LiveStream:
        stream = with_figures(stored.stream, figures)
        stream.ingest_url = self._ingest_url
        return stream

    async def _shown_live(self, stored: StoredStream) -> LiveStream:
        return (await self._shown_many([stored]))[0]

    async def _shown_many(self, page: list[StoredStream]) -> list[LiveStream]:
        """The streams with their live figures and viewer counts."""
        ids = [s.stream.id for s in page]
        figures = await self._on_air.statuses(ids)
        viewers = await self._chat.viewers(ids)
        shown = [self._shown(s, figures.get(s.stream.id)) for s in page]
        for stream in shown:
            if stream.state != ENDED:
                stream.viewer_count = viewers.get(stream.id, 0)
        return shown

    # -- reads ------------------------------------------------------------------------------

    async def visible(self, name: str, caller: Identity | None) -> StoredStream:
        stored = await self._store.get_stream(parse_name(name, "streams"))
        if stored is None or not can_see(stored.stream, caller):
            raise NotFound("stream", name)
        return stored

    async def get(self, name: str, caller: Identity | None) -> LiveStream:
        return await self._shown_live(await self.visible(name, caller))

    async def list_streams(
        self, owner: str, state: int, page_size: int, page_token: str, caller: Identity | None
    ) -> tuple[list[LiveStream], str]:
        if page_size < 0:
            raise InvalidArgument(FieldViolation("page_size", "must not be negative"))
        if state not in (resources_pb2.LIVE_STREAM_STATE_UNSPECIFIED, resources_pb2.LIVE_STREAM_STATE_LIVE):
            raise InvalidArgument(FieldViolation("state", "only LIVE_STREAM_STATE_LIVE (on air now) or unspecified"))
        on_air = state == resources_pb2.LIVE_STREAM_STATE_LIVE
        if not owner and not on_air:
            raise InvalidArgument(FieldViolation("owner", "required unless state is LIVE_STREAM_STATE_LIVE"))
        limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        own = caller is not None and bool(owner) and owner == caller.owner
        query = query_id(owner, own, on_air)
        offset = decode_page_token(page_token, query) if page_token else 0
        if not isinstance(offset, int) or offset < 0:
            raise invalid_page_token()
        streams, more = await (self._list_on_air(owner, own, offset, limit) if on_air else self._list_owner(owner, own, offset, limit))
        return streams, encode_page_token(query, offset + limit) if more else ""

    async def _list_owner(self, owner: str, own: bool, offset: int, limit: int) -> tuple[list[LiveStream], bool]:
        listed = [s for s in await self._store.owner_streams(owner) if own or s.stream.visibility == media_pb2.VISIBILITY_PUBLIC]
        page = listed[offset : offset + limit]
        return await self._shown_many(page), len(listed) > offset + limit

    async def _list_on_air(self, owner: str, own: bool, offset: int, limit: int) -> tuple[list[LiveStream], bool]:
        # The on-air set is small (streams live now): filter it whole, then cut the page.
        ids = await self._on_air.on_air(offset=0, count=10_000)
        found = await self._store.get_streams(ids)

        def listed(s: StoredStream) -> bool:
            if owner and s.stream.owner != owner:
                return False
            return (own or s.stream.visibility == media_pb2.VISIBILITY_PUBLIC) and s.stream.state != ENDED

        matching = [found[i] for i in ids if i in found and listed(found[i])]
        page = matching[offset : offset + limit]
        return await self._shown_many(page), len(matching) > offset + limit

    # -- writes -----------------------------------------------------------------------------

    async def create(self, given: LiveStream, request_id: str, caller: Identity) -> LiveStream:
        violations = metadata_violations(given.title, given.description, [], prefix="stream.")
        if given.visibility not in media_pb2.Visibility.values():
            violations.append(FieldViolation("stream.visibility", "must be VISIBILITY_PUBLIC, VISIBILITY_UNLISTED or VISIBILITY_PRIVATE"))
        violations += request_id_violations(request_id)
        if violations:
            raise InvalidArgument(violations)
        stream_id = _requested_id(caller.owner, request_id) if request_id else new_id()
        if request_id and (earlier := await self._store.get_stream(stream_id)) is not None:
            return await self._shown_live(earlier)  # a retry: the same stream, without its key
        owned = len(await self._store.owner_streams(caller.owner))
        if owned >= self._limits.max_streams_per_owner:
            limit = self._limits.max_streams_per_owner
            raise QuotaExceeded(
                caller.owner,
                f"{caller.owner} has {owned} streams, the most live.max_streams_per_owner allows ({limit}); delete old ones",
                reason="STREAMS_QUOTA_EXCEEDED",
                metadata={"limit": "max_streams_per_owner", "used": str(owned), "requested": "1", "maximum": str(limit)},
            )
        stream = LiveStream(
            name=f"streams/{stream_id}",
            id=stream_id,
            owner=caller.owner,
            title=given.title,
            description=given.description,
            visibility=given.visibility or media_pb2.VISIBILITY_PUBLIC,
            record=given.record,
            state=resources_pb2.LIVE_STREAM_STATE_IDLE,
            master_playlist_path=f"/live/{stream_id}/master.m3u8",
        )
        stream.create_time.CopyFrom(now())
        stream.update_time.CopyFrom(stream.create_time)
        key = new_stream_key()
        etag = await self._store.insert_stream(stream, hash_key(key))
        if etag is None:
            if request_id and (earlier := await self._store.get_stream(stream_id)) is not None:
                return await self._shown_live(earlier)  # a retry that ran at the same time
            raise Aborted("a stream with this id was created at the same moment; retry", reason="CONTENTION")
        shown = self._shown(StoredStream(stream, "", etag))
        shown.stream_key = key
        return shown

    async def owned(self, name: str, caller: Identity) -> StoredStream:
        """The stream, if the caller is its owner (or a vidmesh service)."""
        stored = await self.visible(name, caller)
        if not caller.is_service and stored.stream.owner != caller.owner:
            raise PermissionDenied("stream", name, f"only its owner ({stored.stream.owner}) may do this", owner=stored.stream.owner)
        return stored

    async def _change(self, name: str, caller: Identity, change: Callable[[StoredStream], StoredStream | None]) -> StoredStream:
        """Applies change (None: nothing to do) to the owner's stream, again on a fresh read when
        someone wrote in between; returns the stream as stored afterwards."""
        for _ in range(MAX_WRITE_ROUNDS):
            stored = await self.owned(name, caller)
            changed = change(stored)
            if changed is None:
                return stored
            changed.stream.update_time.CopyFrom(now())
            try:
                etag = await self._store.replace_stream(changed)
            except StaleStream:
                continue
            return StoredStream(changed.stream, changed.key_hash, etag)
        raise Aborted(f"{name} is being changed by others at the same time; retry", reason="CONTENTION")

    async def end(self, name: str, caller: Identity) -> LiveStream:
        def ended(stored: StoredStream) -> StoredStream | None:
            if stored.stream.state == ENDED:
                return None
            stream = _copy(stored.stream)
            stream.state = ENDED
            stream.end_reason = resources_pb2.END_REASON_ENDED_BY_OWNER
            stream.end_time.CopyFrom(now())
            stream.ClearField("reconnect_deadline")
            return StoredStream(stream, stored.key_hash, stored.etag)

        stored = await self._change(name, caller, ended)
        await self._on_air.went_off_air(stored.stream.id)
        await self._chat.end(stored.stream.id)
        return self._shown(stored)

    async def rotate_key(self, name: str, caller: Identity) -> LiveStream:
        key = new_stream_key()

        def rotated(stored: StoredStream) -> StoredStream:
            if stored.stream.state == ENDED:
                raise FailedPrecondition(f"{name} has ended; its key cannot change", reason="STREAM_ENDED", metadata={"stream": name})
            return StoredStream(_copy(stored.stream), hash_key(key), stored.etag)

        shown = await self._shown_live(await self._change(name, caller, rotated))
        shown.stream_key = key
        return shown

    async def delete(self, name: str, caller: Identity) -> None:
        for _ in range(MAX_WRITE_ROUNDS):
            stored = await self.owned(name, caller)
            try:
                await self._store.delete_stream(stored)
            except StaleStream:
                continue
            await self._on_air.went_off_air(stored.stream.id)
            await self._chat.end(stored.stream.id)
            return
        raise Aborted(f"{name} is being changed by others at the same time; retry", reason="CONTENTION")


def _copy(stream: LiveStream) -> LiveStream:
    out = LiveStream()
    out.CopyFrom(stream)
    return out
