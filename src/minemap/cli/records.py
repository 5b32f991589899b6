"""Writing records: importing field files and reviewing submissions."""

import sys
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from minemap.cli.common import app, err, out, reports_errors, settings_of
from minemap.db.engine import make_engine, transaction
from minemap.kinds import Kind
from minemap.vocab import Role


class Decision(str, Enum):
    approve = "approve"
    reject = "reject"


# What a review decides on: one record of a kind, or every record of an import.
Reviewed = StrEnum("Reviewed", {**{kind.name: kind.value for kind in Kind}, "import_": "import"})


@app.command()
@reports_errors
def review(
    ctx: typer.Context,
    kind: Annotated[Reviewed, typer.Argument(help=f"{', '.join(Kind)}, or import (every "
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

    from minemap import write
    from minemap.errors import Unauthorized
    from minemap.kinds import KINDS
    from minemap.store import access, records, tokens

    with transaction(make_engine(settings_of(ctx))) as conn:
        # Whoever can run this command can reach the database, so acts with an admin's rights.
        actor = (tokens.authenticate(conn, token) if token else
                 tokens.Principal(None, f"cli:{getpass.getuser()}", Role.admin, None, None))
        if actor is None:
            raise Unauthorized("the token is unknown or revoked")
        access.authorise_review(actor)
        if kind is Reviewed.import_:
            done = write.review_import(conn, record_id, decision=decision.value, reason=reason,
                                       actor=actor)
            decided = {"approve": "approved", "reject": "rejected"}[decision.value]
            out.print(f"import {record_id}: {done['decided']:,} records {decided} by "
                      f"{actor.name}; {len(done['skipped']):,} skipped", highlight=False)
            for skip in done["skipped"]:
                out.print(f"  {skip['kind']} {skip['id']} ({skip['code']}): {skip['reason']}",
                          highlight=False, soft_wrap=True)
            return
        target = KINDS[kind.value]
        current = write.locked(conn, target, record_id, reader=actor)
        write.review(conn, target, current, decision=decision.value, reason=reason,
                     actor=actor)
        done = records.get(conn, target, record_id)["properties"]
    out.print(f"{target.entity} {record_id} ({done['code']}) {done['review']} by {actor.name}, "
              f"now version {done['version']}", highlight=False)


@app.command("import")
@reports_errors
def import_file(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="GeoJSON, zipped Shapefile, GeoPackage, KML/KMZ, "
                                              "FlatGeobuf or CSV with a WKT column.")],
    kind: Annotated[Kind, typer.Option(help="The kind of record the file holds.")],
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
