"""Catalog: video metadata, read by viewers, changed by owners and by the pipeline."""
