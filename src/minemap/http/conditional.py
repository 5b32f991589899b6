"""Conditional requests on a stored thing (a record, a baseline): strong ETags, If-Match to
change it (428 without, 412 when stale) and If-None-Match to revalidate it (RFC 9110)."""

import hashlib
from typing import Annotated

from fastapi import Header

from minemap.errors import PreconditionFailed, PreconditionRequired

IfMatch = Annotated[str | None, Header(description="The ETag of the record as last read")]
IfNoneMatch = Annotated[str | None, Header()]


def etag(key: str, body: bytes) -> str:
    """Return the strong ETag of `body`, the representation of the thing named `key` (its id
    and version): a digest covers what changes without a new version."""
    return f'"{key}-{hashlib.blake2b(body, digest_size=6).hexdigest()}"'


def _tags(header: str) -> set[str]:
    return {tag.strip() for tag in header.split(",")}


def require_match(if_match: str | None, tag: str, what: str, *, required: bool = True) -> None:
    """Refuse a change of `what` (e.g. "hazard 3") unless If-Match names its current `tag`."""
    if if_match is None:
        if required:
            raise PreconditionRequired(f"send If-Match with the ETag of the "
                                       f"{what.split()[0]} (from GET) to change it")
        return
    if if_match.strip() != "*" and tag not in _tags(if_match):
        raise PreconditionFailed(f"{what} has changed since it was read (its ETag is now "
                                 f"{tag}); read it again")


def unchanged(if_none_match: str | None, tag: str) -> bool:
    """Tell whether If-None-Match names `tag` (weak comparison, as RFC 9110 asks)."""
    return bool(if_none_match) and (if_none_match.strip() == "*" or tag in {
        t.removeprefix("W/") for t in _tags(if_none_match)})
