"""Alembic environment: runs the revisions on the connection or URL minemap passes in."""

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine

config = context.config

# Autogenerate (`alembic check`, `minemap db check`) compares against the ORM models, with
# the options of minemap.db.migrate; the revisions themselves never import the app.
try:
    from minemap.db.migrate import COMPARE
    from minemap.db.models import Base

    target_metadata = Base.metadata
except ImportError:  # running the revisions without the package installed
    target_metadata, COMPARE = None, {}

GEO = dict(
    include_object=alembic_helpers.include_object,
    process_revision_directives=alembic_helpers.writer,
    render_item=alembic_helpers.render_item,
    **COMPARE,
)


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from minemap.db.engine import database_url as from_settings
    from minemap.settings import Settings

    return from_settings(Settings())


def run_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata,
                      literal_binds=True, **GEO)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, **GEO)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(database_url())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **GEO)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
