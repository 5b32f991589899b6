"""Dependencies shared by the routes: settings, a transaction per request, the caller."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine, text

from minemap.db.engine import transaction
from minemap.db.models import MAX_ID
from minemap.errors import NotFound
from minemap.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


# Methods that only read (RFC 9110 safe methods).
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def get_connection(request: Request, engine: Annotated[Engine, Depends(get_engine)]
                   ) -> Iterator[Connection]:
    """One transaction per request: committed after the handler, rolled back on any error.

    A read runs read-only, in one snapshot: the database refuses any write it would make,
    and the data version it reads goes with the data it serves.
    """
    with transaction(engine) as conn:
        if request.method in SAFE:
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        yield conn


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
# "function" scope: the transaction commits before the response leaves, so a client never
# hears 201 about a write that then fails to commit, nor reads before it is visible.
ConnectionDep = Annotated[Connection, Depends(get_connection, scope="function")]


def path_id(entity: str):
    """Return a dependency reading the path's `id`: 404 for one no `entity` can have.

    A number beyond the bigint range names nothing, so it is not found, never a 500.
    """

    def read_id(id: int) -> int:
        if not 0 < id <= MAX_ID:
            raise NotFound(f"no {entity} {id}")
        return id

    return Annotated[int, Depends(read_id)]
