"""Loading what the records are counted in and by: districts, the sample, the accounting."""

from pathlib import Path
from typing import Annotated

import typer

from minemap.cli.common import app, out, reports_errors, settings_of
from minemap.db.engine import make_engine, transaction
from minemap.errors import MinemapError

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



accounting_app = typer.Typer(help="The accounting: the disjoint pieces reports sum.",
                             no_args_is_help=True)
app.add_typer(accounting_app, name="accounting")


@accounting_app.command("refresh")
@reports_errors
def accounting_refresh(ctx: typer.Context) -> None:
    """Recompute the grid cells written without minemap (SQL by hand), as writers do."""
    from minemap import accounting

    with transaction(make_engine(settings_of(ctx))) as conn:
        cells = accounting.refresh(conn)
    out.print(f"accounting refreshed in {cells:,} grid cells", highlight=False)


@accounting_app.command("rebuild")
@reports_errors
def accounting_rebuild(ctx: typer.Context) -> None:
    """Recompute every grid cell from the records."""
    from minemap import accounting

    with transaction(make_engine(settings_of(ctx))) as conn:
        cells = accounting.rebuild(conn)
    out.print(f"accounting rebuilt in {cells:,} grid cells", highlight=False)
