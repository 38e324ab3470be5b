"""The catalog through the gateway: visibility, pagination, field-mask updates, owner-only changes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import field_mask_pb2
from vidmesh.catalog.v1 import catalog_internal_service_pb2 as internal_pb2
from vidmesh.catalog.v1 import catalog_internal_service_pb2_grpc as internal_grpc
from vidmesh.catalog.v1 import catalog_service_pb2 as pb2
from vidmesh.catalog.v1 import catalog_service_pb2_grpc as pb2_grpc
from vidmesh.catalog.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from tests.conftest import bearer
from tests.integration.test_upload_errors import details, expect
from tests.support.processes import Mesh
from vidmesh_services.runtime.ids import new_id

PUBLIC, UNLISTED, PRIVATE = media_pb2.VISIBILITY_PUBLIC, media_pb2.VISIBILITY_UNLISTED, media_pb2.VISIBILITY_PRIVATE


@pytest.fixture(scope="module")
def catalog(gateway: grpc.Channel) -> pb2_grpc.CatalogServiceStub:
    return pb2_grpc.CatalogServiceStub(gateway)


@pytest.fixture(scope="module")
def internal(mesh: Mesh) -> Iterator[internal_grpc.CatalogInternalServiceStub]:
    """The catalog's internal service, reached directly as the pipeline does (the gateway never routes it)."""
    with grpc.insecure_channel(mesh.address("catalog")) as channel:
        yield internal_grpc.CatalogInternalServiceStub(channel)


def create(
    internal: internal_grpc.CatalogInternalServiceStub, mesh: Mesh, owner: str, title: str, visibility: int = PUBLIC
) -> resources_pb2.Video:
    fields = resources_pb2.Video(title=title, visibility=visibility)  # type: ignore[arg-type]
    request = internal_pb2.CreateVideoRequest(video_id=new_id(), owner=owner, video=fields)
    response = internal.CreateVideo(request, metadata=bearer(mesh.service_token))
    return response.video


def test_owner_lists_all_their_videos_newest_first_across_pages(
    catalog: pb2_grpc.CatalogServiceStub, internal: internal_grpc.CatalogInternalServiceStub, mesh: Mesh
) -> None:
    owner = "pager" + secrets.token_hex(3)
    key = mesh.create_key(owner)
    made = [create(internal, mesh, owner, f"v{i}", [PUBLIC, UNLISTED, PRIVATE][i % 3]) for i in range(23)]
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = catalog.ListVideos(pb2.ListVideosRequest(owner=owner, page_size=5, page_token=token), metadata=bearer(key))
        assert len(page.videos) <= 5
        seen += [v.id for v in page.videos]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 5
    assert seen == [v.id for v in reversed(made)]  # every video once, newest first

    # Others (and anonymous callers) see only the public ones.
    public = catalog.ListVideos(pb2.ListVideosRequest(owner=owner, page_size=100))
    assert [v.id for v in public.videos] == [v.id for v in reversed(made) if v.visibility == PUBLIC]

    # A token belongs to its listing: the owner's full list, not a stranger's view or another filter.
    token = catalog.ListVideos(pb2.ListVideosRequest(owner=owner, page_size=5), metadata=bearer(key)).next_page_token
    for request in (pb2.ListVideosRequest(owner=owner, page_token=token), pb2.ListVideosRequest(page_token=token)):
        error = expect(grpc.StatusCode.INVALID_ARGUMENT, lambda request=request: catalog.ListVideos(request))
        assert details(error)["ErrorInfo"].reason == "PAGE_TOKEN_MISMATCH"


def test_bad_page_arguments_are_invalid(catalog: pb2_grpc.CatalogServiceStub) -> None:
    error = expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: catalog.ListVideos(pb2.ListVideosRequest(page_token="garbage!")))
    assert details(error)["BadRequest"].field_violations[0].field == "page_token"
    assert details(error)["ErrorInfo"].reason == "INVALID_PAGE_TOKEN"
    expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: catalog.ListVideos(pb2.ListVideosRequest(page_size=-1)))


def test_visibility_rules_for_get(
    catalog: pb2_grpc.CatalogServiceStub, internal: internal_grpc.CatalogInternalServiceStub, mesh: Mesh, alice_key: str, bob_key: str
) -> None:
    private = create(internal, mesh, "alice", "secret", PRIVATE)
    unlisted = create(internal, mesh, "alice", "by link", UNLISTED)
    assert catalog.GetVideo(pb2.GetVideoRequest(name=unlisted.name)).video.id == unlisted.id
    assert catalog.GetVideo(pb2.GetVideoRequest(name=private.name), metadata=bearer(alice_key)).video.title == "secret"
    for metadata in ((), bearer(bob_key)):
        error = expect(
            grpc.StatusCode.NOT_FOUND, lambda metadata=metadata: catalog.GetVideo(pb2.GetVideoRequest(name=private.name), metadata=metadata)
        )
        assert details(error)["ResourceInfo"].resource_name == private.name
    expect(grpc.StatusCode.NOT_FOUND, lambda: catalog.GetVideo(pb2.GetVideoRequest(name="videos/nope")))
    expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: catalog.GetVideo(pb2.GetVideoRequest(name="uploads/x")))
    batch = catalog.BatchGetVideos(pb2.BatchGetVideosRequest(names=[unlisted.name, private.name, "videos/nope"]), metadata=bearer(bob_key))
    assert [v.id for v in batch.videos] == [unlisted.id]
    assert list(batch.missing_names) == [private.name, "videos/nope"]


def test_field_mask_update_changes_only_named_fields(
    catalog: pb2_grpc.CatalogServiceStub, internal: internal_grpc.CatalogInternalServiceStub, mesh: Mesh, alice_key: str
) -> None:
    video = create(internal, mesh, "alice", "before")
    change = resources_pb2.Video(name=video.name, title="after", description="ignored: not in the mask", tags=["x", "y"])
    updated = catalog.UpdateVideo(
        pb2.UpdateVideoRequest(video=change, update_mask=field_mask_pb2.FieldMask(paths=["title", "tags"])),
        metadata=bearer(alice_key),
    ).video
    assert (updated.title, list(updated.tags), updated.description) == ("after", ["x", "y"], "")
    assert updated.update_time.ToNanoseconds() > video.update_time.ToNanoseconds()
    stored = catalog.GetVideo(pb2.GetVideoRequest(name=video.name)).video
    assert stored.title == "after" and stored.status == resources_pb2.VIDEO_STATUS_PROCESSING


@pytest.mark.parametrize(
    ("paths", "change", "field"),
    [
        (["status"], resources_pb2.Video(status=resources_pb2.VIDEO_STATUS_READY), "update_mask"),
        (["owner"], resources_pb2.Video(owner="mallory"), "update_mask"),
        ([], resources_pb2.Video(title="x"), "update_mask"),
        (["title"], resources_pb2.Video(title=""), "video.title"),
        (["visibility"], resources_pb2.Video(visibility=media_pb2.VISIBILITY_UNSPECIFIED), "video.visibility"),
    ],
)
def test_bad_updates_are_refused(
    catalog: pb2_grpc.CatalogServiceStub,
    internal: internal_grpc.CatalogInternalServiceStub,
    mesh: Mesh,
    alice_key: str,
    paths: list[str],
    change: resources_pb2.Video,
    field: str,
) -> None:
    video = create(internal, mesh, "alice", "stable")
    change.name = video.name
    request = pb2.UpdateVideoRequest(video=change, update_mask=field_mask_pb2.FieldMask(paths=paths))
    error = expect(grpc.StatusCode.INVALID_ARGUMENT, lambda: catalog.UpdateVideo(request, metadata=bearer(alice_key)))
    assert field in [v.field for v in details(error)["BadRequest"].field_violations]
    assert catalog.GetVideo(pb2.GetVideoRequest(name=video.name)).video.title == "stable"


def test_only_the_owner_may_update_or_delete(
    catalog: pb2_grpc.CatalogServiceStub, internal: internal_grpc.CatalogInternalServiceStub, mesh: Mesh, bob_key: str
) -> None:
    video = create(internal, mesh, "alice", "mine")
    change = pb2.UpdateVideoRequest(
        video=resources_pb2.Video(name=video.name, title="hijacked"), update_mask=field_mask_pb2.FieldMask(paths=["title"])
    )
    expect(grpc.StatusCode.UNAUTHENTICATED, lambda: catalog.UpdateVideo(change))
    expect(grpc.StatusCode.PERMISSION_DENIED, lambda: catalog.UpdateVideo(change, metadata=bearer(bob_key)))
    expect(grpc.StatusCode.UNAUTHENTICATED, lambda: catalog.DeleteVideo(pb2.DeleteVideoRequest(name=video.name)))
    expect(
        grpc.StatusCode.PERMISSION_DENIED, lambda: catalog.DeleteVideo(pb2.DeleteVideoRequest(name=video.name), metadata=bearer(bob_key))
    )
    assert catalog.GetVideo(pb2.GetVideoRequest(name=video.name)).video.title == "mine"


def test_delete_removes_media_and_is_idempotent(mesh: Mesh, alice_key: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.media import make_video
    from vidmesh_client import VidmeshClient
    from vidmesh_client._ledger import UploadLedger

    with VidmeshClient(mesh.gateway, alice_key, ledger=UploadLedger(tmp_path / "l.json")) as client:
        video_id = client.upload(make_video(tmp_path / "v.mp4"), title="short-lived")
        raw = mesh.home / "data" / "blobs" / "raw" / video_id
        assert raw.exists()
        client.delete_video(video_id)
        client.delete_video(video_id)  # again: still fine
        assert not raw.exists()
    result = mesh.cli("videos", "get", video_id, "--url", mesh.gateway, env={"VIDMESH_API_KEY": alice_key})
    assert result.returncode == 1 and "NOT_FOUND" in result.stderr


def test_internal_service_is_closed_to_users(
    mesh: Mesh, gateway: grpc.Channel, alice_key: str, internal: internal_grpc.CatalogInternalServiceStub
) -> None:
    request = internal_pb2.CreateVideoRequest(video_id="forged1", owner="alice", video=resources_pb2.Video(title="forged"))
    # The gateway has no route for it at all...
    expect(
        grpc.StatusCode.UNIMPLEMENTED,
        lambda: internal_grpc.CatalogInternalServiceStub(gateway).CreateVideo(request, metadata=bearer(alice_key)),
    )
    # ...and the catalog itself refuses anyone but the service identity.
    error = expect(grpc.StatusCode.PERMISSION_DENIED, lambda: internal.CreateVideo(request, metadata=bearer(alice_key)))
    assert details(error)["ErrorInfo"].reason == "SERVICE_ONLY"
    expect(grpc.StatusCode.UNAUTHENTICATED, lambda: internal.CreateVideo(request))


def test_cli_update_and_list(mesh: Mesh, internal: internal_grpc.CatalogInternalServiceStub, alice_key: str) -> None:
    video = create(internal, mesh, "alice", "cli before", PRIVATE)
    env = {"VIDMESH_API_KEY": alice_key}
    updated = mesh.cli("videos", "update", video.id, "--title", "cli after", "--visibility", "public", "--url", mesh.gateway, env=env)
    assert updated.returncode == 0, updated.stderr
    assert "cli after" in updated.stdout and "public" in updated.stdout
    listed = mesh.cli("videos", "list", "--url", mesh.gateway)
    assert video.id in listed.stdout
    bad = mesh.cli("videos", "update", video.id, "--title", "", "--url", mesh.gateway, env=env)
    assert bad.returncode == 1 and "title" in bad.stderr
