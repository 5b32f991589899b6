"""The engine (one per process) and the transaction scope every command and request uses."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from minemap.db.cluster import private_url
from minemap.errors import Conflict, DatabaseUnavailable, InvalidInput
from minemap.settings import Settings, sqlalchemy_url


def database_url(settings: Settings) -> str:
    """Return MINEMAP_DATABASE_URL, or the private cluster's URL when it is not set."""
    return settings.database_url or sqlalchemy_url(private_url(settings.home))


def make_engine(settings: Settings) -> Engine:
    return create_engine(
        database_url(settings),
        pool_pre_ping=True,
        connect_args={"application_name": "minemap"},
    )


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn driver errors that users cause (unique, foreign key, check) into domain errors."""
    try:
        yield
    except IntegrityError as exc:
        diag = getattr(exc.orig, "diag", None)
        constraint = getattr(diag, "constraint_name", None) or "constraint"
        detail = getattr(diag, "message_detail", None) or str(exc.orig).splitlines()[0]
        sqlstate = getattr(exc.orig, "sqlstate", "")
        if sqlstate == "23505":
            raise Conflict(f"duplicate value ({constraint}): {detail}") from exc
        raise InvalidInput(f"violates {constraint}: {detail}") from exc
    except (OperationalError, InterfaceError) as exc:
        # Only a lost or refused connection is "unavailable"; the server's own refusals
        # (timeouts, cancelled statements) carry a SQLSTATE and stay errors.
        if exc.connection_invalidated or getattr(exc.orig, "sqlstate", None) is None:
            raise DatabaseUnavailable(f"database unreachable: {exc.orig}") from exc
        raise


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """Yield a connection in one transaction: committed at the end, rolled back on any error."""
    with translate_errors(), engine.begin() as conn:
        yield conn


def postgis_version(conn: Connection) -> str:
    return conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
