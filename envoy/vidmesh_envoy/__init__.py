"""Envoy configs for vidmesh, generated from Python data (no Envoy SDK): see topologies.py."""

from .binary import envoy_binary, validate
from .topologies import Cluster, Page, Route, Transcoding, cdn, cdn_tier, render, single_gateway

__all__ = [
    "Cluster",
    "Page",
    "Route",
    "Transcoding",
    "cdn",
    "cdn_tier",
    "envoy_binary",
    "render",
    "single_gateway",
    "validate",
]
