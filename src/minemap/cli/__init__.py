"""The `minemap` command line: thin typer commands over the same functions as the API.

Whoever runs it reaches the database, so it acts as an admin.
"""

# Importing each module registers its commands, in the order `minemap --help` lists them.
from minemap.cli import service  # noqa: F401, I001
from minemap.cli import data, records, reports, tokens  # noqa: F401
from minemap.cli.common import app

__all__ = ["app"]
