"""Envoy configs for vidmesh, generated from Python data (no Envoy SDK): see topologies.py."""

from .binary import envoy_binary, validate
from .topologies import Cluster, Route, single_gateway

__all__ = ["Cluster", "Route", "envoy_binary", "single_gateway", "validate"]
