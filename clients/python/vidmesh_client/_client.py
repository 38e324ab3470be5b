"""VidmeshClient: the typed entry point to a vidmesh gateway."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from vidmesh.analytics.v1 import analytics_service_pb2 as analytics_pb2
from vidmesh.analytics.v1 import analytics_service_pb2_grpc as analytics_grpc
from vidmesh.catalog.v1 import catalog_service_pb2 as catalog_pb2
from vidmesh.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.live.v1 import live_service_pb2 as live_pb2
from vidmesh.live.v1 import live_service_pb2_grpc as live_grpc
from vidmesh.live.v1 import resources_pb2 as live_resources_pb2
from vidmesh.playback.v1 import playback_service_pb2 as playback_pb2
from vidmesh.playback.v1 import playback_service_pb2_grpc as playback_grpc
from vidmesh.recs.v1 import recs_service_pb2 as recs_pb2
from vidmesh.recs.v1 import recs_service_pb2_grpc as recs_grpc
from vidmesh.search.v1 import search_service_pb2 as search_pb2
from vidmesh.search.v1 import search_service_pb2_grpc as search_grpc
from vidmesh.transcode.v1 import resources_pb2 as transcode_resources_pb2
from vidmesh.transcode.v1 import transcode_service_pb2 as transcode_pb2
from vidmesh.transcode.v1 import transcode_service_pb2_grpc as transcode_grpc
from vidmesh.upload.v1 import upload_service_pb2_grpc as upload_grpc

from ._errors import VidmeshError, wrap
from ._ledger import UploadLedger
from ._upload import MAX_ATTEMPTS, ProgressFn, Uploader

DEFAULT_URL = "localhost:8080"
MAX_MESSAGE_BYTES = 65 * 1024 * 1024


def _timestamp(at: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    """A datetime as a Timestamp (naive ones are taken as UTC); None stays unset."""
    if at is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(at if at.tzinfo else at.replace(tzinfo=dt.UTC))
    return stamp


def _target(url: str) -> str:
    for scheme in ("http://", "grpc://"):
        if url.startswith(scheme):
            return url[len(scheme) :].rstrip("/")
    return url.rstrip("/")


class VidmeshClient:
    """A connection to a vidmesh gateway, optionally authenticated with an API key."""

    def __init__(
        self, url: str = DEFAULT_URL, api_key: str | None = None, *, ledger: UploadLedger | None = None, max_attempts: int = MAX_ATTEMPTS
    ):
        """max_attempts bounds retries of transient upload failures (1: fail at the first)."""
        self.target = _target(url)
        self._channel = grpc.insecure_channel(
            self.target,
            options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {api_key}"),) if api_key else ()
        self._catalog = catalog_grpc.CatalogServiceStub(self._channel)
        self._transcode = transcode_grpc.TranscodeServiceStub(self._channel)
        self._playback = playback_grpc.PlaybackServiceStub(self._channel)
        self._analytics = analytics_grpc.AnalyticsServiceStub(self._channel)
        self._search = search_grpc.SearchServiceStub(self._channel)
        self._recs = recs_grpc.RecsServiceStub(self._channel)
        self._live = live_grpc.LiveServiceStub(self._channel)
        self._uploader = Uploader(
            upload_grpc.UploadServiceStub(self._channel),
            self._metadata,
            ledger or UploadLedger(),
            max_attempts,
            channel=self._channel,
        )

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> VidmeshClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- uploads ----------------------------------------------------------------------------

    def upload(
        self,
        path: str | Path,
        *,
        title: str,
        description: str = "",
        tags: list[str] | None = None,
        visibility: int = 0,
        chunk_size: int = 0,
        sha256: bool = False,
        progress: ProgressFn | None = None,
    ) -> str:
        """Uploads a file (resuming an earlier attempt at the same file) and returns the video id."""
        return self._uploader.upload(
            Path(path),
            title=title,
            description=description,
            tags=tags,
            visibility=visibility,
            chunk_size=chunk_size,
            sha256=sha256,
            progress=progress,
        )

    # -- videos -----------------------------------------------------------------------------

    def _call(self, method: grpc.UnaryUnaryMultiCallable[Any, Any], request: object) -> object:
        return wrap(lambda: method(request, metadata=self._metadata, timeout=30))

    def get_video(self, video_id: str) -> resources_pb2.Video:
        response: catalog_pb2.GetVideoResponse = self._call(self._catalog.GetVideo, catalog_pb2.GetVideoRequest(name=f"videos/{video_id}"))  # type: ignore[assignment]
        return response.video

    def list_videos(self, owner: str = "", page_size: int = 0, page_token: str = "") -> catalog_pb2.ListVideosResponse:
        return self._call(  # type: ignore[return-value]
            self._catalog.ListVideos, catalog_pb2.ListVideosRequest(owner=owner, page_size=page_size, page_token=page_token)
        )

    def iter_videos(self, owner: str = "", page_size: int = 50) -> Iterator[resources_pb2.Video]:
        token = ""
        while True:
            page = self.list_videos(owner, page_size, token)
            yield from page.videos
            if not page.next_page_token:
                return
            token = page.next_page_token

    def update_video(self, video_id: str, **fields: object) -> resources_pb2.Video:
        """Changes the given fields (title, description, tags, visibility) and nothing else."""
        video = resources_pb2.Video(name=f"videos/{video_id}", **fields)  # type: ignore[arg-type]
        request = catalog_pb2.UpdateVideoRequest(video=video, update_mask=field_mask_pb2.FieldMask(paths=sorted(fields)))
        response: catalog_pb2.UpdateVideoResponse = self._call(self._catalog.UpdateVideo, request)  # type: ignore[assignment]
        return response.video

    def delete_video(self, video_id: str) -> None:
        self._call(self._catalog.DeleteVideo, catalog_pb2.DeleteVideoRequest(name=f"videos/{video_id}"))

    # -- live streams -----------------------------------------------------------------------

    def create_stream(
        self, title: str, *, description: str = "", visibility: int = 0, record: bool = True, request_id: str = ""
    ) -> live_resources_pb2.LiveStream:
        """A new stream, with its stream key (returned this once) and the RTMP URL to publish to."""
        stream = live_resources_pb2.LiveStream(title=title, description=description, visibility=visibility, record=record)  # type: ignore[arg-type]
        response: live_pb2.CreateStreamResponse = self._call(
            self._live.CreateStream, live_pb2.CreateStreamRequest(stream=stream, request_id=request_id)
        )  # type: ignore[assignment]
        return response.stream

    def get_stream(self, stream_id: str) -> live_resources_pb2.LiveStream:
        response: live_pb2.GetStreamResponse = self._call(self._live.GetStream, live_pb2.GetStreamRequest(name=f"streams/{stream_id}"))  # type: ignore[assignment]
        return response.stream

    def iter_streams(self, owner: str = "", *, on_air: bool = False, page_size: int = 50) -> Iterator[live_resources_pb2.LiveStream]:
        """An owner's streams, newest first; or (on_air) the streams live now."""
        state = live_resources_pb2.LIVE_STREAM_STATE_LIVE if on_air else live_resources_pb2.LIVE_STREAM_STATE_UNSPECIFIED
        token = ""
        while True:
            request = live_pb2.ListStreamsRequest(owner=owner, state=state, page_size=page_size, page_token=token)
            page: live_pb2.ListStreamsResponse = self._call(self._live.ListStreams, request)  # type: ignore[assignment]
            yield from page.streams
            if not page.next_page_token:
                return
            token = page.next_page_token

    def end_stream(self, stream_id: str) -> live_resources_pb2.LiveStream:
        response: live_pb2.EndStreamResponse = self._call(self._live.EndStream, live_pb2.EndStreamRequest(name=f"streams/{stream_id}"))  # type: ignore[assignment]
        return response.stream

    def rotate_stream_key(self, stream_id: str) -> live_resources_pb2.LiveStream:
        """The stream with a new key (the old one is refused from now on)."""
        request = live_pb2.RotateStreamKeyRequest(name=f"streams/{stream_id}")
        response: live_pb2.RotateStreamKeyResponse = self._call(self._live.RotateStreamKey, request)  # type: ignore[assignment]
        return response.stream

    def delete_stream(self, stream_id: str) -> None:
        self._call(self._live.DeleteStream, live_pb2.DeleteStreamRequest(name=f"streams/{stream_id}"))

    # -- playback ---------------------------------------------------------------------------

    def playback_url(self, video_id: str, ttl_seconds: int = 3600) -> playback_pb2.CreatePlaybackUrlResponse:
        """A signed master-playlist URL (path and query, relative to the gateway) for the owner's video."""
        request = playback_pb2.CreatePlaybackUrlRequest(name=f"videos/{video_id}", ttl=duration_pb2.Duration(seconds=ttl_seconds))
        return self._call(self._playback.CreatePlaybackUrl, request)  # type: ignore[return-value]

    # -- transcoding ------------------------------------------------------------------------

    def jobs_for_video(self, video_id: str) -> list[transcode_resources_pb2.Job]:
        """The video's transcode jobs, newest first (owner only)."""
        response: transcode_pb2.ListJobsResponse = self._call(  # type: ignore[assignment]
            self._transcode.ListJobs, transcode_pb2.ListJobsRequest(video=f"videos/{video_id}")
        )
        return list(response.jobs)

    def watch_job(self, job_name: str) -> Iterator[transcode_resources_pb2.Job]:
        """The job now, then every change, ending with its final state."""
        stream = self._transcode.WatchJob(transcode_pb2.WatchJobRequest(name=job_name), metadata=self._metadata)
        try:
            for message in stream:
                yield message.job
        except grpc.RpcError as error:
            raise VidmeshError.from_rpc_error(error) from None

    # -- search -----------------------------------------------------------------------------

    def search(
        self,
        query: str = "",
        *,
        tags: Sequence[str] = (),
        order: int = search_pb2.SEARCH_ORDER_RELEVANCE,
        owner: str = "",
        min_duration: dt.timedelta | None = None,
        max_duration: dt.timedelta | None = None,
        created_after: dt.datetime | None = None,
        page_size: int = 0,
        page_token: str = "",
    ) -> search_pb2.SearchVideosResponse:
        """One page of videos matching query and the filters (see SearchService); order is a
        SearchOrder. With owner set to the key's owner, their non-public videos are found too."""
        request = search_pb2.SearchVideosRequest(
            query=query,
            tags=list(tags),
            order=order,  # type: ignore[arg-type]
            owner=owner,
            min_create_time=_timestamp(created_after),
            page_size=page_size,
            page_token=page_token,
        )
        for field, span in (("min_duration", min_duration), ("max_duration", max_duration)):
            if span is not None:
                getattr(request, field).FromTimedelta(span)
        return self._call(self._search.SearchVideos, request)  # type: ignore[return-value]

    def suggest(self, prefix: str) -> list[str]:
        """Completions of a query being typed, best first."""
        response: search_pb2.SuggestQueriesResponse = self._call(
            self._search.SuggestQueries, search_pb2.SuggestQueriesRequest(prefix=prefix)
        )  # type: ignore[assignment]
        return list(response.suggestions)

    # -- recommendations --------------------------------------------------------------------

    def recommendations(
        self, *, viewer_id: str = "", seed_video: str = "", page_size: int = 0, trending_only: bool = False
    ) -> recs_pb2.GetRecommendationsResponse:
        """The home feed (or, with seed_video, "up next"; with trending_only, trending) of the
        key's owner, or of the anonymous viewer_id."""
        request = recs_pb2.GetRecommendationsRequest(
            viewer_id=viewer_id,
            seed_video=f"videos/{seed_video}" if seed_video else "",
            page_size=page_size,
            trending_only=trending_only,
        )
        return self._call(self._recs.GetRecommendations, request)  # type: ignore[return-value]

    def react(self, video_id: str, reaction: int, *, viewer_id: str = "") -> recs_pb2.VideoReactions:
        """Sets the viewer's Reaction (REACTION_LIKE, REACTION_DISLIKE, REACTION_NONE)."""
        request = recs_pb2.SetReactionRequest(video=f"videos/{video_id}", reaction=reaction, viewer_id=viewer_id)  # type: ignore[arg-type]
        reply: recs_pb2.SetReactionResponse = self._call(self._recs.SetReaction, request)  # type: ignore[assignment]
        return reply.reactions

    def reactions(self, video_id: str, *, viewer_id: str = "") -> recs_pb2.VideoReactions:
        request = recs_pb2.GetReactionsRequest(video=f"videos/{video_id}", viewer_id=viewer_id)
        reply: recs_pb2.GetReactionsResponse = self._call(self._recs.GetReactions, request)  # type: ignore[assignment]
        return reply.reactions

    def share(self, video_id: str, request_id: str, *, viewer_id: str = "") -> recs_pb2.VideoReactions:
        """Records a share; retries must reuse request_id."""
        request = recs_pb2.RecordShareRequest(video=f"videos/{video_id}", request_id=request_id, viewer_id=viewer_id)
        reply: recs_pb2.RecordShareResponse = self._call(self._recs.RecordShare, request)  # type: ignore[assignment]
        return reply.reactions

    # -- analytics --------------------------------------------------------------------------

    def send_events(self, events: Sequence[analytics_pb2.PlayerEvent]) -> analytics_pb2.SendEventBatchResponse:
        """Sends one batch of player events (at most 500); safe to resend: events are deduplicated
        by (session_id, event_id). Invalid events come back in rejected_events, the rest count."""
        request = analytics_pb2.SendEventBatchRequest(events=list(events))
        return self._call(self._analytics.SendEventBatch, request)  # type: ignore[return-value]

    def stream_events(self, batches: Iterable[Sequence[analytics_pb2.PlayerEvent]]) -> Iterator[analytics_pb2.SendEventsResponse]:
        """Sends batches over one SendEvents stream; yields each batch's answer, in order."""
        requests = (analytics_pb2.SendEventsRequest(events=list(batch)) for batch in batches)
        try:
            yield from self._analytics.SendEvents(requests, metadata=self._metadata)
        except grpc.RpcError as error:
            raise VidmeshError.from_rpc_error(error) from None

    def video_metrics(
        self,
        video_id: str,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        interval: int = analytics_pb2.METRICS_INTERVAL_UNSPECIFIED,
    ) -> analytics_pb2.GetVideoMetricsResponse:
        """Audience and QoE metrics of the owner's video: lifetime totals with no range, else totals
        over the sessions that started in [start, end) and, with an interval (MetricsInterval), a
        series."""
        request = analytics_pb2.GetVideoMetricsRequest(
            video=f"videos/{video_id}",
            start_time=_timestamp(start),
            end_time=_timestamp(end),
            interval=interval,  # type: ignore[arg-type]
        )
        return self._call(self._analytics.GetVideoMetrics, request)  # type: ignore[return-value]

    def retention(
        self, video_id: str, start: dt.datetime | None = None, end: dt.datetime | None = None
    ) -> analytics_pb2.GetRetentionResponse:
        """The owner's video's audience retention curve: lifetime (live counters) with no range,
        else from the warehouse over the views that started in [start, end)."""
        request = analytics_pb2.GetRetentionRequest(video=f"videos/{video_id}", start_time=_timestamp(start), end_time=_timestamp(end))
        return self._call(self._analytics.GetRetention, request)  # type: ignore[return-value]

    def top_videos(
        self,
        owner: str,
        order: int = analytics_pb2.TOP_VIDEOS_ORDER_UNSPECIFIED,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        page_size: int = 0,
    ) -> analytics_pb2.ListTopVideosResponse:
        """The caller's own videos ranked by watch time or views (TopVideosOrder), best first."""
        request = analytics_pb2.ListTopVideosRequest(
            owner=owner,
            order_by=order,  # type: ignore[arg-type]
            start_time=_timestamp(start),
            end_time=_timestamp(end),
            page_size=page_size,
        )
        return self._call(self._analytics.ListTopVideos, request)  # type: ignore[return-value]

    def view_counts(self, video_ids: Sequence[str]) -> dict[str, int]:
        """Public lifetime view counts by video id (at most 100); videos that do not exist or that
        the caller may not see are left out."""
        request = analytics_pb2.BatchGetViewCountsRequest(videos=[f"videos/{v}" for v in video_ids])
        response: analytics_pb2.BatchGetViewCountsResponse = self._call(self._analytics.BatchGetViewCounts, request)  # type: ignore[assignment]
        return {count.video.removeprefix("videos/"): count.views for count in response.view_counts}
