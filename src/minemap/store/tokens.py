"""API tokens: only a SHA-256 hash is stored; the token itself is shown once."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, func, select, update

from minemap.db.models import Organisation, Token
from minemap.errors import NotFound
from minemap.store import organisations
from minemap.vocab import Role

PREFIX = "mm_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's id, name, role and organisation."""

    token_id: int | None
    name: str
    role: Role
    organisation_id: int | None
    organisation: str | None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(conn: Connection, *, organisation: str, role: Role, name: str | None = None) -> tuple[int, str]:
    """Create a token for `organisation` (created if new); return (id, the token)."""
    org_id = organisations.ensure(conn, organisation)
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = conn.execute(
        Token.__table__.insert()
        .values(name=name or f"{role.value}@{organisation}", organisation_id=org_id,
                role=role, token_hash=digest(token))
        .returning(Token.id)
    ).scalar_one()
    return token_id, token


def authenticate(conn: Connection, token: str) -> Principal | None:
    """Return the principal of a valid, unrevoked token, or None."""
    wanted = digest(token)
    row = conn.execute(
        select(Token.id, Token.name, Token.role, Token.organisation_id, Token.token_hash,
               Organisation.name.label("organisation"))
        .join(Organisation, Organisation.id == Token.organisation_id)
        .where(Token.token_hash == wanted, Token.revoked_at.is_(None))
    ).one_or_none()
    # The lookup is by hash; compare again in constant time so timing reveals nothing.
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    return Principal(row.id, row.name, Role(row.role), row.organisation_id, row.organisation)


def revoke(conn: Connection, token_id: int) -> None:
    result = conn.execute(
        update(Token).where(Token.id == token_id, Token.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    if result.rowcount == 0:
        raise NotFound(f"no active token with id {token_id}")
