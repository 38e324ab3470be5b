"""What a video's metadata may hold: the catalog's rules, also checked by Upload when an upload
starts (so a bad title fails before any bytes are sent, not after)."""

from __future__ import annotations

from ..runtime.errors import FieldViolation

MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MAX_TAGS = 30
MAX_TAG = 50


def metadata_violations(title: str, description: str, tags: list[str], prefix: str = "") -> list[FieldViolation]:
    """Violations of the title/description/tags rules; field names get prefix (e.g. 'video.')."""
    found = []
    if not title.strip():
        found.append(FieldViolation(f"{prefix}title", "must not be empty"))
    elif len(title) > MAX_TITLE:
        found.append(FieldViolation(f"{prefix}title", f"at most {MAX_TITLE} characters"))
    if len(description) > MAX_DESCRIPTION:
        found.append(FieldViolation(f"{prefix}description", f"at most {MAX_DESCRIPTION} characters"))
    if len(tags) > MAX_TAGS:
        found.append(FieldViolation(f"{prefix}tags", f"at most {MAX_TAGS} tags"))
    for i, tag in enumerate(tags):
        if not tag.strip() or len(tag) > MAX_TAG:
            found.append(FieldViolation(f"{prefix}tags[{i}]", f"1 to {MAX_TAG} characters"))
    return found
