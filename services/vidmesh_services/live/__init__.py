"""Live streaming: streams as resources, RTMP ingest, LL-HLS packaging and chat (docs/live.md)."""
