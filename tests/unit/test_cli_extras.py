"""Platform commands from an SDK-only install say which extra is missing instead of a traceback."""

from __future__ import annotations

from importlib import metadata

import pytest
from vidmesh.transcode.v1 import resources_pb2 as jobs_pb2

from vidmesh_client import cli


def _without(distribution: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = metadata.version

    def version(name: str) -> str:
        if name == distribution:
            raise metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(metadata, "version", version)


def test_a_full_install_lacks_nothing() -> None:
    assert cli._missing_server_packages() == []


@pytest.mark.parametrize("argv", [["up"], ["keys", "create", "--owner", "alice"]])
def test_platform_commands_name_the_server_extra(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _without("av", monkeypatch)
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    message = str(stopped.value.code)
    assert "vidmesh[server]" in message
    assert "av" in message.split("not installed:")[1]


def test_client_commands_do_not_need_the_server_extra(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _without("av", monkeypatch)
    with pytest.raises(SystemExit) as stopped:  # nothing listens on port 9: the call itself runs and fails
        cli.main(["videos", "get", "no-such-video", "--url", "http://127.0.0.1:9"])
    assert stopped.value.code == 1
    assert "UNAVAILABLE" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("fields", "note"),
    [
        ({"state": jobs_pb2.JOB_STATE_QUEUED, "queue_position": 1, "attempt": 1}, "queued, next in line"),
        ({"state": jobs_pb2.JOB_STATE_QUEUED, "queue_position": 2, "attempt": 1}, "queued, 1 job ahead"),
        ({"state": jobs_pb2.JOB_STATE_QUEUED, "queue_position": 5, "attempt": 1}, "queued, 4 jobs ahead"),
        ({"state": jobs_pb2.JOB_STATE_QUEUED, "attempt": 2}, "waiting to retry, attempt 2"),
        ({"state": jobs_pb2.JOB_STATE_RUNNING, "stage": jobs_pb2.JOB_STAGE_ENCODING, "attempt": 1}, "encoding"),
    ],
)
def test_the_wait_bar_names_the_queue_position_then_the_stage(fields: dict[str, int], note: str) -> None:
    assert cli.job_progress_note(jobs_pb2.Job(**fields)) == note  # type: ignore[arg-type]
