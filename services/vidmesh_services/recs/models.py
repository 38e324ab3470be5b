"""The trained models on disk (home/data/recs/models/<version>/): the item factors and their
videos, which the next training compares against, and report.json: parameters, timings, the
evaluation table and whether and why it was deployed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

KEPT = 10  # model folders kept (the deployed and previous ones are never removed)


def model_dir(root: Path, version: str) -> Path:
    return root / "models" / version


def save_factors(root: Path, version: str, item_factors: npt.NDArray[np.float32], videos: list[str]) -> None:
    folder = model_dir(root, version)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "item_factors.npy", item_factors)
    _write_atomically(folder / "videos.txt", "\n".join(videos))


def load_factors(root: Path, version: str) -> tuple[npt.NDArray[np.float32], list[str]] | None:
    folder = model_dir(root, version)
    try:
        factors = np.load(folder / "item_factors.npy")
        videos = (folder / "videos.txt").read_text().split("\n")
    except (OSError, ValueError):
        return None
    return factors.astype(np.float32), videos


def save_report(root: Path, version: str, report: dict[str, Any]) -> None:
    folder = model_dir(root, version)
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomically(folder / "report.json", json.dumps(report, indent=2))


def load_report(root: Path, version: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads((model_dir(root, version) / "report.json").read_text())
    except (OSError, ValueError):
        return None
    return found


def versions(root: Path) -> list[str]:
    """Model versions on disk, oldest first."""
    folder = root / "models"
    found = [p.name for p in folder.iterdir() if p.is_dir() and p.name[1:].isdigit()] if folder.is_dir() else []
    return sorted(found, key=lambda v: int(v[1:]))


def prune(root: Path, keep: set[str]) -> None:
    """Removes all but the newest KEPT model folders, never one named in keep."""
    found = versions(root)
    for version in found[: max(0, len(found) - KEPT)]:
        if version not in keep:
            shutil.rmtree(model_dir(root, version), ignore_errors=True)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
