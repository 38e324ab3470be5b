"""The mesh: which service processes exist, what each serves, and what the gateway routes.

Adding a service means adding one MeshService here (see docs/adding-a-service.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class MeshService:
    # Process name; also its port field in Config.ports and its Envoy cluster name.
    name: str
    # Module run as `python -m <module>`.
    module: str
    # gRPC services the gateway routes to this process.
    public: tuple[str, ...]
    # gRPC services only other vidmesh processes may call; the gateway never routes them.
    internal: tuple[str, ...] = ()
    # Generated modules that define the public services (loaded for reflection at the gateway).
    descriptor_modules: tuple[str, ...] = ()


MESH: tuple[MeshService, ...] = (
    MeshService(
        name="catalog",
        module="vidmesh_services.catalog",
        public=("vidmesh.catalog.v1.CatalogService",),
        internal=("vidmesh.catalog.v1.CatalogInternalService",),
        descriptor_modules=("vidmesh.catalog.v1.catalog_service_pb2",),
    ),
    MeshService(
        name="upload",
        module="vidmesh_services.upload",
        public=("vidmesh.upload.v1.UploadService",),
        descriptor_modules=("vidmesh.upload.v1.upload_service_pb2",),
    ),
    MeshService(
        name="transcode",
        module="vidmesh_services.transcode",
        public=("vidmesh.transcode.v1.TranscodeService",),
        descriptor_modules=("vidmesh.transcode.v1.transcode_service_pb2",),
    ),
)

# Background workers: no port, several processes each. (name, module)
WORKERS: tuple[tuple[str, str], ...] = (("transcode-worker", "vidmesh_services.transcode.worker"),)

# The process that answers reflection and health at the gateway; it describes the whole mesh.
INFRA_SERVICE = "catalog"
INFRA_PREFIXES = ("/grpc.reflection.", "/grpc.health.v1.")


def mesh_service_names() -> list[str]:
    """Public gRPC services of the mesh, as reflection at the gateway lists them.

    Importing their generated modules puts their descriptors in the default pool, which is
    what reflection answers symbol and file questions from.
    """
    for service in MESH:
        for module in service.descriptor_modules:
            importlib.import_module(module)
    return [name for service in MESH for name in service.public]


def gateway_routes() -> list[tuple[str, str]]:
    """(path prefix, cluster) pairs for the gateway, most specific first."""
    routes = [(f"/{name}/", service.name) for service in MESH for name in service.public]
    routes += [(prefix, INFRA_SERVICE) for prefix in INFRA_PREFIXES]
    return routes
