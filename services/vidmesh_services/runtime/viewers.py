"""Who a viewer is, as analytics counts them and recommendations serve them: a keyed hash of the
caller's identity, or of the anonymous id a browser keeps, never the id itself."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from .auth import Identity

MAX_VIEWER_ID = 64


def viewer_hasher(secret: bytes) -> Callable[[str], str]:
    """Keyed hash of a viewer's identity: counts distinct viewers without keeping who they are
    (nor letting anyone who sees the warehouse recompute it from a known id)."""

    def viewer_hash(identity: str) -> str:
        return hmac.new(secret, identity.encode(), hashlib.sha256).hexdigest()[:32]

    return viewer_hash


def caller_identity(caller: Identity | None) -> str:
    """The identity a keyed caller is counted as ('' for anonymous and service calls)."""
    return f"user:{caller.owner}" if caller and not caller.is_service else ""


def anonymous_identity(viewer_id: str) -> str:
    return f"anon:{viewer_id}" if viewer_id else ""
