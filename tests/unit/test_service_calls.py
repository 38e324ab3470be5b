"""The typed clients' shared call rules (runtime/calls.py): which methods gRPC may retry, and what
a callee's failure means for our own caller."""

from __future__ import annotations

import json

from vidmesh.catalog.v1 import catalog_internal_service_pb2, catalog_service_pb2
from vidmesh.upload.v1 import upload_service_pb2

from vidmesh_services.runtime.calls import service_config


def retried(*files: object) -> set[str]:
    services = [service for file in files for service in file.DESCRIPTOR.services_by_name.values()]  # type: ignore[attr-defined]
    config = json.loads(service_config(services))
    return {
        f"{name['service'].rsplit('.', 1)[-1]}/{name['method']}" for method in config.get("methodConfig", []) for name in method["name"]
    }


def test_only_idempotent_unary_methods_are_retried() -> None:
    assert retried(catalog_service_pb2, catalog_internal_service_pb2) == {
        "CatalogService/GetVideo",
        "CatalogService/BatchGetVideos",
        "CatalogService/ListVideos",
        "CatalogService/UpdateVideo",  # the same change twice leaves the same video
        "CatalogService/DeleteVideo",  # deleting what is gone succeeds
        "CatalogInternalService/CreateVideo",
        "CatalogInternalService/SetProcessingResult",
        "CatalogInternalService/ListVideoChanges",
        "CatalogInternalService/ScanVideos",
    }
    # UploadChunks is client streaming (gRPC does not replay a stream); InitUpload makes a new upload each time.
    assert retried(upload_service_pb2) == {"UploadService/GetUploadStatus", "UploadService/CompleteUpload", "UploadService/AbortUpload"}
