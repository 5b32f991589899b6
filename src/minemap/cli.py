"""The `minemap` command line: thin commands over db, store, sample and the app."""

import datetime as dt
import functools
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError

from minemap.db import migrate
from minemap.db.cluster import Cluster
from minemap.db.engine import make_engine, transaction
from minemap.errors import MinemapError
from minemap.settings import Settings
from minemap.vocab import Role

app = typer.Typer(help="minemap: landmine contamination and land release.", no_args_is_help=True)
db_app = typer.Typer(help="The database: private cluster and migrations.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")

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
    if workers > 1:
        uvicorn.run("minemap.app:create_app", factory=True, host=host, port=port, workers=workers)
    else:
        from minemap.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port)


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
    """Apply the migrations up to REVISION (default: the newest)."""
    migrate.upgrade(make_engine(settings_of(ctx)), revision)
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


districts_app = typer.Typer(help="The administrative units reports are split by.",
                            no_args_is_help=True)
app.add_typer(districts_app, name="districts")


@districts_app.command("load")
@reports_errors
def districts_load(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(
        help="Units in any format and CRS pyogrio reads (GeoJSON, GeoPackage, zipped "
             "Shapefile...); default: the bundled Azerbaijan units.")] = None,
    name_field: Annotated[str, typer.Option(help="The property holding the unit's name.")] = "name",
    code_field: Annotated[str, typer.Option(
        help="The property holding its short code (used in hazard codes); default: the "
             "ISO 3166-2 code's suffix.")] = "code",
    iso_field: Annotated[str, typer.Option(
        help="The property holding its ISO 3166-2 code.")] = "iso_3166_2",
) -> None:
    """Load (or reload) the districts; hazards and releases stay, reports follow the new units.

    geoBoundaries files, for example: --name-field shapeName --iso-field shapeISO
    --code-field shapeID.
    """
    from minemap import accounting
    from minemap.store import districts

    if file is not None and not file.is_file():
        raise MinemapError(f"{file} is not a file")
    fields = districts.Fields(name=name_field, code=code_field, iso=iso_field)
    with transaction(make_engine(settings_of(ctx))) as conn:
        loaded = districts.load(conn, file, fields=fields)
        cells = accounting.refresh(conn)
    for repair in loaded.repaired:
        out.print(f"  unit {repair.index}: {repair.reason}", highlight=False, soft_wrap=True)
    removed = f"; {len(loaded.removed)} removed ({', '.join(loaded.removed)})" \
        if loaded.removed else ""
    out.print(f"{loaded.units} districts loaded{removed}; accounting refreshed in {cells:,} "
              "grid cells", highlight=False)


@app.command("load-sample")
@reports_errors
def load_sample(
    ctx: typer.Context,
    if_empty: Annotated[bool, typer.Option(help="Only into a database with no records yet.")] = False,
) -> None:
    """Load the districts and the synthetic sample hazards and releases (idempotent)."""
    from minemap import sample

    with transaction(make_engine(settings_of(ctx))) as conn:
        loaded = sample.load(conn, if_empty=if_empty)
    out.print(
        f"{loaded.districts} districts; {loaded.hazards} new hazards, "
        f"{loaded.releases} new releases"
    )


@token_app.command("create")
@reports_errors
def token_create(
    ctx: typer.Context,
    org: Annotated[str, typer.Option(help="Organisation (created if new).")],
    role: Annotated[Role, typer.Option(help="admin, reviewer, operator or viewer.")],
    name: Annotated[str | None, typer.Option(help="A label for the token.")] = None,
) -> None:
    """Print a new API token; only its hash is stored, so it cannot be shown again."""
    from minemap.store import tokens

    with transaction(make_engine(settings_of(ctx))) as conn:
        token_id, token = tokens.create(conn, organisation=org, role=role, name=name)
    err.print(f"token {token_id} ({role.value} of {org}); keep it, it is shown only once:")
    print(token)


@token_app.command("revoke")
@reports_errors
def token_revoke(ctx: typer.Context, token_id: int) -> None:
    """Revoke token TOKEN_ID: it stops working at once."""
    from minemap.store import tokens

    with transaction(make_engine(settings_of(ctx))) as conn:
        tokens.revoke(conn, token_id)
    out.print(f"token {token_id} revoked")


class Decision(str, Enum):
    approve = "approve"
    reject = "reject"


class ReviewKind(str, Enum):
    hazards = "hazards"
    releases = "releases"
    import_ = "import"


@app.command()
@reports_errors
def review(
    ctx: typer.Context,
    kind: Annotated[ReviewKind, typer.Argument(help="hazards, releases, or import (every "
                                                    "record of one import at once).")],
    record_id: Annotated[int, typer.Argument(help="The record's id, or the import's.")],
    decision: Annotated[Decision, typer.Argument(help="approve or reject.")],
    reason: Annotated[str | None, typer.Option(help="Why; required to reject.")] = None,
    token: Annotated[str | None, typer.Option(
        envvar="MINEMAP_TOKEN", help="Decide as this admin or reviewer token; by default the "
                                     "history names the CLI actor, cli:<os user>.")] = None,
) -> None:
    """Approve or reject a submitted hazard or release, or a whole import, as POST .../review."""
    import getpass

    from minemap import accounting
    from minemap.errors import Unauthorized
    from minemap.store import hazards, records, releases, tokens
    from minemap.store import imports as recorded

    with transaction(make_engine(settings_of(ctx))) as conn:
        # Whoever can run this command can reach the database, so acts with an admin's rights.
        actor = (tokens.authenticate(conn, token) if token else
                 tokens.Principal(None, f"cli:{getpass.getuser()}", Role.admin, None, None))
        if actor is None:
            raise Unauthorized("the token is unknown or revoked")
        records.authorise_review(actor)
        if kind is ReviewKind.import_:
            done = recorded.review(conn, record_id, decision=decision.value, reason=reason,
                                   actor=actor)
            accounting.refresh(conn)
            decided = {"approve": "approved", "reject": "rejected"}[decision.value]
            out.print(f"import {record_id}: {done['decided']:,} records {decided} by "
                      f"{actor.name}; {len(done['skipped']):,} skipped", highlight=False)
            for skip in done["skipped"]:
                out.print(f"  {skip['kind']} {skip['id']} ({skip['code']}): {skip['reason']}",
                          highlight=False, soft_wrap=True)
            return
        target = {"hazards": hazards.KIND, "releases": releases.KIND}[kind.value]
        current = records.get(conn, target, record_id, lock=True, reader=actor)
        records.review(conn, target, current, decision=decision.value, reason=reason,
                       actor=actor)
        accounting.refresh(conn)
        done = records.get(conn, target, record_id)["properties"]
    out.print(f"{target.entity} {record_id} ({done['code']}) {done['review']} by {actor.name}, "
              f"now version {done['version']}", highlight=False)


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


report_app = typer.Typer(help="Planners' reports.", no_args_is_help=True)
app.add_typer(report_app, name="report")


class ReportFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


@report_app.command("districts")
@reports_errors
def report_districts(
    ctx: typer.Context,
    as_of: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"],
                                                      help="Report date (default today).")] = None,
    format: Annotated[ReportFormat, typer.Option(help="table, csv or json.")] = ReportFormat.table,
) -> None:
    """Print mapped, released and remaining land per district, and the national total."""
    from minemap import accounting
    from minemap.reports import district_table, to_csv

    settings = settings_of(ctx)
    day = as_of.date() if as_of else dt.date.today()
    baseline = dict(baseline_km2=settings.baseline_km2, baseline_date=settings.baseline_date)
    with transaction(make_engine(settings)) as conn:
        rows = accounting.districts(conn, as_of=day, **baseline)
        total = accounting.summary(conn, as_of=day, **baseline)
    if format is ReportFormat.json:
        print(json.dumps({"as_of": day, "districts": rows, "national": total}, default=str, indent=2))
    elif format is ReportFormat.csv:
        print(to_csv(rows), end="")
    else:
        out.print(district_table(day, rows, total, out.width))


class ImportKind(str, Enum):
    hazards = "hazards"
    releases = "releases"


@app.command("import")
@reports_errors
def import_file(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="GeoJSON, zipped Shapefile, GeoPackage, KML/KMZ, "
                                              "FlatGeobuf or CSV with a WKT column.")],
    kind: Annotated[ImportKind, typer.Option(help="hazards or releases.")],
    org: Annotated[str, typer.Option(help="Organisation of the features not naming one "
                                          "(created if new).")],
    layer: Annotated[str | None, typer.Option(help="The layer, in a file of several.")] = None,
    crs: Annotated[str | None, typer.Option(help="The file's CRS when it has none, e.g. "
                                                 "EPSG:32638.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run",
                                          help="Check everything; store nothing.")] = False,
) -> None:
    """Import a field file: every feature, or none if any is rejected (as POST /api/v1/imports)."""
    import getpass

    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from minemap import imports
    from minemap.errors import InvalidInput, Problem
    from minemap.store.tokens import Principal

    if not file.is_file():
        raise InvalidInput(f"{file} is not a file")
    # Whoever can reach the database can do anything: the command acts as an admin.
    actor = Principal(None, f"cli:{getpass.getuser()}", Role.admin, None, None)
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description:<10}"), BarColumn(),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task("reading", total=len(imports.STAGES))

            def step(stage: str) -> None:
                bar.update(task, description=stage, completed=imports.STAGES.index(stage))

            with transaction(make_engine(settings_of(ctx))) as conn:
                report = imports.run(conn, file, kind=kind.value, actor=actor, organisation=org,
                                     dry_run=dry_run, crs=crs, layer=layer, progress=step,
                                     border_m=settings_of(ctx).border_tolerance_m)
    except InvalidInput as exc:
        report = exc.extra or {"features_read": None}
        report["rejected"] = [p.as_dict() for p in exc.problems or
                              [Problem(None, "invalid_input", exc.detail)]]
        print_import(file.name, report)
        err.print(f"[red]rejected:[/red] {exc.detail}", highlight=False, soft_wrap=True)
        sys.exit(1)
    print_import(file.name, report)


def print_import(name: str, report: dict, shown: int = 200) -> None:
    """Print an import's report: what was read, the rejected features, the warnings, the counts."""
    if report.get("format"):
        out.print(f"{name}: {report['features_read']:,} features read ({report['format']}, layer "
                  f"{report['layer']}, {report['source_crs']})", highlight=False)
    for title, problems in (("Rejected", report.get("rejected", [])),
                            ("Warnings", report.get("warnings", []))):
        if not problems:
            continue
        table = Table(title=f"{title} ({len(problems):,})", title_justify="left")
        for column in ("feature", "code", "reason"):
            table.add_column(column, justify="right" if column == "feature" else "left")
        for problem in problems[:shown]:
            index = problem["index"]
            table.add_row("–" if index is None else str(index), problem["code"], problem["reason"])
        out.print(table)
        if len(problems) > shown:
            out.print(f"… and {len(problems) - shown:,} more", highlight=False)
    if report.get("rejected"):
        return
    what = report["kind"]
    if report["dry_run"]:
        out.print(f"dry run: all {report['accepted']:,} {what} would be imported; nothing stored")
    else:
        out.print(f"imported {len(report['created']):,} {what}", highlight=False)
