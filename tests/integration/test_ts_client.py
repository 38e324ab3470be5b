"""The TypeScript client journey: clients/ts compiled by tsc and run by node's test runner against this session's mesh.

clients/ts calls the mesh through Envoy with the TypeScript generated from our protos (gen/ts, protoc-gen-es)
and Connect's Node transports, the way a TypeScript integrator would: a chunked upload with crc32c checksums
over gRPC (HTTP/2), the transcode job watched to the end, the READY video and its playlist, reads and paging
over gRPC-Web, and the errors the protos promise (codes, ErrorInfo reasons, ResourceInfo) for unknown videos,
missing keys and another owner's changes. This test only provides the mesh, two owners' keys and a clip; the
assertions live in clients/ts/journey.test.ts, which fails rather than skips when run without them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.support.media import make_video
from tests.support.processes import Mesh

ROOT = Path(__file__).resolve().parents[2]
TSC = ROOT / "node_modules" / ".bin" / "tsc"
# Where clients/ts/tsconfig.json puts the compiled test (build/ is gitignored).
COMPILED_TEST = ROOT / "build" / "clients-ts" / "clients" / "ts" / "journey.test.js"


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def test_ts_client_journey(mesh: Mesh, alice_key: str, bob_key: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed on PATH"
    assert TSC.exists(), "node_modules is needed: run `make install`"
    compiled = subprocess.run([str(TSC), "-p", "clients/ts"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert compiled.returncode == 0, f"tsc failed\n{output(compiled)}"
    env = {
        **os.environ,
        "VIDMESH_GATEWAY": mesh.gateway,
        "VIDMESH_KEY_OWNER": alice_key,
        "VIDMESH_KEY_OTHER": bob_key,
        "VIDMESH_VIDEO": str(make_video(tmp_path / "clip.mp4", seconds=2.0)),
    }
    result = subprocess.run([node, "--test", str(COMPILED_TEST)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"node --test failed\n{output(result)}"
