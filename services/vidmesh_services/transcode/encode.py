"""The worker's encoder: plan the ladder for a source, run the pipeline, report what it made."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vidmesh.transcode.v1 import resources_pb2
from vidmesh.type.v1 import media_pb2

from ..media import BadMediaError
from .ladder import plan_ladder
from .pipeline import ENCODING, PACKAGING, TranscodeConfig, transcode
from .source import probe_source

# progress(stage, percent 0-100)
Progress = Callable[[resources_pb2.JobStage, float], None]
_STAGES = {ENCODING: resources_pb2.JOB_STAGE_ENCODING, PACKAGING: resources_pb2.JOB_STAGE_PACKAGING}


class MediaRejected(Exception):
    """The source can never be transcoded (corrupt, no video, too large...). Not retried."""


@dataclass(frozen=True)
class EncodedLadder:
    renditions: list[media_pb2.Rendition]  # best first
    master_playlist: str  # relative to the output folder, e.g. "master.m3u8"


DEFAULT_CONFIG = TranscodeConfig()


def encode_ladder(source: Path, out_dir: Path, progress: Progress, config: TranscodeConfig = DEFAULT_CONFIG) -> EncodedLadder:
    try:
        plan = plan_ladder(probe_source(source), config.ladder)
        result = transcode(source, out_dir, plan, config, lambda stage, percent: progress(_STAGES[stage], percent))
    except BadMediaError as exc:
        raise MediaRejected(str(exc)) from None
    return EncodedLadder([r.to_proto() for r in result.renditions], result.master_playlist)
