"""Recommendation tokens: what a page hands back to say an entry was shown or opened.

A response is signed once (HMAC with the platform's secret): the model version, a nonce, the
time, and the source of each entry in order (m: the model, t: trending). An entry's token is that
signed header and the entry's position, so nobody can count impressions or clicks for a version
by making tokens up, each entry of each response has its own token (an entry shown twice counts
twice), and the same token sent again counts once. One signature per response, not per entry:
per-entry HMACs were a fifth of a recommendation's CPU.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .keys import TOKEN_SECONDS, TRENDING_VERSION


@dataclass(frozen=True)
class Issued:
    """A token's content once verified."""

    digest: str  # unique per entry token: the header's signature and the position
    version: str  # the model version the entry came from, or TRENDING_VERSION


class Tokens:
    def __init__(self, secret: bytes):
        self._secret = secret

    def issue(self, version: str, trending: Sequence[bool]) -> list[str]:
        """One token per entry of a response; trending[i] says entry i came from trending."""
        sources = "".join("t" if t else "m" for t in trending)
        payload = f"{version}|{secrets.token_urlsafe(6)}|{int(time.time())}|{sources}".encode()
        header = f"{_b64(payload)}.{_b64(self._sign(payload))}"
        return [f"{header}.{position}" for position in range(len(sources))]

    def verify(self, token: str, now: float | None = None) -> Issued | None:
        """The entry's source, or None for a token that is not ours or has expired."""
        try:
            payload_part, signature_part, position_part = token.split(".")
            payload, signature, position = _unb64(payload_part), _unb64(signature_part), int(position_part)
            version, _nonce, issued, sources = payload.decode().split("|")
            issued_at = int(issued)
        except ValueError:  # (binascii.Error and UnicodeDecodeError are ValueErrors)
            return None
        if not hmac.compare_digest(signature, self._sign(payload)) or not 0 <= position < len(sources):
            return None
        if not 0 <= (now or time.time()) - issued_at <= TOKEN_SECONDS:
            return None
        return Issued(f"{signature_part}.{position}", TRENDING_VERSION if sources[position] == "t" else version)

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, b"recs-token|" + payload, hashlib.sha256).digest()[:12]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
