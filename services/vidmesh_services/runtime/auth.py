"""API keys and caller identity.

A key is shown once when created; only its sha256 is stored (keys are 256-bit random, so a
plain hash is as strong as a slow one). vidmesh's own processes call each other with a
service token that only they hold.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from .errors import FieldViolation, InvalidArgument, PermissionDenied, Unauthenticated

KEY_PREFIX = "vmk_"
_OWNER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


class ApiKeyStore(Protocol):
    """Where key hashes live (backends in vidmesh_services.storage). Every server opens one to
    resolve callers; none of them needs the video store for it."""

    async def put_api_key(self, key_hash: str, owner: str) -> None: ...

    async def find_api_key_owner(self, key_hash: str) -> str | None: ...

    async def wait_ready(self) -> None:
        """Returns once the store can serve calls."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Identity:
    """Who is calling: an owner (via an API key) or a vidmesh service."""

    owner: str
    is_service: bool = False


_caller: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("vidmesh_caller", default=None)


def current_caller() -> Identity | None:
    return _caller.get()


def set_caller(identity: Identity | None) -> contextvars.Token[Identity | None]:
    return _caller.set(identity)


def require_caller() -> Identity:
    """The caller, or UNAUTHENTICATED: every mutation needs a key."""
    identity = _caller.get()
    if identity is None:
        raise Unauthenticated("this call needs an API key: send 'authorization: Bearer <key>'")
    return identity


def require_service() -> Identity:
    identity = require_caller()
    if not identity.is_service:
        raise PermissionDenied("service", "internal", "only vidmesh services may call this method", reason="SERVICE_ONLY")
    return identity


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def validate_owner_name(owner: str) -> None:
    if not _OWNER_NAME.match(owner):
        raise InvalidArgument(FieldViolation("owner", "1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"))


async def create_api_key(store: ApiKeyStore, owner: str) -> str:
    """Stores the hash of a new key for owner and returns the key itself, the only time it exists."""
    validate_owner_name(owner)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    await store.put_api_key(hash_key(key), owner)
    return key


class Authenticator:
    """Resolves a bearer token to an Identity, caching positive answers briefly."""

    def __init__(self, store: ApiKeyStore, service_token: str, cache_seconds: float = 30.0):
        self._store = store
        self._service_token = service_token
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Identity]] = {}

    async def resolve(self, authorization: str | None) -> Identity | None:
        if authorization is None:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("malformed authorization header: expected 'Bearer <key>'", reason="MALFORMED_CREDENTIALS")
        if self._service_token and hmac.compare_digest(token, self._service_token):
            return Identity(owner="service", is_service=True)
        digest = hash_key(token)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached and cached[0] > now:
            return cached[1]
        owner = await self._store.find_api_key_owner(digest)
        if owner is None:
            raise Unauthenticated("unknown API key", reason="INVALID_API_KEY")
        identity = Identity(owner=owner)
        self._cache[digest] = (now + self._cache_seconds, identity)
        return identity
