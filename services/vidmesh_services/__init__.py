"""vidmesh services: one package per service plus the shared runtime."""
