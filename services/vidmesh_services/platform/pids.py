"""Ending the processes vidmesh (or a test) started: by their PID, never by name."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import AnyStr

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Run in a new child (preexec_fn, a pool initializer): it gets SIGTERM when the thread that
    started it dies, even by SIGKILL, so a crash leaves no orphan behind. Linux only; elsewhere
    it does nothing."""
    if sys.platform == "linux":
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) counts as gone.
    with contextlib.suppress(FileNotFoundError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return False


def stop_process(process: subprocess.Popen[AnyStr], timeout: float = 20.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited after timeout seconds; returns its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
