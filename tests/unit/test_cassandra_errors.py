"""Driver errors become retryable gRPC codes, never INTERNAL."""

from __future__ import annotations

import grpc
from cassandra import ConsistencyLevel, OperationTimedOut, ReadTimeout, Unavailable, WriteTimeout
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionShutdown
from cassandra.policies import WriteType

from vidmesh_services.runtime.errors import VidmeshError
from vidmesh_services.storage.cassandra.session import translate


def test_driver_errors_map_to_unavailable_or_deadline_exceeded() -> None:
    cases = {
        Unavailable("down", ConsistencyLevel.LOCAL_QUORUM, 2, 1): grpc.StatusCode.UNAVAILABLE,
        NoHostAvailable("no host", {}): grpc.StatusCode.UNAVAILABLE,
        ConnectionShutdown("closed"): grpc.StatusCode.UNAVAILABLE,
        ReadTimeout(
            "slow", consistency=ConsistencyLevel.LOCAL_QUORUM, required_responses=2, received_responses=1
        ): grpc.StatusCode.DEADLINE_EXCEEDED,
        WriteTimeout(
            "slow", consistency=ConsistencyLevel.LOCAL_SERIAL, required_responses=2, received_responses=1, write_type=WriteType.CAS
        ): grpc.StatusCode.DEADLINE_EXCEEDED,
        OperationTimedOut({}, None): grpc.StatusCode.DEADLINE_EXCEEDED,
    }
    for exc, code in cases.items():
        translated = translate(exc)
        assert isinstance(translated, VidmeshError) and translated.code == code, exc
        assert translated.to_status().details, "rich details (ErrorInfo) travel with it"


def test_other_errors_are_left_alone() -> None:
    bug = ValueError("a bug")
    assert translate(bug) is bug
