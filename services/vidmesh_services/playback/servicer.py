"""gRPC adapter of Playback: path fields in, object out as an HttpBody with its Cache-Control."""

from __future__ import annotations

from google.api import httpbody_pb2
from google.protobuf import timestamp_pb2
from vidmesh.playback.v1 import playback_service_pb2 as pb2
from vidmesh.playback.v1 import playback_service_pb2_grpc as pb2_grpc

from ..runtime.auth import require_caller
from ..runtime.interceptors import Context
from .live import LivePlayback
from .objects import Playback, PlaybackObject


async def _send(obj: PlaybackObject, context: Context) -> httpbody_pb2.HttpBody:
    # Envoy's transcoder turns initial metadata into HTTP response headers.
    await context.send_initial_metadata((("cache-control", obj.cache_control),))
    return httpbody_pb2.HttpBody(content_type=obj.content_type, data=obj.data)


class PlaybackServicer(pb2_grpc.PlaybackServiceServicer):
    """On-demand and live objects, and signed URLs."""

    def __init__(self, playback: Playback, live: LivePlayback):
        self._playback = playback
        self._live = live

    async def GetMasterPlaylist(self, request: pb2.GetMasterPlaylistRequest, context: Context) -> pb2.GetMasterPlaylistResponse:
        obj = await self._playback.read(request.video_id, request.version, [("master.m3u8", "path")], request.token)
        return pb2.GetMasterPlaylistResponse(body=await _send(obj, context))

    async def GetMediaPlaylist(self, request: pb2.GetMediaPlaylistRequest, context: Context) -> pb2.GetMediaPlaylistResponse:
        parts = [(request.rendition, "rendition"), ("index.m3u8", "path")]
        obj = await self._playback.read(request.video_id, request.version, parts, request.token)
        return pb2.GetMediaPlaylistResponse(body=await _send(obj, context))

    async def GetSegment(self, request: pb2.GetSegmentRequest, context: Context) -> pb2.GetSegmentResponse:
        parts = [(request.rendition, "rendition"), (request.segment, "segment")]
        obj = await self._playback.read(request.video_id, request.version, parts, request.token)
        return pb2.GetSegmentResponse(body=await _send(obj, context))

    async def GetPoster(self, request: pb2.GetPosterRequest, context: Context) -> pb2.GetPosterResponse:
        obj = await self._playback.read(request.video_id, request.version, [("poster.jpg", "path")], request.token)
        return pb2.GetPosterResponse(body=await _send(obj, context))

    async def GetStoryboard(self, request: pb2.GetStoryboardRequest, context: Context) -> pb2.GetStoryboardResponse:
        parts = [("storyboard", "path"), (request.file, "file")]
        obj = await self._playback.read(request.video_id, request.version, parts, request.token)
        return pb2.GetStoryboardResponse(body=await _send(obj, context))

    async def GetLiveMasterPlaylist(self, request: pb2.GetLiveMasterPlaylistRequest, context: Context) -> pb2.GetLiveMasterPlaylistResponse:
        obj = await self._live.master(request.stream_id, request.token)
        return pb2.GetLiveMasterPlaylistResponse(body=await _send(obj, context))

    async def GetLiveMediaPlaylist(self, request: pb2.GetLiveMediaPlaylistRequest, context: Context) -> pb2.GetLiveMediaPlaylistResponse:
        msn = request.hls_msn if request.HasField("hls_msn") else None
        part = request.hls_part if request.HasField("hls_part") else None
        obj = await self._live.media_playlist(request.stream_id, request.rendition, request.token, msn, part)
        return pb2.GetLiveMediaPlaylistResponse(body=await _send(obj, context))

    async def GetLiveSegment(self, request: pb2.GetLiveSegmentRequest, context: Context) -> pb2.GetLiveSegmentResponse:
        obj = await self._live.media(request.stream_id, request.rendition, request.segment, request.token)
        return pb2.GetLiveSegmentResponse(body=await _send(obj, context))

    async def CreatePlaybackUrl(self, request: pb2.CreatePlaybackUrlRequest, context: Context) -> pb2.CreatePlaybackUrlResponse:
        ttl = request.ttl.seconds if request.HasField("ttl") else 0
        if request.HasField("ttl") and ttl <= 0:
            ttl = -1  # an explicit zero or negative ttl is out of range, not "the default"
        owner = require_caller().owner
        if request.name.startswith("streams/"):
            signed = await self._live.create_url(request.name.removeprefix("streams/"), owner, ttl)
        else:
            signed = await self._playback.create_url(request.name, owner, ttl)
        return pb2.CreatePlaybackUrlResponse(
            url=signed.url, token=signed.token, expire_time=timestamp_pb2.Timestamp(seconds=signed.expires)
        )
