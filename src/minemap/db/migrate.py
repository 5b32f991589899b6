"""Run the Alembic revisions in migrations/ on an engine."""

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from minemap.resources import project_dir


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(project_dir("migrations")))
    # Escape % for ConfigParser; the URL may hold percent-encoded characters.
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(False).replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as conn:
        config = _config(engine)
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        config = _config(engine)
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def status(engine: Engine) -> tuple[str | None, str]:
    """Return (the database's revision, the newest revision available)."""
    head = ScriptDirectory.from_config(_config(engine)).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, head
