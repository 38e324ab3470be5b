"""Page tokens bound to their listing (AIP-158): a token carries where the next page starts and
which query it belongs to, so one from another listing (other filters, another caller) is
refused instead of silently paging through the wrong results.

Tokens are opaque to clients but not secret: what a listing shows is decided by the caller's
identity on every call, never by the token.
"""

from __future__ import annotations

import base64
import hashlib
import json

from .errors import FieldViolation, InvalidArgument


def query_id(*parts: object) -> str:
    """A short digest of what a listing depends on: the caller and every filter."""
    return hashlib.sha256("\0".join(str(part) for part in parts).encode()).hexdigest()[:16]


def encode_page_token(query: str, position: object) -> str:
    """A token resuming `query` at `position` (anything JSON can hold)."""
    raw = json.dumps({"q": query, "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def invalid_page_token() -> InvalidArgument:
    """The error for a token this server did not issue (or whose position does not parse)."""
    return InvalidArgument(FieldViolation("page_token", "not a token this server issued"), reason="INVALID_PAGE_TOKEN")


def decode_page_token(token: str, query: str) -> object:
    """The position `token` resumes at. INVALID_ARGUMENT with reason INVALID_PAGE_TOKEN for a token
    this server did not issue, PAGE_TOKEN_MISMATCH for one issued for another query."""
    try:
        fields = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        issued_for, position = fields["q"], fields["p"]
    except (ValueError, KeyError, TypeError):
        raise invalid_page_token() from None
    if issued_for != query:
        raise InvalidArgument(
            FieldViolation("page_token", "came from a listing with other filters or another caller; start again without one"),
            reason="PAGE_TOKEN_MISMATCH",
        )
    return position
