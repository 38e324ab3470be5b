"""A buf plugin that generates vidmesh's Python code with grpc_tools (the compiler grpcio ships).

buf hands a plugin a CodeGeneratorRequest; grpc_tools offers no plugin executables, only its
built-in protoc. So this plugin writes the request's descriptors to a descriptor set, runs
grpc_tools' protoc on it (--python_out, --pyi_out, --grpc_python_out: messages, type stubs
and service stubs), and answers with what it wrote. Files outside vidmesh/ are skipped: the
google.* modules come from the protobuf and googleapis-common-protos wheels.

Used from buf.gen.yaml as `local: [.venv/bin/python, scripts/buf/protoc_gen_python.py]`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc

OWN_PREFIX = "vidmesh/"


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    response = plugin_pb2.CodeGeneratorResponse(supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL)
    wanted = [name for name in request.file_to_generate if name.startswith(OWN_PREFIX)]
    if not wanted:
        return response
    with tempfile.TemporaryDirectory() as work:
        descriptors = Path(work) / "input.binpb"
        descriptors.write_bytes(descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString())
        out = Path(work) / "out"
        out.mkdir()
        code = protoc.main(
            [
                "grpc_tools.protoc",
                f"--descriptor_set_in={descriptors}",
                f"--python_out={out}",
                f"--pyi_out={out}",
                f"--grpc_python_out={out}",
                *wanted,
            ]
        )
        if code != 0:
            response.error = f"grpc_tools.protoc exited with {code}"
            return response
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            response.file.add(name=path.relative_to(out).as_posix(), content=path.read_text())
    return response


def main() -> None:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(request).SerializeToString())


if __name__ == "__main__":
    main()
