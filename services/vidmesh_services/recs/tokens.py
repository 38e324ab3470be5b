"""Recommendation tokens: what a page hands back to say an entry was shown or opened.

A token names the model version (or "trending") an entry came from, signed with the platform's
secret so that nobody can count impressions or clicks for a version by making tokens up; each
entry of each response gets its own (a nonce), so an entry shown twice counts twice, and the
same token sent again counts once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from .keys import TOKEN_SECONDS


@dataclass(frozen=True)
class Issued:
    """A token's content once verified."""

    digest: str  # unique per token: its signature, used as its key
    version: str


class Tokens:
    def __init__(self, secret: bytes):
        self._secret = secret

    def issue(self, version: str, nonce: str, position: int) -> str:
        payload = f"{version}|{nonce}|{position}|{int(time.time())}".encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    @staticmethod
    def nonce() -> str:
        return secrets.token_urlsafe(6)

    def verify(self, token: str, now: float | None = None) -> Issued | None:
        """The token's version, or None for a token that is not ours or has expired."""
        payload_part, _, signature_part = token.partition(".")
        try:
            payload, signature = _unb64(payload_part), _unb64(signature_part)
            version, _nonce, _position, issued = payload.decode().split("|")
            issued_at = int(issued)
        except ValueError:  # (binascii.Error and UnicodeDecodeError are ValueErrors)
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        if not 0 <= (now or time.time()) - issued_at <= TOKEN_SECONDS:
            return None
        return Issued(signature_part, version)

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, b"recs-token|" + payload, hashlib.sha256).digest()[:12]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
