"""Calls between services: service identity, request-id propagation and a deadline on every call."""

from __future__ import annotations

import grpc

from .config import Config
from .interceptors import REQUEST_ID_HEADER, current_request_id


class InternalCaller:
    """Opens channels to sibling services and builds the per-call arguments they need."""

    def __init__(self, config: Config):
        self._config = config
        self._channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, service: str) -> grpc.aio.Channel:
        if service not in self._channels:
            self._channels[service] = grpc.aio.insecure_channel(self._config.address(service))
        return self._channels[service]

    def call_options(self) -> dict[str, object]:
        metadata = [("authorization", f"Bearer {self._config.service_token}")]
        if request_id := current_request_id():
            metadata.append((REQUEST_ID_HEADER, request_id))
        return {"metadata": tuple(metadata), "timeout": self._config.internal_call_timeout_seconds}

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
