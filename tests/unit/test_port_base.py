"""Config.port_base moves every port of an instance; /proc tells whose listener a port has."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from vidmesh_services.platform.ports import Listener, PortUse, holders, listener, port_taken
from vidmesh_services.runtime.config import MetricsSettings, Ports, load_config


def test_port_base_moves_every_port_and_a_port_set_on_its_own_wins(tmp_path: Path) -> None:
    file = tmp_path / "vidmesh.yaml"
    file.write_text("port_base: 20000\nports: {upload: 7000}\n")
    config = load_config(file, env={"VIDMESH_PORTS_ENVOY_ADMIN": "7001", "VIDMESH_METRICS_CATALOG_PORT": "0"})
    ports = dataclasses.asdict(config.ports)
    assert ports == {
        "http": 20000,
        "origin": 20001,
        "envoy_admin": 7001,
        "valkey": 20003,
        "upload": 7000,
        "catalog": 20005,
        "transcode": 20006,
        "playback": 20007,
        "analytics": 20008,
        "search": 20009,
        "search_readers": 20040,
        "recs": 20017,
        "live": 20061,
        "rtmp": 20062,
    }
    assert dataclasses.asdict(config.metrics) == {
        "upload_port": 20010,
        "catalog_port": 0,
        "transcode_port": 20012,
        "playback_port": 20013,
        "analytics_port": 20014,
        "search_port": 20015,
        "search_indexer_port": 20016,
        "recs_port": 20018,
        "recs_worker_port": 20019,
        "transcode_worker_port": 20020,
        "analytics_worker_port": 20030,
        "search_reader_port": 20050,
        "live_port": 20063,
        "live_ingest_port": 20064,
    }
    assert config.effective_redis_url == "redis://127.0.0.1:20003/0"


def test_every_port_field_has_an_offset_and_no_two_collide() -> None:
    from vidmesh_services.runtime.config import METRICS_PORT_OFFSETS, PORT_OFFSETS

    assert set(PORT_OFFSETS) == {f.name for f in dataclasses.fields(Ports)}
    assert set(METRICS_PORT_OFFSETS) == {f.name for f in dataclasses.fields(MetricsSettings)}
    offsets = [*PORT_OFFSETS.values(), *METRICS_PORT_OFFSETS.values()]
    assert len(set(offsets)) == len(offsets)


def test_no_base_keeps_the_defaults_and_a_base_too_high_is_named() -> None:
    assert load_config(env={}).ports == Ports()
    assert load_config(env={"VIDMESH_PORT_BASE": "0"}).metrics == MetricsSettings()
    with pytest.raises(ValueError, match=r"port_base \(VIDMESH_PORT_BASE\) 65530"):
        load_config(env={"VIDMESH_PORT_BASE": "65530"})


def test_port_use_names_its_setting_and_variable() -> None:
    use = PortUse(9111, "metrics.transcode_worker_port", 1)
    assert use.variable == "VIDMESH_METRICS_TRANSCODE_WORKER_PORT"
    assert "metrics.transcode_worker_port + worker index 1" in use.describe()
    assert "VIDMESH_PORTS_VALKEY" in PortUse(6390, "ports.valkey").describe()


def test_listener_tells_the_child_from_another_program() -> None:
    with socket.socket() as ours:
        ours.bind(("127.0.0.1", 0))
        port = ours.getsockname()[1]
        assert listener(os.getpid(), "127.0.0.1", port) is Listener.NONE  # bound, not listening
        ours.listen()
        assert listener(os.getpid(), "127.0.0.1", port) is Listener.OURS
        assert port_taken("127.0.0.1", port)
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            assert listener(other.pid, "127.0.0.1", port) is Listener.FOREIGN
            assert holders("127.0.0.1", port, besides=other.pid) == [f"pid {os.getpid()} ({Path('/proc/self/comm').read_text().strip()})"]
        finally:
            other.kill()
            other.wait()
    assert not port_taken("127.0.0.1", port)


def test_a_listener_on_every_address_holds_loopback_too() -> None:
    with socket.socket(socket.AF_INET6) as anywhere:
        anywhere.bind(("::", 0))
        anywhere.listen()
        port = anywhere.getsockname()[1]
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            assert listener(other.pid, "127.0.0.1", port) is Listener.FOREIGN
            assert listener(os.getpid(), "127.0.0.1", port) is Listener.OURS
        finally:
            other.kill()
            other.wait()
