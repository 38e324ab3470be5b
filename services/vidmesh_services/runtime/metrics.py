"""Prometheus metrics: a process serves its counters as text on a loopback port of its own.

Metrics are defined next to the code that counts them (prometheus_client's default registry);
this module only serves them. The port comes from `Config.metrics.<process>_port`; 0 serves none.
"""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

from .config import Config

log = logging.getLogger(__name__)


def serve_metrics(config: Config, process: str) -> None:
    """Serves GET /metrics for this process if its port is configured, from a daemon thread that
    ends with the process."""
    port = getattr(config.metrics, f"{process}_port", 0)
    if port:
        start_http_server(port, addr=config.host)
        log.info("metrics on http://%s:%d/metrics", config.host, port)
