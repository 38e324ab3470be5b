"""The Go client journey: `go test` in clients/go against this session's real mesh.

clients/go calls the mesh through Envoy with the Go code generated from our protos (gen/go), the way
a Go integrator would: a chunked upload with crc32c checksums, the transcode job watched to the end,
the READY video read and paged through, and the errors the protos promise (codes, ErrorInfo reasons,
ResourceInfo) for unknown videos, missing keys, another owner's videos and uploads, and stale etags.
This test only provides the mesh, two owners' keys and a clip; the assertions live in
clients/go/journey_test.go, which fails rather than skips when run without them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.support.media import make_video
from tests.support.processes import Mesh

GO_CLIENT = Path(__file__).resolve().parents[2] / "clients" / "go"


def test_go_client_journey(mesh: Mesh, alice_key: str, bob_key: str, tmp_path: Path) -> None:
    go = shutil.which("go")
    assert go, "the Go toolchain is needed on PATH"
    env = {
        **os.environ,  # GOPATH, GOMODCACHE, GOFLAGS and the proxy settings carry over
        "VIDMESH_GATEWAY": mesh.gateway,
        "VIDMESH_KEY_OWNER": alice_key,
        "VIDMESH_KEY_OTHER": bob_key,
        "VIDMESH_VIDEO": str(make_video(tmp_path / "clip.mp4", seconds=2.0)),
    }
    # -count=1: the result depends on the mesh, never on Go's test cache.
    result = subprocess.run([go, "test", "-count=1", "./..."], cwd=GO_CLIENT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"go test failed\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
