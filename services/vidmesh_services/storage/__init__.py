"""Storage backends, one module per technology, each implementing the ports services own:
catalog.store.VideoStore, runtime.auth.ApiKeyStore and blobs.BlobStore (shared by every service
that keeps bytes). open.py picks the configured backend; tests/contract/ runs one suite per port
against every backend."""
