"""Plain HTTP for tests: what a browser or CDN sees at the edge, without raising on 4xx/5xx."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


def request(method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None, timeout: float = 30) -> Reply:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def get(url: str, headers: dict[str, str] | None = None) -> Reply:
    return request("GET", url, headers)


def envoy_stat(admin_port: int, name: str) -> int:
    """One counter from an Envoy's admin /stats (0 when it has not been created yet)."""
    text = get(f"http://127.0.0.1:{admin_port}/stats?filter=^{re.escape(name)}$").text
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        if key == name:
            return int(value)
    return 0


def envoy_stat_sum(admin_port: int, prefix: str) -> int:
    """The sum of an Envoy's counters and gauges whose names start with prefix."""
    text = get(f"http://127.0.0.1:{admin_port}/stats?filter=^{re.escape(prefix)}").text
    return sum(int(value) for key, _, value in (line.partition(": ") for line in text.splitlines()) if value.isdigit())


def wait_cache_entries(admin_port: int, at_least: int, timeout: float = 5.0) -> None:
    """Waits until an Envoy's file-system cache holds at_least entries (it stores in the background)."""
    deadline = time.monotonic() + timeout
    while envoy_stat_sum(admin_port, "cache.size_count.") < at_least:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Envoy on admin port {admin_port} did not cache the response")
        time.sleep(0.02)
