"""Every ErrorInfo.reason a service can send is a value of vidmesh.type.v1.ErrorReason, where the
contract documents it: clients branch on reasons, so an undocumented one is a contract bug."""

from __future__ import annotations

import ast
from pathlib import Path

from vidmesh.type.v1 import error_reason_pb2

import vidmesh_services
from vidmesh_services.platform.topology import MESH

DOCUMENTED = set(error_reason_pb2.ErrorReason.keys()) - {"ERROR_REASON_UNSPECIFIED"}
SOURCES = sorted(Path(vidmesh_services.__file__).parent.rglob("*.py"))


def reasons_in(tree: ast.AST) -> set[str]:
    """String reasons written in code: reason="X" arguments, default_reason = "X" class attributes,
    and the first argument of BadMediaError (whose reason becomes CompleteUpload's)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        value: ast.expr
        if (isinstance(node, ast.keyword) and node.arg == "reason") or (
            isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "default_reason" for t in node.targets)
        ):
            value = node.value
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "BadMediaError" and node.args:
            value = node.args[0]
        else:
            continue
        if isinstance(value, ast.Constant) and value.value is not None:  # default_reason = None: the class names none
            found.add(value.value)
    return found


def test_every_reason_in_the_code_is_documented() -> None:
    used = {(path.name, reason) for path in SOURCES for reason in reasons_in(ast.parse(path.read_text()))}
    assert len(used) > 30, "the scan finds the reasons"  # guards against a scan that finds nothing
    assert sorted((name, reason) for name, reason in used if reason not in DOCUMENTED) == []


def test_reasons_for_a_callee_that_fails_are_documented() -> None:
    """runtime/calls.py names them after the service called: <CALLEE>_UNAVAILABLE and _TIMEOUT."""
    callees = {"catalog", "transcode"}  # the services other services call (ServiceChannels users)
    assert callees <= {service.name for service in MESH}
    for callee in callees:
        assert {f"{callee.upper()}_UNAVAILABLE", f"{callee.upper()}_TIMEOUT"} <= DOCUMENTED
