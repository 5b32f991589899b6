"""Organisations: the national authority and the operators."""

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert

from minemap.db.models import Organisation
from minemap.errors import InvalidInput


def ensure(conn: Connection, name: str) -> int:
    """Return the id of organisation `name`, creating it if new."""
    name = name.strip()
    if not name:
        raise InvalidInput("organisation name is empty")
    conn.execute(insert(Organisation).values(name=name).on_conflict_do_nothing())
    return conn.execute(select(Organisation.id).where(Organisation.name == name)).scalar_one()
