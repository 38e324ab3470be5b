"""Resource ids: short, URL-safe, random, and never starting with '-'.

A leading '-' would make `vidmesh videos get -abc` read the id as an option, so such draws are
discarded (about one in 64).
"""

from __future__ import annotations

import secrets


def new_id(nbytes: int = 8) -> str:
    """A random URL-safe id carrying nbytes of entropy (8 bytes: 11 characters)."""
    while True:
        candidate = secrets.token_urlsafe(nbytes)
        if not candidate.startswith("-"):
            return candidate
