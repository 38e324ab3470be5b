"""READY videos made straight in the catalog, without media: for tests and benchmarks of what
needs a video's metadata only (analytics, search)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from vidmesh.catalog.v1 import catalog_internal_service_pb2 as internal_pb2
from vidmesh.catalog.v1 import catalog_internal_service_pb2_grpc as internal_grpc
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from tests.support.event_log import duration
from tests.support.processes import Mesh
from vidmesh_services.runtime.ids import new_id


def catalog_video(mesh: Mesh, owner: str, seconds: float, visibility: int = media_pb2.VISIBILITY_PUBLIC, **text: Any) -> str:
    """A READY video of `seconds` (public by default) in the mesh's catalog, without media;
    text: title, description, tags."""
    with grpc.insecure_channel(mesh.address("catalog")) as channel:
        return create_catalog_video(channel, mesh.service_token, owner, seconds, visibility, **text)


def create_catalog_video(
    catalog: grpc.Channel,
    service_token: str,
    owner: str,
    seconds: float,
    visibility: int = media_pb2.VISIBILITY_PUBLIC,
    *,
    title: str = "analytics",
    description: str = "",
    tags: Sequence[str] = (),
) -> str:
    """A READY video made through the catalog's internal service as the upload and transcode
    services make them (analytics and search need a video's metadata, not its media)."""
    service = (("authorization", f"Bearer {service_token}"),)
    internal = internal_grpc.CatalogInternalServiceStub(catalog)
    source = media_pb2.MediaInfo(duration=duration(int(seconds * 1000)), width=640, height=360, video_codec="h264")
    video = resources_pb2.Video(title=title, description=description, tags=tags, visibility=visibility)  # type: ignore[arg-type]
    created = internal.CreateVideo(
        internal_pb2.CreateVideoRequest(video_id=new_id(), owner=owner, video=video, source=source), metadata=service
    )
    rendition = media_pb2.Rendition(
        name="360p", width=640, height=360, bandwidth=800_000, codecs="avc1.64001e", playlist_path="360p/index.m3u8"
    )
    internal.SetProcessingResult(
        internal_pb2.SetProcessingResultRequest(
            name=created.video.name,
            status=resources_pb2.VIDEO_STATUS_READY,
            renditions=[rendition],
            master_playlist_path=f"/hls/{created.video.id}/v1/master.m3u8",
        ),
        metadata=service,
    )
    return str(created.video.id)
