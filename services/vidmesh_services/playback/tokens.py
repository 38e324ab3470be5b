"""Signed playback tokens: bearer credentials that let a player read one video's playback objects.

A token is `base64url(payload) "." base64url(HMAC-SHA256(secret, payload))` with the payload
`v1|{resource name}|{expiry unix seconds}`. The secret is shared by the processes that issue and
check tokens (Playback and Catalog) and never leaves them; tokens carry no owner identity,
so leaking one exposes that one video until it expires, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

VERSION = "v1"
MIN_TTL_SECONDS = 60
MAX_TTL_SECONDS = 24 * 3600
DEFAULT_TTL_SECONDS = 3600


class InvalidToken(Exception):
    """Malformed, forged, expired, or signed for another resource. The message says which."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class PlaybackTokens:
    secret: bytes

    def sign(self, resource: str, ttl_seconds: int, now: float | None = None) -> tuple[str, int]:
        """Returns (token, expiry in unix seconds) for resource, e.g. "videos/abc"."""
        expires = int((time.time() if now is None else now) + ttl_seconds)
        payload = f"{VERSION}|{resource}|{expires}".encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}", expires

    def verify(self, token: str, resource: str, now: float | None = None) -> None:
        """Raises InvalidToken unless token is a live token for resource."""
        encoded, dot, signature = token.partition(".")
        try:
            payload, mac = _unb64(encoded), _unb64(signature)
        except (ValueError, UnicodeEncodeError):
            raise InvalidToken("malformed token") from None
        if not dot or not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidToken("token signature does not match")
        version, _, rest = payload.decode(errors="replace").partition("|")
        signed_for, _, expires = rest.rpartition("|")
        if version != VERSION or not expires.isdigit():
            raise InvalidToken("malformed token")
        if signed_for != resource:
            raise InvalidToken(f"token is for another resource, not {resource}")
        if int(expires) <= (time.time() if now is None else now):
            raise InvalidToken("token has expired")

    def is_valid(self, token: str, resource: str) -> bool:
        try:
            self.verify(token, resource)
        except InvalidToken:
            return False
        return True

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self.secret, payload, hashlib.sha256).digest()
