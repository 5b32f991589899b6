"""Serving and running the service: the HTTP server, the database, backups."""

from pathlib import Path
from typing import Annotated

import typer

from minemap.cli.common import app, out, private_cluster, reports_errors, settings_of
from minemap.db import migrate
from minemap.db.engine import make_engine, transaction

db_app = typer.Typer(help="The database: private cluster and migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
@reports_errors
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API, OGC API and web map."""
    import uvicorn

    settings = settings_of(ctx)
    host, port = host or settings.host, port or settings.port
    out.print(f"minemap serving on http://{host}:{port}", highlight=False)
    # The app is built by name in each worker, from the same environment as `settings`.
    uvicorn.run("minemap.app:create_app", factory=True, host=host, port=port, workers=workers)


@db_app.command("start")
@reports_errors
def db_start(ctx: typer.Context) -> None:
    """Start the private PostGIS cluster under ./.minemap/ (created on first use)."""
    settings = settings_of(ctx)
    if settings.database_url:
        out.print("MINEMAP_DATABASE_URL is set: no private cluster needed.")
        return
    cluster = private_cluster(settings)
    cluster.start()
    out.print(f"PostGIS running in {cluster.home} ({cluster.url()})", highlight=False)


@db_app.command("stop")
@reports_errors
def db_stop(ctx: typer.Context) -> None:
    """Stop the private PostGIS cluster."""
    private_cluster(settings_of(ctx)).stop()
    out.print("stopped")


@db_app.command("upgrade")
@reports_errors
def db_upgrade(ctx: typer.Context, revision: str = "head") -> None:
    """Apply the migrations up to REVISION (default: the newest), then bring the accounting
    up to date (what was written before revision 0008 may not be)."""
    from minemap import accounting

    engine = make_engine(settings_of(ctx))
    migrate.upgrade(engine, revision)
    current, head = migrate.status(engine)
    if current == head:
        with transaction(engine) as conn:
            accounting.refresh(conn)
    db_status(ctx)


@db_app.command("downgrade")
@reports_errors
def db_downgrade(ctx: typer.Context, revision: str) -> None:
    """Revert the migrations down to REVISION ('base' for an empty database)."""
    migrate.downgrade(make_engine(settings_of(ctx)), revision)
    db_status(ctx)


@db_app.command("status")
@reports_errors
def db_status(ctx: typer.Context) -> None:
    """Show the database's revision and the newest one available."""
    current, head = migrate.status(make_engine(settings_of(ctx)))
    state = "up to date" if current == head else "needs `minemap db upgrade`"
    out.print(f"database at {current or 'base (empty)'}, newest {head}: {state}")

@app.command()
@reports_errors
def backup(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="The dump to write.")]
           ) -> None:
    """Write a consistent dump of the whole database to FILE (pg_dump custom format)."""
    from minemap import backup as backups

    backups.backup(settings_of(ctx), file)
    out.print(f"database written to {file} ({file.stat().st_size:,} bytes)", highlight=False)


@app.command()
@reports_errors
def restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A dump written by `minemap backup`.")],
    force: Annotated[bool, typer.Option(help="Replace a database that holds data.")] = False,
) -> None:
    """Restore FILE into the database: refused if it holds data, unless --force replaces it."""
    from minemap import backup as backups

    backups.restore(settings_of(ctx), file, force=force)
    out.print(f"database restored from {file}", highlight=False)

