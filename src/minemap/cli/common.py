"""What every command shares: the app, the consoles, the settings and the error report."""

import functools
import sys
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy.exc import OperationalError

from minemap.db.cluster import Cluster
from minemap.errors import MinemapError
from minemap.settings import Settings

app = typer.Typer(help="minemap: landmine contamination and land release.", no_args_is_help=True)

out = Console()
err = Console(stderr=True)


def settings_of(ctx: typer.Context) -> Settings:
    return ctx.obj


@app.callback()
def main(ctx: typer.Context) -> None:
    ctx.obj = Settings()


def reports_errors(command):
    """Exit 1 with a one-line reason on any MinemapError."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            err.print(f"[red]error:[/red] cannot reach the database ({reason}); start the private "
                      "one with `minemap db start` or set MINEMAP_DATABASE_URL",
                      highlight=False, soft_wrap=True)
            sys.exit(1)
        except MinemapError as exc:
            err.print(f"[red]error:[/red] {exc.detail}", highlight=False, soft_wrap=True)
            for problem in exc.problems:
                err.print(f"  feature {problem.index}: {problem.code}: {problem.reason}",
                          highlight=False, soft_wrap=True)
            sys.exit(1)

    return wrapper


def private_cluster(settings: Settings) -> Cluster:
    return Cluster(Path(settings.home))

