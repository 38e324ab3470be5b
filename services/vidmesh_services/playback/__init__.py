"""The Playback service: the HLS origin behind Envoy's cache tiers."""
