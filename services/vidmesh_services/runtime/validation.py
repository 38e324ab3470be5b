"""Checks of resource names, shared by every service."""

from __future__ import annotations

import re

from .errors import FieldViolation, InvalidArgument

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_id(ident: str) -> bool:
    """Whether ident can be the {id} of a resource name."""
    return bool(_ID.match(ident))


def parse_name(name: str, collection: str, field: str = "name") -> str:
    """The id in '{collection}/{id}', or INVALID_ARGUMENT naming the field."""
    head, _, ident = name.partition("/")
    if head != collection or not _ID.match(ident):
        raise InvalidArgument(FieldViolation(field, f"must look like '{collection}/{{id}}', got {name[:80]!r}"))
    return ident
