"""Prometheus metrics: every process serves its metrics as text on a loopback port of its own.

Per-RPC metrics are recorded for every server by the call interceptor (`observe_call`):
requests and a latency histogram, labelled by service, method and status code. Other metrics
are defined next to the code that counts them (prometheus_client's default registry); this
module only serves them. Ports come from `Config.metrics` (`<process>_port`; worker number i
of a pool serves on its base port + i); 0 serves none.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram, start_http_server

from .config import Config

log = logging.getLogger(__name__)

RPC_REQUESTS = Counter(
    "vidmesh_rpc_requests",
    "RPCs handled, by gRPC service, method and status code",
    ["service", "method", "code"],
)
RPC_SECONDS = Histogram(
    "vidmesh_rpc_duration_seconds",
    "Time from a call's arrival to its status, by gRPC service, method and status code (streams: the whole stream)",
    ["service", "method", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def observe_call(full_method: str, code: str, seconds: float) -> None:
    """Records one finished call; full_method is '/package.Service/Method'."""
    _, service, method = full_method.split("/", 2) if full_method.count("/") == 2 else ("", "unknown", full_method)
    RPC_REQUESTS.labels(service, method, code).inc()
    RPC_SECONDS.labels(service, method, code).observe(seconds)


def metrics_port(config: Config, process: str, index: int = 0) -> int:
    """The configured port of process (e.g. 'catalog', 'transcode_worker'), or 0 for none."""
    base = int(getattr(config.metrics, f"{process}_port", 0))
    return base + index if base else 0


def serve_metrics(config: Config, process: str, index: int = 0) -> int:
    """Serves GET /metrics for this process if its port is configured, from a daemon thread that
    ends with the process. Returns the port (0: none)."""
    port = metrics_port(config, process, index)
    if port:
        start_http_server(port, addr=config.host)
        log.info("metrics on http://%s:%d/metrics", config.host, port)
    return port
