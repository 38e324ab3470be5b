"""Serving: a viewer's lists read in one atomic step, filtered, filled in from the catalog.

One request (docs/recommendations.md): the viewer is a keyed hash of who calls (runtime/viewers);
one script returns the deployed version with the viewer's personal list and the seed's related
list under it, the trending list, and what the viewer watched and dislikes; the candidates, in
the order SIMILAR, PERSONALIZED, TRENDING, lose those and duplicates; the videos (from memory,
kept correct by the catalog's change feed: videos.py) decide what may be shown: public, ready,
and not the viewer's own; the seed must exist and be visible to the caller.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from vidmesh.catalog.v1 import resources_pb2
from vidmesh.recs.v1 import recs_service_pb2 as pb2
from vidmesh.type.v1 import media_pb2

from ..catalog.videos import can_see
from ..runtime.auth import Identity
from ..runtime.errors import FieldViolation, InvalidArgument, NotFound, QuotaExceeded, Unauthenticated
from ..runtime.validation import parse_name
from ..runtime.viewers import MAX_VIEWER_ID, anonymous_identity, caller_identity
from . import keys
from .store import QuotaReached, Reactions, RecsStore, Snapshot
from .tokens import Tokens

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
LOOKAHEAD = 10  # candidates looked up beyond those still needed (some may be hidden)
MAX_REQUEST_ID = 64
MAX_FEEDBACK_TOKENS = 100
VIDEO = "vidmesh.dev/Video"
_REACTION_VALUES = {pb2.REACTION_NONE: 0, pb2.REACTION_LIKE: 1, pb2.REACTION_DISLIKE: -1}
_REACTIONS = {value: reaction for reaction, value in _REACTION_VALUES.items()}


class Videos(Protocol):
    """Where recommending gets videos (videos.VideoCache: memory, then the catalog)."""

    async def get_many(self, video_ids: Sequence[str]) -> dict[str, resources_pb2.Video]: ...


@dataclass(frozen=True)
class _Candidate:
    video_id: str
    reason: pb2.RecommendationReason
    score: float


def recommendable(video: resources_pb2.Video | None, caller: Identity | None) -> bool:
    """Only public, ready videos are recommended, and nobody is recommended their own."""
    return (
        video is not None
        and video.status == resources_pb2.VIDEO_STATUS_READY
        and video.visibility == media_pb2.VISIBILITY_PUBLIC
        and not (caller is not None and not caller.is_service and video.owner == caller.owner)
    )


class Recommender:
    def __init__(self, store: RecsStore, videos: Videos, tokens: Tokens, viewer_hash: Callable[[str], str]):
        self._store = store
        self._videos = videos
        self._tokens = tokens
        self._viewer_hash = viewer_hash

    def viewer(self, caller: Identity | None, viewer_id: str) -> str:
        """The viewer's keyed hash ('' for an anonymous call)."""
        if len(viewer_id) > MAX_VIEWER_ID:
            raise InvalidArgument(FieldViolation("viewer_id", f"at most {MAX_VIEWER_ID} characters"))
        identity = caller_identity(caller) or anonymous_identity(viewer_id)
        return self._viewer_hash(identity) if identity else ""

    async def recommend(self, request: pb2.GetRecommendationsRequest, caller: Identity | None) -> pb2.GetRecommendationsResponse:
        size = request.page_size or DEFAULT_PAGE_SIZE
        if not 0 < size <= MAX_PAGE_SIZE:
            raise InvalidArgument(FieldViolation("page_size", f"must be between 0 and {MAX_PAGE_SIZE}"))
        seed = parse_name(request.seed_video, "videos", "seed_video") if request.seed_video else ""
        if seed and request.trending_only:
            raise InvalidArgument(FieldViolation("trending_only", "cannot be combined with seed_video"))
        viewer = self.viewer(caller, request.viewer_id)
        snapshot = await self._store.snapshot(viewer, seed)
        items = await self._store.items(snapshot.version) if snapshot.personal or snapshot.related else []
        candidates = _candidates(snapshot, items, seed, request.trending_only)
        picked = await self._pick(candidates, size, seed, caller)
        return self._response(picked, snapshot.version)

    async def _pick(
        self, candidates: Iterator[_Candidate], size: int, seed: str, caller: Identity | None
    ) -> list[tuple[_Candidate, resources_pb2.Video]]:
        """The first `size` candidates the viewer may be shown, looked up a few more than still
        needed at a time (with the seed, first, which must exist and be visible to the caller)."""
        picked: list[tuple[_Candidate, resources_pb2.Video]] = []
        while len(picked) < size:
            chunk = list(itertools.islice(candidates, size - len(picked) + LOOKAHEAD))
            if not chunk and not seed:
                break
            videos = await self._videos.get_many([c.video_id for c in chunk] + ([seed] if seed else []))
            if seed:
                if seed not in videos or not can_see(videos[seed], caller):
                    raise NotFound(VIDEO, f"videos/{seed}")
                seed = ""
            picked += [(c, videos[c.video_id]) for c in chunk if recommendable(videos.get(c.video_id), caller)]
        return picked[:size]

    def _response(self, picked: list[tuple[_Candidate, resources_pb2.Video]], version: str) -> pb2.GetRecommendationsResponse:
        reply = pb2.GetRecommendationsResponse(model_version=version)
        tokens = self._tokens.issue(version, [c.reason == pb2.RECOMMENDATION_REASON_TRENDING for c, _ in picked])
        for (candidate, video), token in zip(picked, tokens, strict=True):
            reply.recommendations.add(video=video, reason=candidate.reason, score=candidate.score, token=token)
        return reply

    async def set_reaction(self, request: pb2.SetReactionRequest, caller: Identity | None) -> pb2.SetReactionResponse:
        video_id = parse_name(request.video, "videos", "video")
        if request.reaction not in _REACTION_VALUES:
            raise InvalidArgument(FieldViolation("reaction", "must be REACTION_LIKE, REACTION_DISLIKE or REACTION_NONE"))
        viewer = await self._reacting_viewer(caller, request.viewer_id, video_id)
        try:
            return pb2.SetReactionResponse(
                reactions=_reactions(video_id, await self._store.react(viewer, video_id, _REACTION_VALUES[request.reaction]))
            )
        except QuotaReached:
            raise self._quota() from None

    async def share(self, request: pb2.RecordShareRequest, caller: Identity | None) -> pb2.RecordShareResponse:
        video_id = parse_name(request.video, "videos", "video")
        if not request.request_id or len(request.request_id) > MAX_REQUEST_ID:
            raise InvalidArgument(FieldViolation("request_id", f"required, at most {MAX_REQUEST_ID} characters"))
        viewer = await self._reacting_viewer(caller, request.viewer_id, video_id)
        try:
            return pb2.RecordShareResponse(reactions=_reactions(video_id, await self._store.share(viewer, video_id, request.request_id)))
        except QuotaReached:
            raise self._quota() from None

    async def reactions(self, request: pb2.GetReactionsRequest, caller: Identity | None) -> pb2.GetReactionsResponse:
        video_id = parse_name(request.video, "videos", "video")
        viewer = self.viewer(caller, request.viewer_id)
        await self._visible(video_id, caller)
        return pb2.GetReactionsResponse(reactions=_reactions(video_id, await self._store.reactions(viewer, video_id)))

    async def record_events(self, request: pb2.RecordRecommendationEventsRequest) -> pb2.RecordRecommendationEventsResponse:
        for name, tokens in (("impression_tokens", request.impression_tokens), ("click_tokens", request.click_tokens)):
            if len(tokens) > MAX_FEEDBACK_TOKENS:
                raise InvalidArgument(FieldViolation(name, f"at most {MAX_FEEDBACK_TOKENS} tokens per call"))
        events, ignored = [], 0
        for kind, tokens in (("i", request.impression_tokens), ("c", request.click_tokens)):
            for token in tokens:
                issued = self._tokens.verify(token)
                if issued is None:
                    ignored += 1
                else:
                    events.append((issued.digest, kind, issued.version))
        counted = await self._store.count_feedback(events)
        return pb2.RecordRecommendationEventsResponse(recorded_count=counted, ignored_count=ignored + len(events) - counted)

    async def _reacting_viewer(self, caller: Identity | None, viewer_id: str, video_id: str) -> str:
        viewer = self.viewer(caller, viewer_id)
        if not viewer:
            raise Unauthenticated("reacting needs an API key or a viewer_id")
        await self._visible(video_id, caller)
        return viewer

    async def _visible(self, video_id: str, caller: Identity | None) -> None:
        found = (await self._videos.get_many([video_id])).get(video_id)
        if found is None or not can_see(found, caller):
            raise NotFound(VIDEO, f"videos/{video_id}")

    def _quota(self) -> QuotaExceeded:
        return QuotaExceeded(
            "viewer",
            "this viewer reacts to as many videos as recs.max_reactions_per_viewer allows; take a reaction back first",
            reason="REACTIONS_QUOTA_EXCEEDED",
        )


def _candidates(snapshot: Snapshot, items: list[str], seed: str, trending_only: bool) -> Iterator[_Candidate]:
    """What may be recommended, best first: related to the seed, personal, trending; each video
    once, and none the viewer watched or dislikes (nor the seed). Lazy: a page stops early."""
    skip = set(snapshot.watched | snapshot.disliked)
    skip.add(seed)
    lists = []
    if seed:
        lists.append((snapshot.related, pb2.RECOMMENDATION_REASON_SIMILAR))
    if not trending_only:
        lists.append((snapshot.personal, pb2.RECOMMENDATION_REASON_PERSONALIZED))
    for raw, reason in lists:
        indices, scores = keys.unpack_list(raw)
        for index, score in zip(indices.tolist(), scores.tolist(), strict=True):
            if 0 <= index < len(items) and (video_id := items[index]) not in skip:  # (indices past the table: never written)
                skip.add(video_id)
                yield _Candidate(video_id, reason, score)
    for video_id, score in snapshot.trending:
        if video_id not in skip:
            skip.add(video_id)
            yield _Candidate(video_id, pb2.RECOMMENDATION_REASON_TRENDING, score)


def _reactions(video_id: str, found: Reactions) -> pb2.VideoReactions:
    return pb2.VideoReactions(
        video=f"videos/{video_id}",
        like_count=max(0, found.likes),
        dislike_count=max(0, found.dislikes),
        share_count=max(0, found.shares),
        viewer_reaction=_REACTIONS.get(found.reaction, pb2.REACTION_NONE),
    )
