"""The transcode line is fair between owners and lets short sources go first: on a real mesh with
one worker, and rule by rule against real Valkey and a real catalog."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import grpc
import pytest
import redis
from google.protobuf import duration_pb2
from vidmesh.catalog.v1 import resources_pb2 as catalog_pb2
from vidmesh.transcode.v1 import resources_pb2 as jobs_pb2
from vidmesh.transcode.v1 import transcode_service_pb2 as pb2
from vidmesh.transcode.v1 import transcode_service_pb2_grpc as pb2_grpc
from vidmesh.type.v1 import media_pb2

from tests.conftest import bearer
from tests.integration.test_transcode_retries import Pieces, pieces  # noqa: F401  # the fixture
from tests.support.media import make_video
from tests.support.processes import Mesh
from vidmesh_client import VidmeshClient
from vidmesh_client._ledger import UploadLedger
from vidmesh_services.runtime.auth import Identity
from vidmesh_services.transcode.fair_queue import OWNERS
from vidmesh_services.transcode.jobs import Jobs
from vidmesh_services.transcode.store import JobQueue, JobStore

FINAL = (jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELLED)


def wait_until_line_is_empty(mesh: Mesh, timeout: float = 180) -> None:
    """Jobs earlier tests left waiting would take places in line ahead of ours."""
    client = redis.Redis(port=mesh.ports["valkey"])
    try:
        deadline = time.monotonic() + timeout
        while client.zcard(OWNERS):
            assert time.monotonic() < deadline, "earlier jobs still wait in line"
            time.sleep(0.2)
    finally:
        client.close()


def job_of(client: VidmeshClient, video_id: str) -> jobs_pb2.Job:
    jobs = client.jobs_for_video(video_id)
    assert len(jobs) == 1, jobs
    return jobs[0]


def wait_for(client: VidmeshClient, video_id: str, states: tuple[int, ...], timeout: float = 120) -> jobs_pb2.Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = job_of(client, video_id)
        if job.state in states:
            return job
        time.sleep(0.1)
    raise TimeoutError(f"the job of {video_id} never reached {states}")


def test_a_short_clip_of_another_owner_runs_before_the_rest_of_a_long_backlog(mesh: Mesh, gateway: grpc.Channel, tmp_path: Path) -> None:
    suffix = secrets.token_hex(3)
    ann_key, ben_key = mesh.create_key(f"fair-ann-{suffix}"), mesh.create_key(f"fair-ben-{suffix}")
    first = make_video(tmp_path / "first.mp4", seconds=20, width=1280, height=720)  # holds the one worker for seconds
    backlog = [make_video(tmp_path / f"long{i}.mp4", seconds=6) for i in range(2)]
    clip = make_video(tmp_path / "clip.mp4", seconds=1)
    wait_until_line_is_empty(mesh)
    stub = pb2_grpc.TranscodeServiceStub(gateway)
    with (
        VidmeshClient(mesh.gateway, ann_key, ledger=UploadLedger(tmp_path / "ann.json")) as ann,
        VidmeshClient(mesh.gateway, ben_key, ledger=UploadLedger(tmp_path / "ben.json")) as ben,
    ):
        running = ann.upload(first, title="long 1")
        wait_for(ann, running, (jobs_pb2.JOB_STATE_RUNNING,))
        later = [ann.upload(video, title=f"long {i + 2}") for i, video in enumerate(backlog)]
        short = ben.upload(clip, title="short")

        # One worker, busy: ann's later jobs came first, yet ben's clip is next in line.
        place = {v: job_of(c, v) for c, v in [(ann, running), *((ann, v) for v in later), (ben, short)]}
        assert place[running].state == jobs_pb2.JOB_STATE_RUNNING, "the first job ended too soon for this test"
        assert [place[v].queue_position for v in (running, short, *later)] == [0, 1, 2, 3]
        shown = stub.GetJob(pb2.GetJobRequest(name=place[short].name), metadata=bearer(ben_key)).job
        assert (shown.state, shown.queue_position) == (jobs_pb2.JOB_STATE_QUEUED, 1)
        watch = stub.WatchJob(pb2.WatchJobRequest(name=place[later[1]].name), metadata=bearer(ann_key), timeout=30)
        assert next(watch).job.queue_position == 3
        watch.cancel()

        done = {v: wait_for(c, v, FINAL) for c, v in [(ann, running), (ben, short), *((ann, v) for v in later)]}
    assert all(job.state == jobs_pb2.JOB_STATE_SUCCEEDED for job in done.values()), [j.failure_reason for j in done.values()]
    starts = {v: job.start_time.ToNanoseconds() for v, job in done.items()}
    ends = {v: job.end_time.ToNanoseconds() for v, job in done.items()}
    assert starts[running] < ends[running] <= starts[short] < ends[short] <= starts[later[0]] < starts[later[1]]
    assert all(job.queue_position == 0 for job in done.values())


async def queued(jobs: Jobs, owner: str, job_id: str) -> jobs_pb2.Job:
    return await jobs.get(f"jobs/{job_id}", Identity(owner=owner))


async def add_video(parts: Pieces, owner: str, seconds: int) -> str:
    video_id = secrets.token_urlsafe(8)
    source = media_pb2.MediaInfo(duration=duration_pb2.Duration(seconds=seconds), width=320, height=240)
    await parts.store.insert_video(
        catalog_pb2.Video(
            id=video_id, name=f"videos/{video_id}", owner=owner, title="t", status=catalog_pb2.VIDEO_STATUS_PROCESSING, source=source
        )
    )
    return video_id


@pytest.fixture
async def line(pieces: Pieces) -> tuple[Jobs, JobQueue]:  # noqa: F811
    queue = JobQueue(pieces.client, "rule-worker")
    await queue.ensure_group()
    return Jobs(pieces.client, JobStore(pieces.client), pieces.catalog), queue


async def test_the_line_is_fair_by_source_seconds_and_short_first_within_an_owner(
    pieces: Pieces,  # noqa: F811
    line: tuple[Jobs, JobQueue],
) -> None:
    jobs, queue = line
    submitted: dict[str, str] = {}

    async def submit(label: str, owner: str, seconds: int) -> None:
        video_id = await add_video(pieces, owner, seconds)
        job = await jobs.submit(f"videos/{video_id}", owner, f"raw/{video_id}/source", request_id=label)
        submitted[label] = job.name.removeprefix("jobs/")

    # Durations come from the catalog's probe: ann 60 s, 60 s, then 5 s; ben 10 s twice.
    for label, owner, seconds in [("a60", "ann", 60), ("b60", "ann", 60), ("c5", "ann", 5), ("k10", "ben", 10), ("l10", "ben", 10)]:
        await submit(label, owner, seconds)
    # ann's 5 s clip passes ann's hours; then turns follow the seconds each owner was handed.
    expected = ["c5", "k10", "a60", "l10", "b60"]
    owners = {"a60": "ann", "b60": "ann", "c5": "ann", "k10": "ben", "l10": "ben"}
    places = [(await queued(jobs, owners[label], submitted[label])).queue_position for label in expected]
    assert places == [1, 2, 3, 4, 5]
    listed, _ = await jobs.list("", 0, 100, "", Identity(owner="ben"))
    assert sorted(j.queue_position for j in listed) == [2, 4]

    handed = []
    for _ in expected:
        delivery, taken_over = await queue.next(block_ms=1000, idle_ms=60_000)
        assert delivery is not None and not taken_over
        handed.append(next(label for label, job_id in submitted.items() if job_id == delivery.job_id))
        await queue.ack(delivery.entry_id)
    assert handed == expected
    assert (await queue.next(block_ms=200, idle_ms=60_000)) == (None, False)

    # Idling earns no credit: ben (handed 20 s) rejoins at the clock (the 60 s ann's last job
    # started at), while ann keeps the 125 s she was handed; so ben goes first.
    await submit("ann-again", "ann", 1)
    await submit("ben-again", "ben", 30)
    assert (await queued(jobs, "ben", submitted["ben-again"])).queue_position == 1
    assert (await queued(jobs, "ann", submitted["ann-again"])).queue_position == 2


async def test_a_waiting_job_is_handed_out_once_and_a_dead_workers_job_is_taken_over(
    pieces: Pieces,  # noqa: F811
    line: tuple[Jobs, JobQueue],
) -> None:
    jobs, queue = line
    video_id = await add_video(pieces, "ann", 3)
    job = await jobs.submit(f"videos/{video_id}", "ann", f"raw/{video_id}/source", request_id="once")
    again = await jobs.submit(f"videos/{video_id}", "ann", f"raw/{video_id}/source", request_id="once")
    assert again.name == job.name  # SubmitJob stays idempotent
    dying = JobQueue(pieces.client, "dying-worker")
    delivery, _ = await dying.next(block_ms=1000, idle_ms=60_000)
    assert delivery is not None and delivery.job.job == job.name
    assert (await queued(jobs, "ann", delivery.job_id)).queue_position == 0  # handed out: not in line
    assert (await queue.next(block_ms=200, idle_ms=60_000)) == (None, False)  # nobody else gets it
    # The dying worker never acknowledges: once idle long enough, another worker takes it over.
    taken, taken_over = await queue.next(block_ms=200, idle_ms=1)
    assert taken is not None and taken_over and taken.job_id == delivery.job_id
